import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { referenceKernel } from '../../../format/ec/kernel.js';
import {
  MAX_DATA_BLOCKS,
  MAX_PARITY_BLOCKS,
  TooManyErasuresError,
  decodePlan,
  defaultKernel,
  encode,
  encodeInto,
  parityMatrix,
  reconstruct,
  reconstructInto,
  verifyParity,
} from '../../../format/ec/reed-solomon.js';
import { createSimdKernel } from '../../../format/ec/simd-kernel.js';
import { withSeed, type SeededRandom } from './seeded-random.js';

// ---------------------------------------------------------------------------------------------
// An independent model of the on-disk definition (docs/EC.md), sharing no code with format/ec:
// schoolbook GF(2^8) arithmetic and the parity formula written out directly.

function slowMultiply(a: number, b: number): number {
  let product = 0;
  for (let bit = 0; bit < 8; bit++) if (b & (1 << bit)) product ^= a << bit;
  for (let bit = 14; bit >= 8; bit--) if (product & (1 << bit)) product ^= 0x11d << (bit - 8);
  return product;
}

function slowInverse(a: number): number {
  for (let b = 1; b < 256; b++) if (slowMultiply(a, b) === 1) return b;
  throw new Error(`no inverse for ${a}`);
}

/** parity[p][i] = XOR_j  (1 / ((k + p) XOR j)) * data[j][i] */
function modelParity(k: number, m: number, data: readonly Uint8Array[]): Uint8Array[] {
  const length = data[0]!.length;
  return Array.from({ length: m }, (_, p) => {
    const parity = new Uint8Array(length);
    for (let j = 0; j < k; j++) {
      const coefficient = slowInverse((k + p) ^ j);
      for (let i = 0; i < length; i++) parity[i] ^= slowMultiply(coefficient, data[j]![i]!);
    }
    return parity;
  });
}

// ---------------------------------------------------------------------------------------------

const ALL_SHAPES: [number, number][] = [];
for (let k = 1; k <= MAX_DATA_BLOCKS; k++) for (let m = 1; m <= MAX_PARITY_BLOCKS; m++) ALL_SHAPES.push([k, m]);

/** Block lengths that exercise the SIMD kernel's tails: below, at and just past 16/32/64 and a page. */
const AWKWARD_LENGTHS = [1, 2, 15, 16, 17, 31, 33, 63, 64, 65, 255, 4095, 4096, 4097];

function randomStripe(random: SeededRandom, k: number, m: number, length: number): Uint8Array[] {
  const data = Array.from({ length: k }, () => random.bytes(length));
  return [...data, ...encode(k, m, data)];
}

/** Every subset of 0..n-1 with 1..maxSize elements, as ascending index lists. */
function subsetsUpTo(n: number, maxSize: number): number[][] {
  const result: number[][] = [];
  const extend = (start: number, chosen: number[]) => {
    if (chosen.length > 0) result.push([...chosen]);
    if (chosen.length === maxSize) return;
    for (let index = start; index < n; index++) extend(index + 1, [...chosen, index]);
  };
  extend(0, []);
  return result;
}

function assertBlocksEqual(actual: readonly (Uint8Array | null)[], expected: readonly Uint8Array[], context: string): void {
  assert.equal(actual.length, expected.length, context);
  expected.forEach((block, index) => {
    const got = actual[index];
    assert.ok(got instanceof Uint8Array, `${context}: block ${index} is missing`);
    if (!Buffer.from(got.buffer, got.byteOffset, got.length).equals(Buffer.from(block.buffer, block.byteOffset, block.length))) {
      assert.fail(`${context}: block ${index} differs`);
    }
  });
}

test('defines the parity matrix as 1 / ((k + p) XOR j) over GF(2^8) mod 0x11d', () => {
  assert.deepEqual([...parityMatrix(4, 2).elements], [71, 167, 122, 186, 167, 71, 186, 122]);
  for (const [k, m] of ALL_SHAPES) {
    const matrix = parityMatrix(k, m);
    for (let p = 0; p < m; p++) {
      for (let j = 0; j < k; j++) assert.equal(matrix.elements[p * k + j], slowInverse((k + p) ^ j), `${k}+${m} C[${p}][${j}]`);
    }
  }
});

test('encodes every supported shape exactly as the independent model of the on-disk definition', () => {
  // The fingerprint pins the bytes: if it changes, parity written by an earlier version no longer
  // decodes. Never update it without a format version bump.
  const fingerprint = createHash('sha256');
  for (const [k, m] of ALL_SHAPES) {
    const data = Array.from({ length: k }, (_, j) => Uint8Array.from({ length: 40 }, (_, i) => (j * 37 + i * 11 + 1) & 0xff));
    const expected = modelParity(k, m, data);
    for (const kernel of [referenceKernel, defaultKernel()]) {
      assertBlocksEqual(encode(k, m, data, { kernel }), expected, `${k}+${m} ${kernel.name}`);
    }
    for (const parity of expected) fingerprint.update(parity);
  }
  assert.equal(fingerprint.digest('hex'), '5c300687d294e4c266b5a6cf6bcb977263bbb626ea65fed21bf8bc96c63eee6a');
});

test('matches the worked example in docs/EC.md', () => {
  const data = [1, 2, 3, 4].map((byte) => Uint8Array.of(byte));
  assert.deepEqual(
    encode(4, 2, data).map((block) => block[0]),
    modelParity(4, 2, data).map((block) => block[0]),
  );
  assert.deepEqual(
    encode(4, 2, data).map((block) => block[0]),
    [0x48, 0x0f],
  );
});

test('keeps parity block p independent of m, so adding a parity block never rewrites the others', () => {
  const data = Array.from({ length: 7 }, (_, j) => Uint8Array.from({ length: 33 }, (_, i) => (i * 29 + j * 101) & 0xff));
  for (let m = 1; m < MAX_PARITY_BLOCKS; m++) {
    assertBlocksEqual(encode(7, m, data), encode(7, m + 1, data).slice(0, m), `7+${m} vs 7+${m + 1}`);
  }
});

test('inverts the survivors of every choice of m erased blocks, for every supported shape', () => {
  // MDS means every k of the k+m generator rows are independent. Erasing exactly m blocks covers
  // every k-subset of survivors; fewer erasures use a subset of some such choice.
  for (const [k, m] of ALL_SHAPES) {
    for (const erased of subsetsUpTo(k + m, m)) {
      if (erased.length !== m) continue;
      const plan = decodePlan(k, m, erased);
      assert.equal(plan.survivors.length, k);
      assert.deepEqual(plan.erased, erased);
    }
  }
});

test(
  'decodes every choice of up to m erased blocks for every supported shape',
  withSeed((random) => {
    for (const [k, m] of ALL_SHAPES) {
      const length = random.pick([1, 17, 33]);
      const stripe = randomStripe(random, k, m, length);
      for (const erased of subsetsUpTo(k + m, m)) {
        const blocks: (Uint8Array | null)[] = stripe.map((block, index) => (erased.includes(index) ? null : block));
        reconstruct(k, m, blocks);
        assertBlocksEqual(blocks, stripe, `${k}+${m}, ${length} bytes, erased ${erased.join(',')}`);
      }
    }
  }),
);

test(
  'decodes every choice of up to m erased blocks for random shapes',
  withSeed((random) => {
    const EXHAUSTIVE_LIMIT = 400;
    for (let trial = 0; trial < 60; trial++) {
      const k = random.int(1, MAX_DATA_BLOCKS);
      const m = random.int(1, MAX_PARITY_BLOCKS);
      const length = random.int(0, 2) === 0 ? random.int(1, 3000) : random.pick(AWKWARD_LENGTHS);
      const stripe = randomStripe(random, k, m, length);
      const every = subsetsUpTo(k + m, m);
      const choices =
        every.length <= EXHAUSTIVE_LIMIT ? every : Array.from({ length: EXHAUSTIVE_LIMIT }, () => random.subset(k + m, random.int(1, m)));
      for (const erased of choices) {
        const blocks: (Uint8Array | null)[] = stripe.map((block, index) => (erased.includes(index) ? null : block));
        reconstruct(k, m, blocks);
        assertBlocksEqual(blocks, stripe, `${k}+${m}, ${length} bytes, erased ${erased.join(',')}`);
      }
    }
  }),
);

test(
  'reconstructs in place into preallocated buffers, ignoring their previous contents',
  withSeed((random) => {
    for (let trial = 0; trial < 100; trial++) {
      const k = random.int(1, MAX_DATA_BLOCKS);
      const m = random.int(1, MAX_PARITY_BLOCKS);
      const length = random.pick(AWKWARD_LENGTHS);
      const stripe = randomStripe(random, k, m, length);
      const erased = random.subset(k + m, random.int(0, m));
      const blocks = stripe.map((block, index) => (erased.includes(index) ? random.bytes(length) : Uint8Array.from(block)));
      const kernel = random.int(0, 1) === 0 ? referenceKernel : defaultKernel();
      reconstructInto(k, m, blocks, erased, { kernel });
      assertBlocksEqual(blocks, stripe, `${k}+${m}, ${length} bytes, erased ${erased.join(',')}, ${kernel.name}`);
    }
  }),
);

test(
  'gives byte-identical results with the reference and SIMD kernels for encode and reconstruct',
  withSeed((random) => {
    const simd = createSimdKernel();
    if (simd === undefined) return; // covered by the simd-kernel tests' skip message
    for (let trial = 0; trial < 60; trial++) {
      const k = random.int(1, MAX_DATA_BLOCKS);
      const m = random.int(1, MAX_PARITY_BLOCKS);
      const length = random.int(0, 1) === 0 ? random.pick(AWKWARD_LENGTHS) : random.int(1, 40000);
      const data = Array.from({ length: k }, () => random.bytes(length));
      const parity = encode(k, m, data, { kernel: referenceKernel });
      assertBlocksEqual(encode(k, m, data, { kernel: simd }), parity, `encode ${k}+${m}, ${length} bytes`);

      const erased = random.subset(k + m, random.int(1, m));
      const viaReference: (Uint8Array | null)[] = [...data, ...parity].map((block, index) => (erased.includes(index) ? null : block));
      const viaSimd = [...viaReference];
      reconstruct(k, m, viaReference, { kernel: referenceKernel });
      reconstruct(k, m, viaSimd, { kernel: simd });
      assertBlocksEqual(viaSimd, viaReference as Uint8Array[], `reconstruct ${k}+${m}, ${length} bytes, erased ${erased.join(',')}`);
    }
  }),
);

test(
  'throws when more than m blocks are erased, leaving the blocks untouched',
  withSeed((random) => {
    for (let trial = 0; trial < 100; trial++) {
      const k = random.int(1, MAX_DATA_BLOCKS);
      const m = random.int(1, MAX_PARITY_BLOCKS);
      const stripe = randomStripe(random, k, m, random.pick(AWKWARD_LENGTHS));
      const erased = random.subset(k + m, random.int(m + 1, k + m));
      const blocks: (Uint8Array | null)[] = stripe.map((block, index) => (erased.includes(index) ? null : block));
      const before = [...blocks];
      assert.throws(() => reconstruct(k, m, blocks), (error: unknown) => {
        assert.ok(error instanceof TooManyErasuresError);
        assert.deepEqual(error.erased, erased);
        assert.equal(error.code, 'EC_TOO_MANY_ERASURES');
        assert.match(error.message, new RegExp(`${erased.length} blocks of the stripe are missing`));
        return true;
      });
      assert.deepEqual(blocks, before);
      assert.throws(() => reconstructInto(k, m, stripe, erased), TooManyErasuresError);
    }
  }),
);

test(
  'detects a single flipped bit in any block with verifyParity',
  withSeed((random) => {
    for (let trial = 0; trial < 40; trial++) {
      const k = random.int(1, MAX_DATA_BLOCKS);
      const m = random.int(1, MAX_PARITY_BLOCKS);
      const length = random.pick(AWKWARD_LENGTHS);
      const blocks = randomStripe(random, k, m, length);
      const kernel = random.int(0, 1) === 0 ? referenceKernel : defaultKernel();
      assert.equal(verifyParity(k, m, blocks, { kernel }), true, `${k}+${m} intact`);
      for (let index = 0; index < k + m; index++) {
        const byte = random.int(0, length - 1);
        const mask = 1 << random.int(0, 7);
        blocks[index]![byte] ^= mask;
        assert.equal(verifyParity(k, m, blocks, { kernel }), false, `${k}+${m}, block ${index} byte ${byte} mask ${mask}`);
        blocks[index]![byte] ^= mask;
      }
      assert.equal(verifyParity(k, m, blocks, { kernel }), true, `${k}+${m} restored`);
    }
  }),
);

test('rejects unsupported shapes with a RangeError naming the limit', () => {
  const block = new Uint8Array(4);
  for (const k of [0, 17, 1.5, Number.NaN, -1]) {
    assert.throws(() => encode(k, 2, [block]), { name: 'RangeError', message: /data block count k must be an integer in 1\.\.16/ });
  }
  for (const m of [0, 5, 2.5]) {
    assert.throws(() => encode(2, m, [block, block]), { name: 'RangeError', message: /parity block count m must be an integer in 1\.\.4/ });
    assert.throws(() => reconstruct(2, m, [block, block, null]), RangeError);
    assert.throws(() => verifyParity(2, m, [block, block, block]), RangeError);
  }
});

test('rejects mismatched block counts and lengths', () => {
  const four = new Uint8Array(4);
  assert.throws(() => encode(3, 1, [four, four]), { name: 'RangeError', message: /expected 3 data blocks/ });
  assert.throws(() => encode(2, 1, [four, new Uint8Array(5)]), { name: 'RangeError', message: /same length/ });
  assert.throws(() => encodeInto(2, 2, [four, four], [four]), RangeError);
  assert.throws(() => encodeInto(2, 1, [four, four], [new Uint8Array(3)]), /same length/);
  assert.throws(() => reconstruct(2, 1, [four, null]), { name: 'RangeError', message: /expected 3 blocks/ });
  assert.throws(() => reconstruct(2, 1, [four, new Uint8Array(2), null]), /same length/);
  assert.throws(() => reconstructInto(2, 1, [four, four, four], [3]), /outside 0\.\.2/);
});

test('handles zero-length blocks and stripes with nothing erased', () => {
  const empty = [new Uint8Array(0), new Uint8Array(0)];
  assert.deepEqual(encode(2, 2, empty), [new Uint8Array(0), new Uint8Array(0)]);
  const blocks: (Uint8Array | null)[] = [new Uint8Array(0), null, null, new Uint8Array(0)];
  reconstruct(2, 2, blocks);
  assert.deepEqual(blocks, [new Uint8Array(0), new Uint8Array(0), new Uint8Array(0), new Uint8Array(0)]);

  const stripe = [Uint8Array.of(1), Uint8Array.of(2), ...encode(2, 1, [Uint8Array.of(1), Uint8Array.of(2)])];
  const untouched = [...stripe];
  reconstruct(2, 1, stripe);
  assert.deepEqual(stripe, untouched);
});
