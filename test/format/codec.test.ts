import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FieldRangeError, struct } from '../../format/codec.js';
import { InodeValue } from '../../format/layout.js';
import { comparePos, nameHash, ops, posSuccessor, POS_MAX, checkKey } from '../../format/keys.js';

test('a structure decodes what it encoded, field for field', () => {
  const v = InodeValue.zero();
  Object.assign(v, { mode: 0o100644, uid: 1000, size: 2 ** 52 + 3, mtime_sec: -5, mtime_nsec: 999_999_999, parent: 7 });
  assert.deepEqual(InodeValue.decode(InodeValue.encode(v)), v);
});

test('a 64-bit field above 2^53 is a range error naming the field', () => {
  const s = struct('t', 'test', [{ name: 'big', kind: 'u64', doc: 'x' }] as const);
  const buf = Buffer.alloc(8, 0xff);
  assert.throws(() => s.decode(buf), (e: unknown) => e instanceof FieldRangeError && e.field === 'big');
});

test('decoding past the end of a buffer is a range error, not a crash', () => {
  assert.throws(() => InodeValue.decode(Buffer.alloc(10)), FieldRangeError);
});

test('positions compare inode first, then offset, then snapshot', () => {
  assert.ok(comparePos({ inode: 1, offset: 9, snapshot: 9 }, { inode: 2, offset: 0, snapshot: 0 }) < 0);
  assert.ok(comparePos({ inode: 1, offset: 2, snapshot: 0 }, { inode: 1, offset: 1, snapshot: 5 }) > 0);
  assert.ok(comparePos(posSuccessor({ inode: 1, offset: 1, snapshot: 0xffffffff }), { inode: 1, offset: 2, snapshot: 0 }) === 0);
  assert.ok(comparePos(POS_MAX, { inode: 2 ** 53 - 1, offset: 0, snapshot: 0 }) > 0);
});

test('name hashes are 52-bit, never 0 or 1, and spread', () => {
  const seen = new Set<number>();
  for (let i = 0; i < 20000; i++) {
    const h = nameHash(Buffer.from(`file-${i}`));
    assert.ok(h >= 2 && h < 2 ** 52 && Number.isSafeInteger(h));
    seen.add(h);
  }
  assert.equal(seen.size, 20000);
});

test('a dirent named ".." or containing "/" fails validation', () => {
  for (const name of ['..', 'a/b', '.']) {
    const value = ops.dirent.encode({ target: 5, dType: 8, name: Buffer.from(name) });
    assert.ok(checkKey({ inode: 1, offset: 10, snapshot: 0, type: 2, value }));
  }
});

test('an extent whose live range leaves its chunk fails validation', () => {
  const value = ops.extent.encode({ liveSize: 10, chunkOffset: 4090, uncompressedSize: 4096, storedSize: 4096, checksum: 0n, checksumType: 1, compression: 0, stripeId: 0, stripeBlock: 0, pointers: [{ member: 0, generation: 0, offset: 262144 }] });
  assert.match(checkKey({ inode: 5, offset: 4096, snapshot: 0, type: 4, value })!, /outside chunk/);
});
