// The journal ring scan (format/journal.ts scanRing) over an in-memory member: it reads the ring
// a window at a time, yet finds entries that cross a window's end, entries as long as several
// windows, and reports an entry whose claimed length runs past the ring.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadChecksummer } from '../../format/checksum.js';
import type { BlockLayer } from '../../format/io.js';
import { encodeEntry, scanRing, type JournalEntry } from '../../format/journal.js';
import { JournalEntryHeader, KEY_TYPE } from '../../format/layout.js';
import type { FsInfo } from '../../format/superblock.js';

const BLOCK = 4096;
const BUCKET = 256 * 1024;
const JOURNAL_BUCKET = 1;
const JOURNAL_BUCKETS = 16; // a 4 MiB ring: four windows
const UUID = Buffer.from('00112233445566778899aabbccddeeff', 'hex');

/** One member held in memory, recording the length of every read. */
function memoryLayer(bytes: Buffer): BlockLayer & { reads: number[] } {
  const reads: number[] = [];
  const fail = () => {
    throw new Error('not used here');
  };
  return {
    reads, memberCount: 1, present: () => true, size: () => bytes.length,
    read(_m, offset, length) {
      reads.push(length);
      if (offset + length > bytes.length) throw new Error(`short read at ${offset}`);
      return Buffer.from(bytes.subarray(offset, offset + length));
    },
    readInto: fail, readIntoAsync: fail, write: fail, flush: () => undefined, mark: () => undefined, resize: fail, close: () => undefined,
  };
}

function fsInfo(): FsInfo {
  return {
    fsUuid: UUID, blockSize: BLOCK, bucketSize: BUCKET,
    members: [{ uuid: UUID, size: (JOURNAL_BUCKET + JOURNAL_BUCKETS + 1) * BUCKET + 65536, bucketCount: JOURNAL_BUCKETS + 2, journalBucket: JOURNAL_BUCKET, journalBuckets: JOURNAL_BUCKETS, state: 0 }],
  } as unknown as FsInfo;
}

/** An entry of `items` dirent-sized keys, so its length can be chosen. */
function entry(seq: number, items: number): JournalEntry {
  return {
    seq, lastSeq: 1, nextInode: 100, nextReflink: 1, nextStripe: 1,
    items: Array.from({ length: items }, (_, i) => ({ btreeId: 1, key: { inode: 2, offset: seq * 100_000 + i, snapshot: 0, type: KEY_TYPE.dirent, value: Buffer.alloc(200, seq) } })),
  };
}

test('the ring scan reads a window at a time and still finds entries across and beyond window ends', async () => {
  const checksums = await loadChecksummer();
  const member = Buffer.alloc((JOURNAL_BUCKET + JOURNAL_BUCKETS + 1) * BUCKET);
  const ringStart = JOURNAL_BUCKET * BUCKET;
  const magic = UUID.subarray(0, 8);
  // Small entries up to just before 1 MiB, one that crosses it, one 1.5 MiB long, then one more.
  const placed: Array<{ seq: number; at: number }> = [];
  let at = 0;
  let seq = 1;
  const put = (items: number) => {
    const e = encodeEntry(entry(seq, items), BLOCK, 1, magic, checksums);
    e.copy(member, ringStart + at);
    placed.push({ seq, at });
    at += e.length;
    seq++;
  };
  while (at < (1 << 20) - 2 * BLOCK) put(1);
  put(60); // about 14 KiB, across the first window's end
  put(6600); // about 1.5 MiB, longer than a window
  put(1);
  const layer = memoryLayer(member);
  const scan = scanRing(layer, fsInfo(), 0, checksums);
  assert.equal(scan.readError, undefined);
  assert.deepEqual(scan.invalid, []);
  assert.deepEqual(scan.entries.map((e) => ({ seq: e.seq, at: e.position })), placed);
  assert.equal(scan.entries.at(-2)!.items.length, 6600);
  // Nothing read the 4 MiB ring at once; only the long entry needed more than a window.
  assert.ok(Math.max(...layer.reads) < 2 << 20, `largest read ${Math.max(...layer.reads)} bytes`);
});

test('an entry claiming a length past the ring is reported as out of bounds, and the scan goes on', async () => {
  const checksums = await loadChecksummer();
  const member = Buffer.alloc((JOURNAL_BUCKET + JOURNAL_BUCKETS + 1) * BUCKET);
  const ringStart = JOURNAL_BUCKET * BUCKET;
  const magic = UUID.subarray(0, 8);
  const bad = encodeEntry(entry(1, 1), BLOCK, 1, magic, checksums);
  bad.writeUInt32LE(JOURNAL_BUCKETS * BUCKET + BLOCK, JournalEntryHeader.field('length').offset);
  bad.copy(member, ringStart);
  encodeEntry(entry(2, 1), BLOCK, 1, magic, checksums).copy(member, ringStart + BLOCK);
  const scan = scanRing(memoryLayer(member), fsInfo(), 0, checksums);
  assert.deepEqual(scan.invalid.map((i) => i.position), [0]);
  assert.match(scan.invalid[0]!.error, /out of bounds/);
  assert.deepEqual(scan.entries.map((e) => e.seq), [2]);
});
