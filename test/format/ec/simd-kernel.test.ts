import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { referenceKernel, type GfKernel } from '../../../format/ec/kernel.js';
import { defaultKernel } from '../../../format/ec/reed-solomon.js';
import { createSimdKernel, simdKernelModuleBytes, webAssemblySimdAvailable, type SwizzleInstruction } from '../../../format/ec/simd-kernel.js';
import { withSeed, type SeededRandom } from './seeded-random.js';

const SIMD_AVAILABLE = webAssemblySimdAvailable('swizzle');
const RELAXED_AVAILABLE = webAssemblySimdAvailable('relaxed-swizzle');

/**
 * A block of `length` bytes that is a view into a larger buffer at a random offset, so the
 * kernel sees unaligned subarrays as well as whole buffers.
 */
function randomView(random: SeededRandom, length: number): Uint8Array {
  const offset = random.int(0, 1) === 0 ? 0 : random.int(1, 31);
  return random.bytes(offset + length + random.int(0, 7)).subarray(offset, offset + length);
}

/**
 * Multiplies random coefficient matrices (zeros and ones included, more than four rows so the
 * kernel works in groups, lengths spanning several 16 KiB segments) with both kernels and
 * compares every byte, including that bytes past `length` are left alone.
 */
function compareWithReference(random: SeededRandom, simd: GfKernel, trials: number): void {
  for (let trial = 0; trial < trials; trial++) {
    const sourceCount = random.int(1, 20);
    const destinationCount = random.int(1, 9);
    const length = random.pick([0, 1, 15, 16, 17, 31, 32, 33, 63, 64, 65, 4097, 16384, 16385, 50001, random.int(1, 70000)]);
    const coefficients = Uint8Array.from({ length: sourceCount * destinationCount }, () => random.pick([0, 1, random.int(0, 255)]));
    const sources = Array.from({ length: sourceCount }, () => randomView(random, length + random.int(0, 3)));
    const expected = Array.from({ length: destinationCount }, () => new Uint8Array(length + 5));
    referenceKernel.multiplyBlocks(coefficients, sources, expected, length);
    // Start from garbage: the kernel overwrites the first `length` bytes and must not touch the rest.
    const actual = expected.map((block) => {
      const garbage = random.bytes(block.length);
      garbage.set(block.subarray(length), length);
      return garbage;
    });
    simd.multiplyBlocks(coefficients, sources, actual, length);
    actual.forEach((block, row) => {
      if (!Buffer.from(block).equals(Buffer.from(expected[row]!))) {
        const firstDifference = block.findIndex((byte, index) => byte !== expected[row]![index]);
        assert.fail(
          `${simd.name}: ${destinationCount}x${sourceCount} product over ${length} bytes differs from the reference in row ${row} at byte ${firstDifference}`,
        );
      }
    });
  }
}

test('validates the SIMD probe and the kernel module on this engine', () => {
  assert.equal(typeof SIMD_AVAILABLE, 'boolean');
  if (!SIMD_AVAILABLE) return;
  assert.equal(WebAssembly.validate(simdKernelModuleBytes('swizzle')), true);
  assert.equal(defaultKernel().name, 'wasm-simd', 'the default kernel is the SIMD one when SIMD is available');
});

for (const swizzle of ['swizzle', 'relaxed-swizzle'] as const satisfies readonly SwizzleInstruction[]) {
  const available = swizzle === 'swizzle' ? SIMD_AVAILABLE : RELAXED_AVAILABLE;
  test(
    `computes the same bytes as the reference kernel with ${swizzle}`,
    { skip: available ? false : `this engine lacks WebAssembly ${swizzle === 'swizzle' ? 'SIMD' : 'relaxed SIMD'}` },
    withSeed((random) => {
      const simd = createSimdKernel(swizzle);
      assert.ok(simd !== undefined);
      assert.equal(simd.swizzle, swizzle);
      compareWithReference(random, simd, 120);
    }),
  );
}

// Node 20 has relaxed SIMD only behind a V8 flag, while Node >= 21 uses it by default; run the
// comparison in a child process with the flag so the variant most users get is tested here too.
test(
  'computes the same bytes as the reference kernel with relaxed-swizzle in a child process with relaxed SIMD enabled',
  { skip: RELAXED_AVAILABLE ? 'relaxed SIMD is available in this process and tested above' : !SIMD_AVAILABLE && 'this engine lacks WebAssembly SIMD' },
  withSeed((random) => {
    const childSeed = random.nextU32();
    const script = `
      import { createSimdKernel, webAssemblySimdAvailable } from ${JSON.stringify(new URL('../../../format/ec/simd-kernel.ts', import.meta.url).href)};
      import { referenceKernel } from ${JSON.stringify(new URL('../../../format/ec/kernel.ts', import.meta.url).href)};
      if (!webAssemblySimdAvailable('relaxed-swizzle')) throw new Error('relaxed SIMD unavailable even with the flag');
      const simd = createSimdKernel();
      let state = ${childSeed} || 1;
      const next = () => { state ^= state << 13; state ^= state >>> 17; state ^= state << 5; return state >>> 0; };
      for (let trial = 0; trial < 40; trial++) {
        const sources = Array.from({ length: 1 + (next() % 16) }, () => Uint8Array.from({ length: 20000 }, next));
        const rows = 1 + (next() % 6);
        const length = trial % 4 === 0 ? 16384 + (next() % 3617) : next() % 2000;
        const coefficients = Uint8Array.from({ length: rows * sources.length }, next);
        const expected = Array.from({ length: rows }, () => new Uint8Array(length));
        const actual = Array.from({ length: rows }, () => new Uint8Array(length));
        referenceKernel.multiplyBlocks(coefficients, sources, expected, length);
        simd.multiplyBlocks(coefficients, sources, actual, length);
        if (simd.swizzle !== 'relaxed-swizzle') throw new Error('expected the relaxed kernel to be chosen');
        if (!actual.every((block, row) => Buffer.from(block).equals(Buffer.from(expected[row])))) throw new Error('mismatch at trial ' + trial);
      }
      console.log('ok');
    `;
    const output = execFileSync(process.execPath, ['--experimental-wasm-relaxed-simd', '--import', 'tsx', '--input-type=module', '-e', script], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    }).trim();
    assert.equal(output, 'ok');
  }),
);

test('rejects arguments that do not fit the coefficient matrix or the length', () => {
  const kernels: GfKernel[] = [referenceKernel];
  const simd = createSimdKernel();
  if (simd !== undefined) kernels.push(simd);
  for (const kernel of kernels) {
    const block = new Uint8Array(8);
    assert.throws(() => kernel.multiplyBlocks(new Uint8Array(3), [block, block], [block], 8), /needs 2 coefficients/);
    assert.throws(() => kernel.multiplyBlocks(new Uint8Array(1), [block], [new Uint8Array(8)], 9), /shorter than the length/);
    assert.throws(() => kernel.multiplyBlocks(new Uint8Array(1), [block], [new Uint8Array(8)], -1), RangeError);
  }
});

test('grows its memory for long blocks and many sources, and keeps working afterwards', { skip: !SIMD_AVAILABLE && 'this engine lacks WebAssembly SIMD' }, () => {
  const simd = createSimdKernel()!;
  const sources = Array.from({ length: 40 }, (_, index) => Uint8Array.from({ length: 100_000 }, (_, i) => (i * (index + 3)) & 0xff));
  const coefficients = Uint8Array.from({ length: 40 * 6 }, (_, index) => (index * 7 + 1) & 0xff);
  const expected = Array.from({ length: 6 }, () => new Uint8Array(100_000));
  const actual = Array.from({ length: 6 }, () => new Uint8Array(100_000));
  referenceKernel.multiplyBlocks(coefficients, sources, expected, 100_000);
  simd.multiplyBlocks(coefficients, sources, actual, 100_000);
  assert.deepEqual(actual, expected);
  // A smaller call after growth uses the grown (re-acquired) buffer correctly.
  const small = [new Uint8Array(3)];
  simd.multiplyBlocks(Uint8Array.of(2), [Uint8Array.of(1, 2, 0x80)], small, 3);
  assert.deepEqual([...small[0]!], [2, 4, 0x1d]);
});
