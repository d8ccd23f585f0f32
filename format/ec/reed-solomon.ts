// Systematic Reed-Solomon erasure coding over GF(2^8) with a Cauchy parity matrix.
//
// A stripe is k data blocks followed by m parity blocks, all the same length; "block index" means
// the position in that order (data 0..k-1, then parity 0..m-1, at indices k..k+m-1). Byte i of
// parity block p depends only on byte i of every data block:
//
//   parity[p][i] = XOR over j in 0..k-1 of  C[p][j] * data[j][i],   C[p][j] = 1 / ((k + p) XOR j)
//
// with products and inverses in GF(2^8) mod 0x11d (see gf256.ts). This definition is part of the
// on-disk format, and docs/EC.md states it with a worked example. It is the matrix ISA-L's
// gf_gen_cauchy1_matrix builds, and row p does not depend on m, so the parity of a k+m stripe is
// the first m parity blocks of the k+(m+1) stripe over the same data.
//
// Why Cauchy: the generator [I; C] is MDS (every k of the k+m blocks determine the rest) exactly
// when every square submatrix of C is invertible, which holds for every Cauchy matrix
// 1 / (x_p - y_j) with distinct x's, distinct y's and no x equal to a y. Here x_p = k + p and
// y_j = j, so x's are >= k > y's. A Vandermonde-derived [I; V] is not guaranteed MDS for every shape.

import { StrataError, EXIT } from '../errors.js';
import { createMatrix, identityMatrix, inverse, invertMatrix, matrixMultiply, selectRows, type Matrix } from './gf256.js';
import { referenceKernel, type GfKernel } from './kernel.js';
import { createSimdKernel } from './simd-kernel.js';

export const MIN_DATA_BLOCKS = 1;
export const MAX_DATA_BLOCKS = 16;
export const MIN_PARITY_BLOCKS = 1;
export const MAX_PARITY_BLOCKS = 4;

export interface CodecOptions {
  /** Which kernel multiplies the blocks; `defaultKernel()` when omitted. */
  kernel?: GfKernel;
}

/** More blocks of a stripe are missing than its parity can replace; the stripe is lost. */
export class TooManyErasuresError extends StrataError {
  readonly erased: readonly number[];
  readonly parityBlocks: number;
  constructor(erased: readonly number[], parityBlocks: number) {
    super(
      'EC_TOO_MANY_ERASURES',
      `erasure code: ${erased.length} blocks of the stripe are missing (indices ${erased.join(', ')}) but ${parityBlocks} parity block${parityBlocks === 1 ? '' : 's'} can replace at most ${parityBlocks}`,
      EXIT.UNCORRECTED,
    );
    this.erased = erased;
    this.parityBlocks = parityBlocks;
  }
}

let sharedDefaultKernel: GfKernel | undefined;

/**
 * The WebAssembly SIMD kernel when the engine supports it, else the reference kernel. Chosen once
 * per process; both produce identical bytes, so the choice never affects what is written.
 */
export function defaultKernel(): GfKernel {
  sharedDefaultKernel ??= createSimdKernel() ?? referenceKernel;
  return sharedDefaultKernel;
}

export function checkShape(k: number, m: number): void {
  if (!Number.isInteger(k) || k < MIN_DATA_BLOCKS || k > MAX_DATA_BLOCKS) {
    throw new RangeError(`erasure code: data block count k must be an integer in ${MIN_DATA_BLOCKS}..${MAX_DATA_BLOCKS}, got ${k}`);
  }
  if (!Number.isInteger(m) || m < MIN_PARITY_BLOCKS || m > MAX_PARITY_BLOCKS) {
    throw new RangeError(`erasure code: parity block count m must be an integer in ${MIN_PARITY_BLOCKS}..${MAX_PARITY_BLOCKS}, got ${m}`);
  }
}

/** The m x k parity matrix C: C[p][j] = 1 / ((k + p) XOR j) in GF(2^8). */
export function parityMatrix(k: number, m: number): Matrix {
  checkShape(k, m);
  const matrix = createMatrix(m, k);
  for (let p = 0; p < m; p++) {
    for (let j = 0; j < k; j++) matrix.elements[p * k + j] = inverse((k + p) ^ j);
  }
  return matrix;
}

/** The (k+m) x k generator [I; C]: row b maps the data blocks to block b of the stripe. */
export function generatorMatrix(k: number, m: number): Matrix {
  const parity = parityMatrix(k, m);
  const generator = createMatrix(k + m, k);
  generator.elements.set(identityMatrix(k).elements, 0);
  generator.elements.set(parity.elements, k * k);
  return generator;
}

function checkBlockLengths(blocks: readonly Uint8Array[], what: string): number {
  const length = blocks[0]?.length ?? 0;
  blocks.forEach((block, index) => {
    if (!(block instanceof Uint8Array)) throw new TypeError(`erasure code: ${what} ${index} is not a Uint8Array`);
    if (block.length !== length) {
      throw new RangeError(`erasure code: all blocks must be the same length; ${what} ${index} is ${block.length} bytes, expected ${length}`);
    }
  });
  return length;
}

function checkCount(actual: number, expected: number, what: string): void {
  if (actual !== expected) throw new RangeError(`erasure code: expected ${expected} ${what}, got ${actual}`);
}

/** Computes the m parity blocks of `data` into the caller's `parity` buffers (same length as the data). */
export function encodeInto(k: number, m: number, data: readonly Uint8Array[], parity: readonly Uint8Array[], options: CodecOptions = {}): void {
  checkShape(k, m);
  checkCount(data.length, k, 'data blocks (k)');
  checkCount(parity.length, m, 'parity blocks (m)');
  const length = checkBlockLengths([...data, ...parity], 'block');
  (options.kernel ?? defaultKernel()).multiplyBlocks(parityMatrix(k, m).elements, data, parity, length);
}

/** Returns m newly allocated parity blocks for `data`. */
export function encode(k: number, m: number, data: readonly Uint8Array[], options: CodecOptions = {}): Uint8Array[] {
  checkShape(k, m);
  checkCount(data.length, k, 'data blocks (k)');
  const length = checkBlockLengths(data, 'data block');
  const parity = Array.from({ length: m }, () => new Uint8Array(length));
  encodeInto(k, m, data, parity, options);
  return parity;
}

/** How to rebuild erased blocks: `blocks[erased[r]] = sum over c of coefficients[r][c] * blocks[survivors[c]]`. */
export interface DecodePlan {
  /** The k surviving block indices used, the k smallest ones present, ascending. */
  readonly survivors: readonly number[];
  /** The erased block indices, ascending. */
  readonly erased: readonly number[];
  /** erased.length x k. */
  readonly coefficients: Matrix;
}

/**
 * The decode plan for a stripe missing the blocks in `erased`. Every k rows of [I; C] are
 * invertible, so which k survivors are used does not change the result; the k lowest indices are
 * used because data blocks make identity rows, which keeps the inversion small and, when only
 * parity is missing, makes the plan exactly the encode.
 */
export function decodePlan(k: number, m: number, erased: readonly number[]): DecodePlan {
  checkShape(k, m);
  const erasedSet = new Set<number>();
  for (const index of erased) {
    if (!Number.isInteger(index) || index < 0 || index >= k + m) {
      throw new RangeError(`erasure code: erased block index ${index} is outside 0..${k + m - 1}`);
    }
    erasedSet.add(index);
  }
  const erasedSorted = [...erasedSet].sort((a, b) => a - b);
  if (erasedSorted.length > m) throw new TooManyErasuresError(erasedSorted, m);

  const survivors: number[] = [];
  for (let index = 0; index < k + m && survivors.length < k; index++) {
    if (!erasedSet.has(index)) survivors.push(index);
  }
  const generator = generatorMatrix(k, m);
  const survivorInverse = invertMatrix(selectRows(generator, survivors));
  if (survivorInverse === undefined) {
    // Unreachable while the generator is MDS; reaching it means the matrix definition broke.
    throw new Error(`erasure code: ${k}+${m} generator rows ${survivors.join(',')} are singular`);
  }
  const coefficients = matrixMultiply(selectRows(generator, erasedSorted), survivorInverse);
  return { survivors, erased: erasedSorted, coefficients };
}

/**
 * Rebuilds the blocks at the `erased` indices in place: `blocks` holds all k+m buffers, those
 * listed in `erased` are overwritten (their previous contents are ignored), and the others must
 * hold the stripe's intact blocks. Throws TooManyErasuresError if more than m are listed.
 */
export function reconstructInto(k: number, m: number, blocks: readonly Uint8Array[], erased: readonly number[], options: CodecOptions = {}): void {
  checkShape(k, m);
  checkCount(blocks.length, k + m, 'blocks (k + m)');
  const length = checkBlockLengths(blocks, 'block');
  const plan = decodePlan(k, m, erased);
  if (plan.erased.length === 0) return;
  (options.kernel ?? defaultKernel()).multiplyBlocks(
    plan.coefficients.elements,
    plan.survivors.map((index) => blocks[index]!),
    plan.erased.map((index) => blocks[index]!),
    length,
  );
}

/**
 * Fills in every null entry of `blocks` (length k+m, data blocks then parity blocks) with a newly
 * allocated buffer holding the rebuilt block. Present blocks are not modified. Throws
 * TooManyErasuresError, leaving `blocks` unchanged, if more than m entries are null.
 */
export function reconstruct(k: number, m: number, blocks: (Uint8Array | null)[], options: CodecOptions = {}): void {
  checkShape(k, m);
  checkCount(blocks.length, k + m, 'blocks (k + m)');
  const erased: number[] = [];
  const present: Uint8Array[] = [];
  blocks.forEach((block, index) => (block === null ? erased.push(index) : present.push(block)));
  if (erased.length > m) throw new TooManyErasuresError(erased, m);
  if (erased.length === 0) return;
  const length = checkBlockLengths(present, 'present block');
  const complete = blocks.map((block) => block ?? new Uint8Array(length));
  reconstructInto(k, m, complete, erased, options);
  for (const index of erased) blocks[index] = complete[index]!;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

/** Whether the m parity blocks in `blocks` (length k+m) are exactly the parity of its k data blocks. */
export function verifyParity(k: number, m: number, blocks: readonly Uint8Array[], options: CodecOptions = {}): boolean {
  checkShape(k, m);
  checkCount(blocks.length, k + m, 'blocks (k + m)');
  checkBlockLengths(blocks, 'block');
  const expected = encode(k, m, blocks.slice(0, k), options);
  return expected.every((parity, p) => sameBytes(parity, blocks[k + p]!));
}
