import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  createMatrix,
  divide,
  identityMatrix,
  inverse,
  invertMatrix,
  matrixMultiply,
  multiplicationTable,
  multiply,
  power2,
} from '../../../format/ec/gf256.js';
import { withSeed } from './seeded-random.js';

/** Schoolbook carry-less multiplication reduced mod 0x11d: independent of the log/exp tables. */
function slowMultiply(a: number, b: number): number {
  let product = 0;
  for (let bit = 0; bit < 8; bit++) if (b & (1 << bit)) product ^= a << bit;
  for (let bit = 14; bit >= 8; bit--) if (product & (1 << bit)) product ^= 0x11d << (bit - 8);
  return product;
}

test('multiplies every pair of bytes as carry-less multiplication mod 0x11d', () => {
  const table = multiplicationTable();
  for (let a = 0; a < 256; a++) {
    for (let b = 0; b < 256; b++) {
      const expected = slowMultiply(a, b);
      if (multiply(a, b) !== expected || table[a * 256 + b] !== expected) {
        assert.fail(`${a} * ${b}: multiply gives ${multiply(a, b)}, table gives ${table[a * 256 + b]}, expected ${expected}`);
      }
    }
  }
});

test('agrees with well-known values of the 0x11d field', () => {
  assert.equal(multiply(0x80, 2), 0x1d);
  assert.equal(inverse(2), 0x8e);
  assert.equal(power2(8), 0x1d);
  assert.equal(power2(255), 1);
});

test('inverts and divides every nonzero element', () => {
  for (let a = 1; a < 256; a++) {
    assert.equal(multiply(a, inverse(a)), 1, `inverse of ${a}`);
    for (let b = 1; b < 256; b++) assert.equal(multiply(divide(a, b), b), a);
    assert.equal(divide(0, a), 0);
  }
  assert.throws(() => inverse(0), RangeError);
  assert.throws(() => divide(1, 0), RangeError);
});

test(
  'inverts random invertible matrices and rejects singular ones',
  withSeed((random) => {
    for (let trial = 0; trial < 200; trial++) {
      const size = random.int(1, 16);
      const matrix = createMatrix(size, size);
      matrix.elements.set(random.bytes(size * size));
      const inverted = invertMatrix(matrix);
      if (inverted === undefined) continue; // a random matrix is singular about 1/255 of the time
      assert.deepEqual(matrixMultiply(matrix, inverted), identityMatrix(size));
      assert.deepEqual(matrixMultiply(inverted, matrix), identityMatrix(size));
    }

    for (let trial = 0; trial < 50; trial++) {
      const size = random.int(2, 16);
      const matrix = createMatrix(size, size);
      matrix.elements.set(random.bytes(size * size));
      // Row `target` := row `source` * factor makes the rows linearly dependent.
      const [source, target] = random.subset(size, 2);
      const factor = random.int(1, 255);
      for (let column = 0; column < size; column++) {
        matrix.elements[target! * size + column] = multiply(matrix.elements[source! * size + column]!, factor);
      }
      const before = Uint8Array.from(matrix.elements);
      assert.equal(invertMatrix(matrix), undefined);
      assert.deepEqual(matrix.elements, before, 'the input matrix is left unchanged');
    }
  }),
);
