// The in-place value readers fsck uses on every key must accept exactly the values the full
// decoders accept, and read the same fields from them: a reader that took a value its decoder
// rejects would let a damaged key past every check. Each case mutates bytes of a valid value
// (sizes, ranged high words, counts) and compares the two.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { allocValueDecodes, decodeExtentBody, direntProblem, DirentFields, encodeExtentBody, ExtentFields, InodeFields, nameHash, nameHashOf, ops } from '../../format/keys.js';
import { AllocValue, DirentValue, ExtentValue, InodeValue, Pointer } from '../../format/layout.js';
import { SeededRandom } from '../helpers/corpus.js';

/** `base` with a few bytes (most often high words of 64-bit fields) set to random values, sometimes cut or grown. */
function mutate(rng: SeededRandom, base: Buffer, hot: number[]): Buffer {
  let v = Buffer.from(base);
  const edits = 1 + (rng.uint32() % 3);
  for (let e = 0; e < edits; e++) {
    const at = rng.uint32() % 2 ? hot[rng.uint32() % hot.length]! : rng.uint32() % v.length;
    if (at < v.length) v[at] = rng.uint32() % 4 === 0 ? 0 : rng.uint32() & 0xff;
  }
  const size = rng.uint32() % 8;
  if (size === 0) v = v.subarray(0, rng.uint32() % v.length);
  else if (size === 1) v = Buffer.concat([v, Buffer.alloc(1 + (rng.uint32() % 20))]);
  // Read from inside a larger buffer, as from a node.
  return Buffer.concat([Buffer.alloc(5), v, Buffer.alloc(3)]).subarray(5, 5 + v.length);
}

function decodes(run: () => unknown): unknown {
  try {
    return run();
  } catch {
    return undefined;
  }
}

const highWords = (s: { fields: readonly { kind: string; offset: number }[] }, base = 0) =>
  s.fields.filter((f) => f.kind === 'u64' || f.kind === 'i64').flatMap((f) => [base + f.offset + 7, base + f.offset + 6, base + f.offset + 4]);

test('InodeFields reads exactly the inode values ops.inode.decode decodes, with the same fields', () => {
  const rng = new SeededRandom(11);
  const base = InodeValue.encode({ ...InodeValue.zero(), mode: 0o100644, nlink: 1, size: 2 ** 40, mtime_sec: -7, parent: 3, flags: 0 });
  const fields = new InodeFields();
  const outcomes = [0, 0];
  for (let i = 0; i < 3000; i++) {
    const v = mutate(rng, base, highWords(InodeValue));
    const full = decodes(() => ops.inode.decode(Buffer.from(v))) as Record<string, number> | undefined;
    const read = fields.read(Buffer.from(v.buffer), v.byteOffset, v.byteOffset + v.length);
    assert.equal(read, full !== undefined, v.toString('hex'));
    outcomes[read ? 1 : 0]++;
    if (full) for (const name of ['mode', 'nlink', 'size', 'parent', 'flags', 'atime_nsec', 'mtime_nsec', 'ctime_nsec', 'rdev_major', 'rdev_minor'] as const) assert.equal(fields[name], full[name], name);
  }
  assert.ok(outcomes[0]! > 300 && outcomes[1]! > 300, `accepted ${outcomes[1]}, rejected ${outcomes[0]}`);
  // The edges of the i64 range, which the high word alone does not decide.
  const at = InodeValue.field('ctime_sec').offset;
  for (const t of [-(2n ** 53n), -(2n ** 53n) + 1n, 2n ** 53n - 1n, 2n ** 53n, -(2n ** 53n) - 1n]) {
    const v = Buffer.from(base);
    v.writeBigInt64LE(t, at);
    assert.equal(fields.read(v, 0, v.length), decodes(() => ops.inode.decode(v)) !== undefined, String(t));
  }
});

test('ExtentFields reads exactly the extent values decodeExtentBody decodes, with the same fields', () => {
  const rng = new SeededRandom(12);
  const base = encodeExtentBody({
    liveSize: 4096, chunkOffset: 0, uncompressedSize: 8192, storedSize: 8192, checksum: 5n, checksumType: 1, compression: 0, stripeId: 0, stripeBlock: 0,
    pointers: [{ member: 0, generation: 3, offset: 2 ** 30 }, { member: 1, generation: 4, offset: 2 ** 31 }],
  });
  const hot = [...highWords(ExtentValue), ...highWords(Pointer, ExtentValue.size), ...highWords(Pointer, ExtentValue.size + Pointer.size), ExtentValue.field('pointer_count').offset, ExtentValue.field('stored_size').offset + 2, ExtentValue.field('uncompressed_size').offset + 2];
  const fields = new ExtentFields();
  const outcomes = [0, 0];
  for (let i = 0; i < 3000; i++) {
    const v = mutate(rng, base, hot);
    const full = decodes(() => decodeExtentBody(Buffer.from(v)));
    const read = fields.read(Buffer.from(v.buffer), v.byteOffset, v.byteOffset + v.length);
    assert.equal(read, full !== undefined, v.toString('hex'));
    outcomes[read ? 1 : 0]++;
    if (!full) continue;
    const body = decodeExtentBody(Buffer.from(v));
    for (const name of ['liveSize', 'chunkOffset', 'uncompressedSize', 'storedSize', 'checksumType', 'compression', 'stripeId', 'stripeBlock'] as const) assert.equal(fields[name], body[name], name);
    assert.equal(fields.pointerCount, body.pointers.length);
    body.pointers.forEach((p, j) => assert.deepEqual([fields.member[j], fields.generation[j], fields.offset[j]], [p.member, p.generation, p.offset]));
    assert.equal(fields.membersDistinct(), new Set(body.pointers.map((p) => p.member)).size === body.pointers.length);
  }
  assert.ok(outcomes[0]! > 300 && outcomes[1]! > 300, `accepted ${outcomes[1]}, rejected ${outcomes[0]}`);
});

test('DirentFields reads exactly the dirent values ops.dirent.decode decodes; its name validates and hashes in place as the decoded name does', () => {
  const rng = new SeededRandom(13);
  const base = ops.dirent.encode({ target: 77, dType: 8, name: Buffer.from('a-name.txt') });
  const hot = [...highWords(DirentValue), DirentValue.field('name_length').offset, DirentValue.size, DirentValue.size + 1];
  const fields = new DirentFields();
  const outcomes = [0, 0];
  for (let i = 0; i < 3000; i++) {
    const v = mutate(rng, base, hot);
    const full = decodes(() => ops.dirent.decode(Buffer.from(v))) as ReturnType<typeof ops.dirent.decode> | undefined;
    const bytes = Buffer.from(v.buffer);
    const read = fields.read(bytes, v.byteOffset, v.byteOffset + v.length);
    assert.equal(read, full !== undefined, v.toString('hex'));
    outcomes[read ? 1 : 0]++;
    if (!full) continue;
    assert.deepEqual([fields.target, fields.dType], [full.target, full.dType]);
    const snapshot = i % 7 === 0 ? 1 : 0;
    assert.equal(direntProblem(snapshot, fields.target, bytes, fields.nameAt, fields.nameEnd), ops.dirent.validate({ inode: 1, offset: 2, snapshot }, full));
    assert.equal(nameHashOf(bytes, fields.nameAt, fields.nameEnd), nameHash(full.name));
  }
  assert.ok(outcomes[0]! > 300 && outcomes[1]! > 300, `accepted ${outcomes[1]}, rejected ${outcomes[0]}`);
});

test('allocValueDecodes says exactly whether ops.alloc.decode decodes an alloc value', () => {
  const rng = new SeededRandom(14);
  const base = ops.alloc.encode({ generation: 3, dataType: 4, usedBytes: 4096, stripeId: 9 });
  const outcomes = [0, 0];
  for (let i = 0; i < 2000; i++) {
    const v = mutate(rng, base, highWords(AllocValue));
    const decoded = decodes(() => ops.alloc.decode(Buffer.from(v))) !== undefined;
    assert.equal(allocValueDecodes(Buffer.from(v.buffer), v.byteOffset, v.byteOffset + v.length), decoded, v.toString('hex'));
    outcomes[decoded ? 1 : 0]++;
  }
  assert.ok(outcomes[0]! > 200 && outcomes[1]! > 200, `accepted ${outcomes[1]}, rejected ${outcomes[0]}`);
});
