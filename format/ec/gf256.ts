// Arithmetic in GF(2^8) = GF(2)[x] / (x^8 + x^4 + x^3 + x^2 + 1), the polynomial 0x11d.
//
// 0x11d is part of the on-disk format: parity bytes are products in this field, so changing it
// would make every existing parity block wrong. It is the polynomial used by ISA-L, Jerasure's
// default w=8 field, and the Linux RAID-6 code, and x (= 2) generates its multiplicative group,
// which is what lets log/exp tables represent every nonzero element.
//
// Elements are plain numbers 0..255. Addition and subtraction are both XOR.

/** The field polynomial x^8 + x^4 + x^3 + x^2 + 1, as a bit mask including the x^8 term. */
export const FIELD_POLYNOMIAL = 0x11d;

/** The order of the multiplicative group: exp(i) = exp(i mod 255). */
const GROUP_ORDER = 255;

/**
 * exp[i] = 2^i for i in 0..509. Doubling the table past 255 lets `multiply` index it with
 * log[a] + log[b] (at most 508) without a modulo.
 */
const EXP_TABLE: Uint8Array = new Uint8Array(2 * GROUP_ORDER);

/** log[a] = i such that 2^i = a, for a in 1..255. log[0] is meaningless and never read. */
const LOG_TABLE: Uint8Array = new Uint8Array(256);

{
  let power = 1;
  for (let exponent = 0; exponent < GROUP_ORDER; exponent++) {
    EXP_TABLE[exponent] = power;
    EXP_TABLE[exponent + GROUP_ORDER] = power;
    LOG_TABLE[power] = exponent;
    power <<= 1;
    if (power & 0x100) power ^= FIELD_POLYNOMIAL;
  }
  // 2 generates the group exactly when the walk above returns to 1 after 255 steps and not
  // before; if someone edits the polynomial to a non-primitive one, fail at import, loudly.
  if (power !== 1) throw new Error(`GF(2^8): 0x${FIELD_POLYNOMIAL.toString(16)} is not primitive`);
}

export function multiply(a: number, b: number): number {
  if (a === 0 || b === 0) return 0;
  return EXP_TABLE[LOG_TABLE[a] + LOG_TABLE[b]];
}

export function inverse(a: number): number {
  if (a === 0) throw new RangeError('GF(2^8): 0 has no multiplicative inverse');
  return EXP_TABLE[GROUP_ORDER - LOG_TABLE[a]];
}

export function divide(a: number, b: number): number {
  if (b === 0) throw new RangeError('GF(2^8): division by zero');
  if (a === 0) return 0;
  return EXP_TABLE[LOG_TABLE[a] + GROUP_ORDER - LOG_TABLE[b]];
}

/** 2^exponent for any integer exponent >= 0. */
export function power2(exponent: number): number {
  return EXP_TABLE[exponent % GROUP_ORDER];
}

let fullMultiplicationTable: Uint8Array | undefined;

/**
 * The 256 x 256 product table: `table[c * 256 + x] = c * x`. 64 KiB, built on first use; the
 * reference kernel takes `subarray(c * 256, c * 256 + 256)` as its per-coefficient lookup.
 */
export function multiplicationTable(): Uint8Array {
  if (fullMultiplicationTable === undefined) {
    const table = new Uint8Array(256 * 256);
    for (let c = 1; c < 256; c++) {
      for (let x = 1; x < 256; x++) table[c * 256 + x] = multiply(c, x);
    }
    fullMultiplicationTable = table;
  }
  return fullMultiplicationTable;
}

/**
 * A dense matrix over GF(2^8), row-major: element (row, column) is
 * `elements[row * columns + column]`.
 */
export interface Matrix {
  readonly rows: number;
  readonly columns: number;
  readonly elements: Uint8Array;
}

export function createMatrix(rows: number, columns: number): Matrix {
  return { rows, columns, elements: new Uint8Array(rows * columns) };
}

export function identityMatrix(size: number): Matrix {
  const result = createMatrix(size, size);
  for (let i = 0; i < size; i++) result.elements[i * size + i] = 1;
  return result;
}

export function matrixMultiply(left: Matrix, right: Matrix): Matrix {
  if (left.columns !== right.rows) {
    throw new RangeError(`GF(2^8): cannot multiply ${left.rows}x${left.columns} by ${right.rows}x${right.columns}`);
  }
  const result = createMatrix(left.rows, right.columns);
  for (let row = 0; row < left.rows; row++) {
    for (let column = 0; column < right.columns; column++) {
      let sum = 0;
      for (let i = 0; i < left.columns; i++) {
        sum ^= multiply(left.elements[row * left.columns + i], right.elements[i * right.columns + column]);
      }
      result.elements[row * right.columns + column] = sum;
    }
  }
  return result;
}

/** The rows of `matrix` listed in `rowIndices`, in that order. */
export function selectRows(matrix: Matrix, rowIndices: readonly number[]): Matrix {
  const result = createMatrix(rowIndices.length, matrix.columns);
  rowIndices.forEach((source, target) => {
    result.elements.set(
      matrix.elements.subarray(source * matrix.columns, (source + 1) * matrix.columns),
      target * matrix.columns,
    );
  });
  return result;
}

/**
 * The inverse of a square matrix by Gauss-Jordan elimination, or `undefined` if it is singular.
 * The input is not modified.
 */
export function invertMatrix(matrix: Matrix): Matrix | undefined {
  const size = matrix.rows;
  if (matrix.columns !== size) {
    throw new RangeError(`GF(2^8): cannot invert a non-square ${matrix.rows}x${matrix.columns} matrix`);
  }
  const work = Uint8Array.from(matrix.elements);
  const result = identityMatrix(size);
  const out = result.elements;
  const swapRows = (elements: Uint8Array, a: number, b: number): void => {
    for (let column = 0; column < size; column++) {
      const saved = elements[a * size + column];
      elements[a * size + column] = elements[b * size + column];
      elements[b * size + column] = saved;
    }
  };

  // Invariant at the top of each iteration: columns 0..pivot-1 of `work` are the identity's, and
  // `out` equals (the row operations applied so far) applied to the identity.
  for (let pivot = 0; pivot < size; pivot++) {
    let pivotRow = pivot;
    while (pivotRow < size && work[pivotRow * size + pivot] === 0) pivotRow++;
    if (pivotRow === size) return undefined;
    if (pivotRow !== pivot) {
      swapRows(work, pivot, pivotRow);
      swapRows(out, pivot, pivotRow);
    }
    const scale = inverse(work[pivot * size + pivot]);
    for (let column = 0; column < size; column++) {
      work[pivot * size + column] = multiply(work[pivot * size + column], scale);
      out[pivot * size + column] = multiply(out[pivot * size + column], scale);
    }
    for (let row = 0; row < size; row++) {
      const factor = row === pivot ? 0 : work[row * size + pivot];
      if (factor === 0) continue;
      for (let column = 0; column < size; column++) {
        work[row * size + column] ^= multiply(factor, work[pivot * size + column]);
        out[row * size + column] ^= multiply(factor, out[pivot * size + column]);
      }
    }
  }
  return result;
}
