// The one operation every erasure-code path reduces to: multiply a small coefficient matrix over
// GF(2^8) by a column of equally long byte blocks. Encoding is (parity matrix) x (data blocks);
// reconstruction is (decode matrix) x (surviving blocks). A kernel implements only that, so the
// reference and the WebAssembly SIMD kernel are interchangeable and checkable byte for byte.

import { multiplicationTable } from './gf256.js';

export interface GfKernel {
  /** 'reference' for the table-driven TypeScript kernel, 'wasm-simd' for the WebAssembly one. */
  readonly name: 'reference' | 'wasm-simd';
  /**
   * For every destination row r, over bytes 0..length-1:
   *
   *   destinations[r][i] = XOR over c of  coefficients[r * sources.length + c] * sources[c][i]
   *
   * Destinations are overwritten, not accumulated into. Every source and destination must be at
   * least `length` bytes long, and no destination may overlap a source or another destination.
   */
  multiplyBlocks(
    coefficients: Uint8Array,
    sources: readonly Uint8Array[],
    destinations: readonly Uint8Array[],
    length: number,
  ): void;
}

/**
 * The reference kernel: one 256-entry product-table lookup per byte per coefficient. Slow but
 * obviously right, and the yardstick the SIMD kernel is tested against.
 */
export const referenceKernel: GfKernel = {
  name: 'reference',
  multiplyBlocks(coefficients, sources, destinations, length) {
    checkKernelArguments(coefficients, sources, destinations, length);
    const products = multiplicationTable();
    const sourceCount = sources.length;
    destinations.forEach((destination, row) => {
      destination.fill(0, 0, length);
      for (let column = 0; column < sourceCount; column++) {
        const coefficient = coefficients[row * sourceCount + column];
        if (coefficient === 0) continue;
        const source = sources[column]!;
        const productRow = products.subarray(coefficient * 256, coefficient * 256 + 256);
        for (let i = 0; i < length; i++) destination[i] ^= productRow[source[i]];
      }
    });
  },
};

export function checkKernelArguments(
  coefficients: Uint8Array,
  sources: readonly Uint8Array[],
  destinations: readonly Uint8Array[],
  length: number,
): void {
  if (!Number.isSafeInteger(length) || length < 0) {
    throw new RangeError(`GF kernel: length must be a non-negative integer, got ${length}`);
  }
  if (coefficients.length !== sources.length * destinations.length) {
    throw new RangeError(
      `GF kernel: ${destinations.length}x${sources.length} product needs ${sources.length * destinations.length} coefficients, got ${coefficients.length}`,
    );
  }
  for (const block of [...sources, ...destinations]) {
    if (block.length < length) {
      throw new RangeError(`GF kernel: a block of ${block.length} bytes is shorter than the length ${length}`);
    }
  }
}
