// Scrub: replica recovery. Every bad copy of a node or extent that still has a good
// copy is rewritten in place with the good copy's bytes, then, after a flush, read back and
// verified again. A copy whose place cannot take it (member missing, pointer outside the
// member, bytes shared with another copy, write error, or still bad after the rewrite) is
// returned for relocation (scrub-relocate.ts), which gives it a new place.
//
// Invariants: the source of a rewrite is re-read and re-verified just before use, so nothing
// is ever "repaired" from bad data; a target with no good copy is left untouched; nothing is
// written outside the bytes the copy's own pointer names.
import type { Image } from '../format/image.js';
import { MemberIOError } from '../format/io.js';
import { OperationalError } from '../format/errors.js';
import type { CopyRecord, ScrubTarget } from './scrub-plan.js';
import { checkCopy } from './scrub-read.js';
import { relocatable, type Relocation } from './scrub-relocate.js';
import { CSUM } from '../format/checksum.js';

/**
 * The stored bytes of an erasure-coded extent rebuilt from the other blocks of its stripe,
 * verified against the extent's checksum; undefined when they cannot be (too many blocks bad,
 * stripe key unreadable, or data without a checksum, which nothing could verify). The stripe
 * pass (scrub-stripes.ts) rebuilds whole blocks; this serves the copies it could not.
 */
export function rebuildFromStripe(img: Image, target: ScrubTarget): Buffer | undefined {
  if (target.kind !== 'extent' || !target.body.stripeId || target.body.checksumType === CSUM.none) return undefined;
  try {
    const stored = img.rebuildStoredFromStripe(target.body);
    return stored && checkCopy(img, target, stored) === undefined ? stored : undefined;
  } catch (err) {
    // Reconstruction failing for any reason means only that this source is not available.
    if (err instanceof Error) return undefined;
    throw err;
  }
}

/** A verified copy's bytes, re-read now (or rebuilt from its stripe); undefined when none verifies any more. */
export function readGoodCopy(img: Image, target: ScrubTarget): Buffer | undefined {
  for (const copy of target.copies) {
    if (copy.state !== 'good') continue;
    try {
      const bytes = img.layer.read(copy.member, copy.offset, copy.length);
      if (checkCopy(img, target, bytes) === undefined) return bytes;
    } catch (err) {
      if (!(err instanceof MemberIOError)) throw err;
    }
  }
  return rebuildFromStripe(img, target);
}

function writeFailure(err: unknown): string {
  if (err instanceof MemberIOError) return `write failed: ${err.reason}`;
  if (err instanceof OperationalError) return `write failed: ${err.message}`;
  throw err;
}

/** Rewritten bytes held for the read-back before it runs; bounds memory when a whole member is rewritten. */
const READ_BACK_BATCH_BYTES = 64 << 20;

interface Written {
  target: ScrubTarget;
  copy: CopyRecord;
  good: Buffer;
}

/**
 * Rewrite the bad copies of every target from a good copy; sets each bad copy's outcome, except
 * for those whose place cannot take them and that can be moved: those are returned, for
 * relocateCopies. Targets are taken in the order of their first bad copy's place, so a member
 * being refilled is written front to back.
 */
export function repairCopies(img: Image, targets: ScrubTarget[]): Relocation[] {
  const relocations: Relocation[] = [];
  const unrepaired = (target: ScrubTarget, copy: CopyRecord, why: string): void => {
    if (relocatable(img, target, copy)) relocations.push({ target, copy, why });
    else copy.outcome = { repaired: false, note: why };
  };
  // A copy inside a stripe block rewritten by the stripe repair already has its outcome.
  const toRepair = (c: CopyRecord) => c.state === 'bad' && !c.outcome;
  const firstBad = (t: ScrubTarget) => t.copies.find(toRepair)!;
  const damaged = targets.filter((t) => t.copies.some(toRepair));
  damaged.sort((a, b) => firstBad(a).member - firstBad(b).member || firstBad(a).offset - firstBad(b).offset);
  let batch: Written[] = [];
  let batchBytes = 0;
  for (const target of damaged) {
    const bad = target.copies.filter(toRepair);
    const good = readGoodCopy(img, target);
    if (!good) {
      for (const copy of bad) copy.outcome = { repaired: false, note: target.kind === 'extent' && target.body.stripeId ? 'no good copy, and its stripe cannot rebuild it' : 'no good copy to repair from' };
      continue;
    }
    for (const copy of bad) {
      if (copy.unwritable) unrepaired(target, copy, `cannot rewrite in place: ${copy.unwritable}`);
      else if (!img.layer.present(copy.member)) unrepaired(target, copy, 'cannot rewrite in place: member file is missing');
      else {
        try {
          img.layer.write(copy.member, copy.offset, good);
          batch.push({ target, copy, good });
          batchBytes += good.length;
        } catch (err) {
          unrepaired(target, copy, writeFailure(err));
        }
      }
    }
    if (batchBytes >= READ_BACK_BATCH_BYTES) {
      flushAndReadBack(img, batch, unrepaired);
      batch = [];
      batchBytes = 0;
    }
  }
  flushAndReadBack(img, batch, unrepaired);
  return relocations;
}

/** Flush every member written to, then read each rewritten copy back and verify it again. */
function flushAndReadBack(img: Image, written: Written[], unrepaired: (target: ScrubTarget, copy: CopyRecord, why: string) => void): void {
  const flushFailed = new Map<number, string>();
  for (const member of new Set(written.map((w) => w.copy.member))) {
    try {
      img.layer.flush(member);
    } catch (err) {
      flushFailed.set(member, `flush failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  for (const { target, copy, good } of written) {
    const failed = flushFailed.get(copy.member);
    if (failed) {
      unrepaired(target, copy, failed);
      continue;
    }
    let reason: string | undefined;
    try {
      const back = img.layer.read(copy.member, copy.offset, copy.length);
      // Equality with what was written also covers data stored without a checksum.
      reason = back.equals(good) ? checkCopy(img, target, back) : 'bytes differ from what was written';
    } catch (err) {
      if (!(err instanceof MemberIOError)) throw err;
      reason = `unreadable: ${err.reason}`;
    }
    if (reason === undefined) copy.outcome = { repaired: true, note: target.copies.some((c) => c.state === 'good') ? 'rewritten in place from a good copy' : 'rebuilt from its stripe and rewritten in place' };
    else unrepaired(target, copy, `read back still bad after rewriting in place: ${reason}`);
  }
}
