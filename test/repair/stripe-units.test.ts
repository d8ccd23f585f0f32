// The stripe pass of scrub on its own, over members held in memory: per-chunk location of
// damage, rebuild beyond m bad blocks when the damage is at different places, parity that
// disagrees with data although every chunk passes its checksum, chunks that cannot be rebuilt,
// unreadable chunks, and a missing member. The CLI-level cases are in stripe-scrub.test.ts.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { loadChecksummer, type Checksummer, CSUM } from '../../format/checksum.js';
import { encode } from '../../format/ec/reed-solomon.js';
import type { Image } from '../../format/image.js';
import { type BlockLayer, MemberIOError } from '../../format/io.js';
import type { Stripe } from '../../format/keys.js';
import { blockChecksums, STRIPE_ALGORITHM_RS_CAUCHY } from '../../format/stripe.js';
import type { StripeTarget } from '../../repair/scrub-plan.js';
import { repairStripes, verifyStripes } from '../../repair/scrub-stripes.js';
import { seededBytes } from '../helpers/corpus.js';

const K = 4;
const M = 2;
const BLOCK = 64 * 1024;
const CHUNK_BITS = 12;
const CHUNK = 1 << CHUNK_BITS;
/** Every block of the stripe is at this offset of its own member (member i holds block i). */
const AT = 3 * BLOCK;

/** Members as buffers; reads of a `failing` range throw EIO until the range is rewritten. */
class MemoryLayer implements BlockLayer {
  writes: Array<{ member: number; offset: number; length: number }> = [];
  constructor(readonly files: Array<Buffer | null>, readonly failing: Array<{ member: number; from: number; to: number }> = []) {}
  get memberCount(): number { return this.files.length; }
  present(member: number): boolean { return this.files[member] != null; }
  size(member: number): number { return this.files[member]?.length ?? 0; }
  read(member: number, offset: number, length: number): Buffer {
    const out = Buffer.alloc(length);
    this.readInto(member, offset, out);
    return out;
  }
  readInto(member: number, offset: number, target: Buffer): void {
    const file = this.files[member];
    if (!file) throw new MemberIOError(member, `m${member}`, offset, 'member is missing');
    if (offset + target.length > file.length) throw new MemberIOError(member, `m${member}`, file.length, 'short read');
    if (this.failing.some((f) => f.member === member && f.from < offset + target.length && offset < f.to)) throw new MemberIOError(member, `m${member}`, offset, 'EIO');
    file.copy(target, 0, offset, offset + target.length);
  }
  async readIntoAsync(member: number, offset: number, target: Buffer): Promise<void> {
    this.readInto(member, offset, target);
  }
  write(member: number, offset: number, data: Uint8Array): void {
    Buffer.from(data).copy(this.files[member]!, offset);
    this.writes.push({ member, offset, length: data.length });
    // A rewrite lands on good medium (a drive remaps the sector).
    for (let i = this.failing.length - 1; i >= 0; i--) {
      const f = this.failing[i]!;
      if (f.member === member && offset <= f.from && f.to <= offset + data.length) this.failing.splice(i, 1);
    }
  }
  flush(): void {}
  mark(): void {}
  resize(): void {}
  close(): void {}
}

let checksums: Checksummer;
before(async () => {
  checksums = await loadChecksummer();
});

interface Fixture {
  layer: MemoryLayer;
  img: Image;
  target: StripeTarget;
  /** every member as mkfs would have left it */
  pristine: Buffer[];
}

function fixture(): Fixture {
  const data = Array.from({ length: K }, (_, i) => seededBytes(7, `block-${i}`, BLOCK));
  const parity = encode(K, M, data).map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength));
  const blocks = [...data, ...parity];
  const stripe: Stripe = {
    algorithm: STRIPE_ALGORITHM_RS_CAUCHY, dataBlocks: K, parityBlocks: M, checksumType: CSUM.crc32c, checksumGranularityBits: CHUNK_BITS, blockSize: BLOCK,
    pointers: blocks.map((_, i) => ({ member: i, generation: 0, offset: AT })),
    checksums: blocks.map((b) => blockChecksums(b, CHUNK_BITS, CSUM.crc32c, checksums)),
  };
  const files = blocks.map((b) => {
    const file = Buffer.alloc(AT + BLOCK + BLOCK);
    b.copy(file, AT);
    return file;
  });
  const pristine = files.map((f) => Buffer.from(f));
  const layer = new MemoryLayer(files);
  const target: StripeTarget = {
    kind: 'stripe', id: 1, stripe, parity: 'unchecked', parityMismatchChunks: [], lostChunks: [],
    blocks: blocks.map((_, i) => ({ index: i, member: i, offset: AT, length: BLOCK, state: 'unread', badChunks: [] })),
    contents: Array.from({ length: K }, () => []),
  };
  // The stripe pass needs only the block layer and the checksums of an image.
  return { layer, img: { layer, checksums } as unknown as Image, target, pristine };
}

function damageChunk(f: Fixture, block: number, chunk: number): void {
  f.layer.files[block]![AT + chunk * CHUNK + 123]! ^= 0x5a;
}

test('a clean stripe: every chunk verifies and parity matches data', async () => {
  const f = fixture();
  assert.deepEqual(await verifyStripes(f.img, [f.target]), { interrupted: false });
  assert.ok(f.target.blocks.every((b) => b.state === 'good' && b.checked));
  assert.equal(f.target.parity, 'matches');
  repairStripes(f.img, [f.target]);
  assert.deepEqual(f.layer.writes, []);
});

test('damage is located per chunk: bad chunks in m+1 blocks at different places are all rebuilt, only they are written', async () => {
  const f = fixture();
  damageChunk(f, 0, 1);
  damageChunk(f, 2, 9);
  damageChunk(f, 5, 15);
  await verifyStripes(f.img, [f.target]);
  assert.deepEqual(f.target.blocks.map((b) => b.badChunks), [[1], [], [9], [], [], [15]]);
  assert.ok(f.target.blocks.filter((b) => b.state === 'bad').every((b) => b.rebuildable));
  assert.deepEqual(f.target.lostChunks, []);
  // Every chunk has a bad block but one: parity is checked where a block is to spare.
  assert.equal(f.target.parity, 'matches');
  repairStripes(f.img, [f.target]);
  assert.deepEqual(f.layer.writes, [
    { member: 0, offset: AT + CHUNK, length: CHUNK },
    { member: 2, offset: AT + 9 * CHUNK, length: CHUNK },
    { member: 5, offset: AT + 15 * CHUNK, length: CHUNK },
  ]);
  assert.deepEqual(f.target.blocks.filter((b) => b.outcome).map((b) => [b.index, b.outcome!.repaired]), [[0, true], [2, true], [5, true]]);
  f.layer.files.forEach((file, i) => assert.ok(file!.equals(f.pristine[i]!), `member ${i}`));
});

test('parity that disagrees with data where every chunk passes its checksum is reported, and nothing is written', async () => {
  const f = fixture();
  // Data changed together with its chunk checksum: the stripe key then describes blocks that
  // are not one code word (a writer bug, or a checksum collision). Nothing says which is wrong.
  damageChunk(f, 2, 5);
  f.target.stripe.checksums[2]![5] = checksums.compute(CSUM.crc32c, f.layer.files[2]!.subarray(AT + 5 * CHUNK, AT + 6 * CHUNK));
  await verifyStripes(f.img, [f.target]);
  assert.ok(f.target.blocks.every((b) => b.state === 'good'));
  assert.equal(f.target.parity, 'mismatch');
  assert.deepEqual(f.target.parityMismatchChunks, [5]);
  repairStripes(f.img, [f.target]);
  assert.deepEqual(f.layer.writes, []);
});

test('more than m blocks bad at one place: that chunk is lost and left alone; the rest is still rebuilt', async () => {
  const f = fixture();
  for (const block of [0, 1, 4]) damageChunk(f, block, 3);
  damageChunk(f, 1, 7);
  await verifyStripes(f.img, [f.target]);
  assert.deepEqual(f.target.lostChunks, [3]);
  assert.equal(f.target.blocks[1]!.rebuildable, false);
  repairStripes(f.img, [f.target]);
  assert.deepEqual(f.layer.writes, [{ member: 1, offset: AT + 7 * CHUNK, length: CHUNK }]);
  for (const block of [0, 1, 4]) {
    assert.equal(f.target.blocks[block]!.outcome?.repaired, false);
    assert.match(f.target.blocks[block]!.outcome!.note!, /1 chunk cannot be rebuilt: more than 2 blocks of the stripe are bad at the same place/);
  }
  assert.ok(f.layer.files[1]!.subarray(AT + 7 * CHUNK, AT + 8 * CHUNK).equals(f.pristine[1]!.subarray(AT + 7 * CHUNK, AT + 8 * CHUNK)));
});

test('an unreadable chunk is told apart from its readable neighbours, rebuilt and rewritten', async () => {
  const f = fixture();
  f.layer.failing.push({ member: 3, from: AT + 6 * CHUNK, to: AT + 7 * CHUNK });
  await verifyStripes(f.img, [f.target]);
  const block = f.target.blocks[3]!;
  assert.deepEqual(block.badChunks, [6]);
  assert.equal(block.reason, 'unreadable: EIO');
  repairStripes(f.img, [f.target]);
  assert.equal(block.outcome?.repaired, true);
  assert.deepEqual(f.layer.writes, [{ member: 3, offset: AT + 6 * CHUNK, length: CHUNK }]);
});

test('a missing member: its block is not in any file, rebuildable, but cannot be written', async () => {
  const f = fixture();
  f.layer.files[4] = null;
  await verifyStripes(f.img, [f.target]);
  const block = f.target.blocks[4]!;
  assert.deepEqual([block.state, block.notInFile, block.rebuildable, block.checked, block.badChunks.length], ['bad', true, true, false, BLOCK / CHUNK]);
  assert.equal(f.target.parity, 'matches');
  repairStripes(f.img, [f.target]);
  assert.deepEqual(block.outcome, { repaired: false, note: 'cannot rewrite in place: member file is missing' });
  assert.deepEqual(f.layer.writes, []);
});

test('an interrupted pass stops before reading', async () => {
  const f = fixture();
  const controller = new AbortController();
  controller.abort();
  assert.deepEqual(await verifyStripes(f.img, [f.target], { signal: controller.signal }), { interrupted: true });
  assert.ok(f.target.blocks.every((b) => b.state === 'unread'));
});
