// Pass 2: journal.
// Checks: every member's journal ring can be read; the entries from the superblock's
// journal_seq on are consecutive (a missing sequence number ends replay: later entries are
// lost transactions); an entry that has the journal magic but fails to decode is either the
// torn tail of a crash (its seq is the first one not replayed and nothing follows it: it was
// never acknowledged, nothing is lost), a bad copy of an entry replayed from another member's
// copy, or damage (a lost transaction).
// Entries older than journal_seq are free ring space and are not looked at.
// Builds: how many entries the volume will replay, and the ring blocks to invalidate (the
// headers of torn and unreplayable entries): once the replay is checkpointed, new entries reuse
// their sequence numbers, and an old one left readable could be replayed into a later session.
import type { Image } from '../format/image.js';
import type { Volume } from '../format/volume.js';
import { JournalEntryHeader } from '../format/layout.js';
import { scanRing, type RingScan } from '../format/journal.js';
import { MemberIOError } from '../format/io.js';
import type { FsckContext } from './fsck-context.js';
import { P } from './problems.js';

export interface JournalPlan {
  /** entries the volume replays */
  replayed: number;
  /** ring blocks whose entry header must be zeroed: member and byte offset in the member */
  invalidate: Array<{ member: number; offset: number }>;
  /** every member's ring as scanned here: the volume replays from these instead of scanning again */
  scans?: RingScan[];
}

const SEQ_AT = JournalEntryHeader.field('seq').offset;

export function checkJournal(ctx: FsckContext, img: Image): JournalPlan {
  const fs = img.fs;
  const scans: RingScan[] = fs.members.map((_, i) => scanRing(img.layer, fs, i, img.checksums));
  const plan: JournalPlan = { replayed: 0, invalidate: [], scans };
  const ringStart = (member: number) => fs.members[member]!.journalBucket * fs.bucketSize;

  const seqs = new Set<number>();
  for (const s of scans) {
    if (s.readError) ctx.problem(P.JOURNAL_UNREADABLE, { member: s.member, reason: s.readError });
    for (const e of s.entries) if (e.seq >= fs.journalSeq) seqs.add(e.seq);
  }
  let stoppedAt = fs.journalSeq;
  while (seqs.has(stoppedAt)) stoppedAt++;
  plan.replayed = stoppedAt - fs.journalSeq;
  if (plan.replayed > 0) ctx.problem(P.JOURNAL_REPLAY, { entries: plan.replayed, from: fs.journalSeq, to: stoppedAt - 1 });

  const afterGap = [...seqs].filter((s) => s > stoppedAt).sort((a, b) => a - b);
  for (const s of scans) {
    for (const bad of s.invalid) {
      const offset = ringStart(s.member) + bad.position;
      const seq = rawSeq(img, s.member, offset);
      // Free ring space from before the last checkpoint: not part of the journal any more.
      if (seq !== undefined && seq < fs.journalSeq) continue;
      const where = { member: s.member, position: bad.position, seq: seq ?? -1, reason: bad.error };
      let fix: boolean;
      if (seq !== undefined && seq < stoppedAt) fix = ctx.problem(P.JOURNAL_COPY_BAD, where);
      // The entry a crash interrupted: nothing after it, so it was never acknowledged.
      else if (seq === stoppedAt && afterGap.length === 0) fix = ctx.problem(P.JOURNAL_TORN, where);
      else fix = ctx.problem(P.JOURNAL_ENTRY_BAD, where);
      if (fix) plan.invalidate.push({ member: s.member, offset });
    }
  }
  if (afterGap.length > 0 && ctx.problem(P.JOURNAL_GAP, { missing: stoppedAt, ignored: afterGap.length })) {
    for (const s of scans) for (const e of s.entries) if (e.seq > stoppedAt) plan.invalidate.push({ member: s.member, offset: ringStart(s.member) + e.position });
  }
  return plan;
}

/** The seq field of an entry header that failed to decode (untrusted; undefined when unreadable). */
function rawSeq(img: Image, member: number, offset: number): number | undefined {
  try {
    const seq = img.layer.read(member, offset + SEQ_AT, 8).readBigUInt64LE(0);
    return seq <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(seq) : undefined;
  } catch (err) {
    if (err instanceof MemberIOError) return undefined;
    throw err;
  }
}

/** Zero the first block of each invalidated entry: its magic goes, so no scan finds it again. */
export function applyJournalPlan(vol: Volume, plan: JournalPlan): void {
  if (plan.invalidate.length === 0) return;
  const zeros = Buffer.alloc(vol.fs.blockSize);
  for (const b of plan.invalidate) vol.layer.write(b.member, b.offset, zeros);
  vol.layer.flush();
}
