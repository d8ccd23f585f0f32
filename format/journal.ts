// Journal entries: encoding, decoding and scanning a member's journal ring. An entry is a
// journal_entry header and its items (journal_item + key_header + value, 8-byte aligned),
// padded with zeros to block_size. The checksum covers [16, length), so a torn write of any
// part of an entry makes it invalid, and replay stops there.
import type { Checksummer } from './checksum.js';
import { FieldRangeError } from './codec.js';
import type { BlockLayer } from './io.js';
import { JOURNAL_MAGIC, JournalEntryHeader, JournalItemHeader, KeyHeader, BTREE_COUNT } from './layout.js';
import type { Key } from './keys.js';
import { pad8 } from './btree/node.js';
import type { FsInfo } from './superblock.js';

export interface JournalItem {
  btreeId: number;
  /** type `deleted` (0) removes the key at its position */
  key: Key;
}

export interface JournalEntry {
  seq: number;
  lastSeq: number;
  nextInode: number;
  nextReflink: number;
  nextStripe: number;
  items: JournalItem[];
}

export interface FoundEntry extends JournalEntry {
  member: number;
  /** byte offset of the entry within the ring */
  position: number;
  length: number;
}

export function entrySize(items: JournalItem[], blockSize: number): number {
  let n = JournalEntryHeader.size;
  for (const it of items) n += JournalItemHeader.size + KeyHeader.size + pad8(it.key.value.length);
  return Math.ceil(n / blockSize) * blockSize;
}

export function encodeEntry(e: JournalEntry, blockSize: number, checksumType: number, fsMagic: Buffer, checksums: Checksummer): Buffer {
  const length = entrySize(e.items, blockSize);
  const out = Buffer.alloc(length);
  let at = JournalEntryHeader.size;
  for (const it of e.items) {
    JournalItemHeader.encode({ btree_id: it.btreeId, reserved: Buffer.alloc(0) }, out, at);
    at += JournalItemHeader.size;
    const k = it.key;
    KeyHeader.encode({ inode: k.inode, offset: k.offset, snapshot: k.snapshot, type: k.type, flags: 0, value_size: k.value.length }, out, at);
    k.value.copy(out, at + KeyHeader.size);
    at += KeyHeader.size + pad8(k.value.length);
  }
  JournalEntryHeader.encode({
    magic: JOURNAL_MAGIC, checksum_type: checksumType, reserved: Buffer.alloc(0), checksum: 0n, fs_magic: fsMagic, seq: e.seq,
    last_seq: e.lastSeq, length, item_count: e.items.length, next_inode: e.nextInode, next_reflink: e.nextReflink, next_stripe: e.nextStripe,
  }, out);
  out.writeBigUInt64LE(checksums.compute(checksumType, out.subarray(16, length)), 8);
  return out;
}

/**
 * Decode the entry at `at` of `ring`, or return why there is none. Checks, in order: magic,
 * length bounds, checksum, filesystem, then every item within the entry.
 */
export function decodeEntry(ring: Buffer, at: number, fsMagic: Buffer, checksums: Checksummer): { entry: JournalEntry; length: number } | { error: string } {
  if (at + JournalEntryHeader.size > ring.length) return { error: 'no room for a header' };
  if (ring.readUInt32LE(at) !== JOURNAL_MAGIC) return { error: 'no entry' };
  const length = ring.readUInt32LE(at + JournalEntryHeader.field('length').offset);
  if (length < JournalEntryHeader.size || at + length > ring.length) return { error: `entry length ${length} out of bounds` };
  const type = ring[at + 4]!;
  if (type !== 1 && type !== 2) return { error: `unknown checksum type ${type}` };
  const stored = ring.readBigUInt64LE(at + 8);
  if (checksums.compute(type, ring.subarray(at + 16, at + length)) !== stored) return { error: 'checksum mismatch (torn or damaged entry)' };
  let h: ReturnType<typeof JournalEntryHeader.decode>;
  try {
    h = JournalEntryHeader.decode(ring, at);
  } catch (err) {
    if (err instanceof FieldRangeError) return { error: err.message };
    throw err;
  }
  if (!h.fs_magic.equals(fsMagic)) return { error: 'entry of another filesystem' };
  const items: JournalItem[] = [];
  let p = at + JournalEntryHeader.size;
  const end = at + length;
  if (h.item_count > (length - JournalEntryHeader.size) / (JournalItemHeader.size + KeyHeader.size)) return { error: `item count ${h.item_count} cannot fit` };
  for (let i = 0; i < h.item_count; i++) {
    if (p + JournalItemHeader.size + KeyHeader.size > end) return { error: `item ${i} runs past the entry` };
    const btreeId = ring[p]!;
    if (btreeId >= BTREE_COUNT) return { error: `item ${i} names btree ${btreeId}` };
    p += JournalItemHeader.size;
    let kh: ReturnType<typeof KeyHeader.decode>;
    try {
      kh = KeyHeader.decode(ring, p);
    } catch (err) {
      if (err instanceof FieldRangeError) return { error: `item ${i}: ${err.message}` };
      throw err;
    }
    const vEnd = p + KeyHeader.size + kh.value_size;
    if (vEnd > end) return { error: `item ${i} value runs past the entry` };
    items.push({ btreeId, key: { inode: kh.inode, offset: kh.offset, snapshot: kh.snapshot, type: kh.type as Key['type'], value: Buffer.from(ring.subarray(p + KeyHeader.size, vEnd)) } });
    p += KeyHeader.size + pad8(kh.value_size);
  }
  return { entry: { seq: h.seq, lastSeq: h.last_seq, nextInode: h.next_inode, nextReflink: h.next_reflink, nextStripe: h.next_stripe, items }, length };
}

export interface RingScan {
  member: number;
  entries: FoundEntry[];
  /** blocks that held something entry-like but failed to decode, for `dump journal` */
  invalid: Array<{ position: number; error: string }>;
  readError?: string;
}

/** Bytes of the ring read at a time: the scan's memory does not grow with the ring it is told of. */
const RING_WINDOW = 1 << 20;

/**
 * Every valid entry in one member's ring, in ring order. Never throws for damage. The ring is
 * read a window at a time; an entry that crosses the window's end is read whole, at the length
 * its header claims when that lies within the ring (an entry may be as long as the ring).
 */
export function scanRing(layer: BlockLayer, fs: FsInfo, member: number, checksums: Checksummer): RingScan {
  const info = fs.members[member]!;
  const scan: RingScan = { member, entries: [], invalid: [] };
  if (info.journalBuckets === 0 || !layer.present(member)) return scan;
  const base = info.journalBucket * fs.bucketSize;
  const ringLength = info.journalBuckets * fs.bucketSize;
  const lengthAt = JournalEntryHeader.field('length').offset;
  let window: Buffer = Buffer.alloc(0);
  let windowStart = 0;
  /** Make the window hold ring bytes [at, at + length), reading from `at` on. */
  const cover = (at: number, length: number): void => {
    if (at >= windowStart && at + length <= windowStart + window.length) return;
    window = layer.read(member, base + at, Math.min(Math.max(length, RING_WINDOW), ringLength - at));
    windowStart = at;
  };
  const fsMagic = fs.fsUuid.subarray(0, 8);
  try {
    for (let at = 0; at + fs.blockSize <= ringLength;) {
      cover(at, fs.blockSize);
      let rel = at - windowStart;
      if (window.readUInt32LE(rel) === JOURNAL_MAGIC) {
        const claimed = window.readUInt32LE(rel + lengthAt);
        if (claimed >= JournalEntryHeader.size && at + claimed <= ringLength) {
          cover(at, claimed);
          rel = at - windowStart;
        }
      }
      // A claimed length the window does not cover lies past the ring's end: out of bounds.
      const r = decodeEntry(window, rel, fsMagic, checksums);
      if ('entry' in r) {
        scan.entries.push({ ...r.entry, member, position: at, length: r.length });
        at += r.length;
      } else {
        if (r.error !== 'no entry') scan.invalid.push({ position: at, error: r.error });
        at += fs.blockSize;
      }
    }
  } catch (err) {
    scan.readError = err instanceof Error ? err.message : String(err);
  }
  return scan;
}

/**
 * Entries to replay: consecutive sequence numbers from `fromSeq` over all members' rings,
 * stopping at the first missing one. Also returns what was skipped, for reports.
 */
export function replayable(scans: RingScan[], fromSeq: number): { entries: JournalEntry[]; stoppedAt: number; ignoredAfterGap: number } {
  const bySeq = new Map<number, FoundEntry>();
  for (const s of scans) for (const e of s.entries) if (e.seq >= fromSeq && !bySeq.has(e.seq)) bySeq.set(e.seq, e);
  const entries: JournalEntry[] = [];
  let seq = fromSeq;
  while (bySeq.has(seq)) entries.push(bySeq.get(seq++)!);
  let ignoredAfterGap = 0;
  for (const s of bySeq.keys()) if (s > seq) ignoredAfterGap++;
  return { entries, stoppedAt: seq, ignoredAfterGap };
}
