// The WebAssembly SIMD kernel for GfKernel.multiplyBlocks, using split nibble tables.
//
// Multiplication by a constant c is linear over XOR, so for a byte x = (hi << 4) ^ lo,
//   c * x = c * (hi << 4)  XOR  c * lo.
// Each half takes only 16 values, so two 16-byte tables per coefficient,
//   lowProducts[c][n] = c * n  and  highProducts[c][n] = c * (n << 4),
// turn a 16-byte vector of products into two i8x16.swizzle lookups and an XOR.
//
// Where the engine implements relaxed SIMD, i8x16.relaxed_swizzle replaces i8x16.swizzle. The two
// agree on every index below 16 and the indices here are nibbles, so the bytes are identical; on
// x86-64 the relaxed form is a bare pshufb, without the saturating add V8 puts in front of
// pshufb to make out-of-range indices select zero.
//
// One kernel call handles a whole stripe segment: every source into up to four destinations.
// For each 16 * unroll-byte position the destinations' running sums live in v128 locals
// (registers) while the loop walks down the sources, so each source byte is loaded once and each
// destination byte stored once per call, whatever the number of sources. There is one exported
// function per destination count (1..4) because the accumulators must be distinct locals.
//
// Blocks live in JavaScript memory, so each call copies a segment of every source into the
// module's linear memory and the results back out. Segments are SEGMENT_BYTES long so the copies
// and the kernel's working set stay in the L2 cache; bench/ec.ts reports what the copies cost.

import { multiply } from './gf256.js';
import { checkKernelArguments, type GfKernel } from './kernel.js';
import { assembleModule, FunctionBody, ValueType, type ExportedFunction } from './wasm-assembler.js';

/**
 * 16-byte vectors per destination per inner-loop step, by variant and destination count.
 * Unrolling reuses each table load and loop step for several vectors, but every extra vector
 * costs `rows` more accumulator registers, and x86-64 has 16. Plain swizzle needs one more for
 * V8's range fix-up, which tips four rows unrolled twice into spilling; the relaxed form does not.
 * Chosen by measurement with bench/ec.ts on x86-64 (see docs/EC.md).
 */
const UNROLL_BY_ROWS: Record<SwizzleInstruction, Record<number, number>> = {
  swizzle: { 1: 2, 2: 2, 3: 2, 4: 1 },
  'relaxed-swizzle': { 1: 2, 2: 2, 3: 2, 4: 2 },
};
/** Every kernel function processes lengths that are a multiple of this; callers pad. */
const KERNEL_GRANULE = 64;
/** The most destinations one kernel call accumulates; more are handled in groups. */
const MAX_ROWS_PER_CALL = 4;
/** Bytes of each block copied into linear memory per kernel call. */
const SEGMENT_BYTES = 16 * 1024;
/** Two 16-byte nibble tables per coefficient. */
const TABLE_BYTES_PER_COEFFICIENT = 32;
const WASM_PAGE_BYTES = 65536;

type KernelFunction = (tables: number, sources: number, sourceCount: number, stride: number, destinations: number, length: number) => void;

/**
 * Emits `multiply{rows}(tables, sources, sourceCount, stride, destinations, length)`.
 *
 * Memory contract (all offsets in bytes into linear memory):
 * - source c is at `sources + c * stride`, destination r at `destinations + r * stride`;
 * - the nibble tables for (source c, destination r) are at `tables + (c * rows + r) * 32`:
 *   16 bytes of lowProducts then 16 bytes of highProducts;
 * - `length` is a positive multiple of KERNEL_GRANULE and `sourceCount` >= 1. The kernel does not
 *   check either: the loops are do-while, so zero would run past the end.
 */
function emitMultiplyFunction(rows: number, swizzle: SwizzleInstruction): ExportedFunction {
  const unroll = UNROLL_BY_ROWS[swizzle][rows]!;
  if (KERNEL_GRANULE % (16 * unroll) !== 0) throw new Error(`simd kernel: unroll ${unroll} does not divide the granule`);
  const body = new FunctionBody(6);
  const [tables, sources, sourceCount, stride, destinations, length] = [0, 1, 2, 3, 4, 5];
  const position = body.local(ValueType.I32);
  const sourcePointer = body.local(ValueType.I32);
  const sourceEnd = body.local(ValueType.I32);
  const tablePointer = body.local(ValueType.I32);
  const destinationPointer = body.local(ValueType.I32);
  const nibbleMask = body.local(ValueType.V128);
  const lowNibbles = Array.from({ length: unroll }, () => body.local(ValueType.V128));
  const highNibbles = Array.from({ length: unroll }, () => body.local(ValueType.V128));
  const lowTable = body.local(ValueType.V128);
  const highTable = body.local(ValueType.V128);
  // accumulators[r][u]: the running sum for destination r, vector u of the current granule.
  const accumulators = Array.from({ length: rows }, () => Array.from({ length: unroll }, () => body.local(ValueType.V128)));

  body.v128ConstSplat(0x0f).set(nibbleMask);
  body.i32Const(0).set(position);

  body.loop(); // over positions 0, 16 * unroll, ... < length
  {
    for (const row of accumulators) for (const accumulator of row) body.v128ConstSplat(0).set(accumulator);
    body.get(sources).get(position).i32Add().tee(sourcePointer);
    body.get(sourceCount).get(stride).i32Mul().i32Add().set(sourceEnd);
    body.get(tables).set(tablePointer);

    body.loop(); // over sources: sourcePointer advances by stride until sourceEnd
    {
      for (let u = 0; u < unroll; u++) {
        body.get(sourcePointer).v128Load(16 * u).tee(lowNibbles[u]!);
        // Shifting 16-bit lanes drags bits across byte boundaries, but the mask keeps only the
        // low four bits of each byte, which are exactly that byte's high nibble.
        body.i32Const(4).i16x8ShrU().get(nibbleMask).v128And().set(highNibbles[u]!);
        body.get(lowNibbles[u]!).get(nibbleMask).v128And().set(lowNibbles[u]!);
      }
      for (let row = 0; row < rows; row++) {
        body.get(tablePointer).v128Load(TABLE_BYTES_PER_COEFFICIENT * row).set(lowTable);
        body.get(tablePointer).v128Load(TABLE_BYTES_PER_COEFFICIENT * row + 16).set(highTable);
        for (let u = 0; u < unroll; u++) {
          const accumulator = accumulators[row]![u]!;
          body.get(accumulator);
          body.get(lowTable).get(lowNibbles[u]!);
          emitSwizzle(body, swizzle).v128Xor();
          body.get(highTable).get(highNibbles[u]!);
          emitSwizzle(body, swizzle).v128Xor();
          body.set(accumulator);
        }
      }
      body.get(tablePointer).i32Const(TABLE_BYTES_PER_COEFFICIENT * rows).i32Add().set(tablePointer);
      body.get(sourcePointer).get(stride).i32Add().tee(sourcePointer);
      body.get(sourceEnd).i32Ne().brIf(0);
    }
    body.end();

    body.get(destinations).get(position).i32Add().set(destinationPointer);
    for (let row = 0; row < rows; row++) {
      if (row > 0) body.get(destinationPointer).get(stride).i32Add().set(destinationPointer);
      for (let u = 0; u < unroll; u++) body.get(destinationPointer).get(accumulators[row]![u]!).v128Store(16 * u);
    }

    body.get(position).i32Const(16 * unroll).i32Add().tee(position);
    body.get(length).i32LtU().brIf(0);
  }
  body.end();

  const I32 = ValueType.I32;
  return { name: `multiply${rows}`, parameters: [I32, I32, I32, I32, I32, I32], results: [], body };
}

/** Which table-lookup instruction the kernel is built with; see the comment at the top. */
export type SwizzleInstruction = 'swizzle' | 'relaxed-swizzle';

function emitSwizzle(body: FunctionBody, swizzle: SwizzleInstruction): FunctionBody {
  return swizzle === 'swizzle' ? body.i8x16Swizzle() : body.i8x16RelaxedSwizzle();
}

/** The kernel module's bytes per variant, assembled on first use (about 2 KB, under a millisecond). */
const kernelModuleBytes = new Map<SwizzleInstruction, Uint8Array<ArrayBuffer>>();

export function simdKernelModuleBytes(swizzle: SwizzleInstruction): Uint8Array<ArrayBuffer> {
  let bytes = kernelModuleBytes.get(swizzle);
  if (bytes === undefined) {
    bytes = assembleModule(
      Array.from({ length: MAX_ROWS_PER_CALL }, (_, index) => emitMultiplyFunction(index + 1, swizzle)),
      1,
    );
    kernelModuleBytes.set(swizzle, bytes);
  }
  return bytes;
}

/**
 * Whether this engine can run the kernel built with `swizzle`, judged by validating the smallest
 * module that uses the SIMD instructions the kernel depends on. Plain 'swizzle' needs WebAssembly
 * SIMD (Node >= 16.4); 'relaxed-swizzle' also needs relaxed SIMD (V8 >= 11.4, so Node >= 21, or
 * Node 20 with --experimental-wasm-relaxed-simd).
 */
export function webAssemblySimdAvailable(swizzle: SwizzleInstruction = 'swizzle'): boolean {
  if (typeof WebAssembly !== 'object' || typeof WebAssembly.validate !== 'function') return false;
  const probe = new FunctionBody(0);
  probe.v128ConstSplat(0xf3).i32Const(4).i16x8ShrU().v128ConstSplat(0x0f).v128And();
  probe.v128ConstSplat(7);
  emitSwizzle(probe, swizzle).v128ConstSplat(1).v128Xor();
  const probeModule = assembleModule([{ name: 'probe', parameters: [], results: [ValueType.V128], body: probe }], 0);
  try {
    return WebAssembly.validate(probeModule);
  } catch {
    return false;
  }
}

/** lowProducts and highProducts for every coefficient: 256 * 32 bytes, coefficient-major. */
let nibbleTableCache: Uint8Array | undefined;

function nibbleTables(): Uint8Array {
  if (nibbleTableCache === undefined) {
    const tables = new Uint8Array(256 * TABLE_BYTES_PER_COEFFICIENT);
    for (let coefficient = 0; coefficient < 256; coefficient++) {
      const base = coefficient * TABLE_BYTES_PER_COEFFICIENT;
      for (let nibble = 0; nibble < 16; nibble++) {
        tables[base + nibble] = multiply(coefficient, nibble);
        tables[base + 16 + nibble] = multiply(coefficient, nibble << 4);
      }
    }
    nibbleTableCache = tables;
  }
  return nibbleTableCache;
}

function roundUp(value: number, multiple: number): number {
  return Math.ceil(value / multiple) * multiple;
}

/** A GfKernel backed by one module instance and its own linear memory. */
export interface SimdKernel extends GfKernel {
  readonly name: 'wasm-simd';
  readonly swizzle: SwizzleInstruction;
  /**
   * Runs exactly the kernel calls `multiplyBlocks` would for these shapes, on whatever bytes are
   * already in linear memory, skipping the copies in and out. The results are meaningless; this
   * exists so the benchmark can separate the kernel's cost from the copies'.
   */
  multiplyResidentForBenchmark(coefficients: Uint8Array, sourceCount: number, destinationCount: number, length: number): void;
}

/**
 * A new SIMD kernel with its own memory, or undefined if this engine cannot run it. Without an
 * explicit `swizzle`, the relaxed variant is used when the engine has it. Instances are
 * independent; `defaultKernel()` in reed-solomon.ts shares one.
 */
export function createSimdKernel(swizzle?: SwizzleInstruction): SimdKernel | undefined {
  const chosen = swizzle ?? (webAssemblySimdAvailable('relaxed-swizzle') ? 'relaxed-swizzle' : 'swizzle');
  if (!webAssemblySimdAvailable(chosen)) return undefined;
  const memory = new WebAssembly.Memory({ initial: 1 });
  const exports: Record<number, KernelFunction> = {};
  try {
    const instance = new WebAssembly.Instance(new WebAssembly.Module(simdKernelModuleBytes(chosen)), { env: { memory } });
    for (let rows = 1; rows <= MAX_ROWS_PER_CALL; rows++) {
      exports[rows] = instance.exports[`multiply${rows}`] as KernelFunction;
    }
  } catch {
    // Validation of the probe passed but the full module did not compile: an engine bug or a
    // resource limit. The reference kernel gives the same bytes, so fall back quietly.
    return undefined;
  }

  /**
   * Lays out linear memory for one multiplyBlocks call, growing it if needed:
   * [per-call nibble tables][sources, `stride` apart][destinations, `stride` apart].
   */
  const layout = (sourceCount: number, destinationCount: number, length: number) => {
    const groupCount = Math.ceil(destinationCount / MAX_ROWS_PER_CALL);
    const tableBytesPerGroup = sourceCount * MAX_ROWS_PER_CALL * TABLE_BYTES_PER_COEFFICIENT;
    const stride = Math.min(SEGMENT_BYTES, roundUp(length, KERNEL_GRANULE));
    const sourcesOffset = roundUp(groupCount * tableBytesPerGroup, 64);
    const destinationsOffset = sourcesOffset + sourceCount * stride;
    const bytesNeeded = destinationsOffset + destinationCount * stride;
    if (bytesNeeded > memory.buffer.byteLength) {
      memory.grow(Math.ceil((bytesNeeded - memory.buffer.byteLength) / WASM_PAGE_BYTES));
    }
    return { groupCount, tableBytesPerGroup, stride, sourcesOffset, destinationsOffset };
  };

  /** Copies the nibble tables for each group of up to four rows, in the kernel's [c][r] order. */
  const writeCallTables = (linear: Uint8Array, coefficients: Uint8Array, sourceCount: number, destinationCount: number, tableBytesPerGroup: number) => {
    const allTables = nibbleTables();
    for (let row = 0; row < destinationCount; row++) {
      const group = Math.floor(row / MAX_ROWS_PER_CALL);
      const rowInGroup = row % MAX_ROWS_PER_CALL;
      const rowsInGroup = Math.min(MAX_ROWS_PER_CALL, destinationCount - group * MAX_ROWS_PER_CALL);
      for (let column = 0; column < sourceCount; column++) {
        const coefficient = coefficients[row * sourceCount + column];
        const from = coefficient * TABLE_BYTES_PER_COEFFICIENT;
        const to = group * tableBytesPerGroup + (column * rowsInGroup + rowInGroup) * TABLE_BYTES_PER_COEFFICIENT;
        linear.set(allTables.subarray(from, from + TABLE_BYTES_PER_COEFFICIENT), to);
      }
    }
  };

  const runKernelCalls = (
    sourceCount: number,
    destinationCount: number,
    segmentLength: number,
    plan: ReturnType<typeof layout>,
  ) => {
    const paddedLength = roundUp(segmentLength, KERNEL_GRANULE);
    for (let group = 0; group < plan.groupCount; group++) {
      const rowsInGroup = Math.min(MAX_ROWS_PER_CALL, destinationCount - group * MAX_ROWS_PER_CALL);
      exports[rowsInGroup]!(
        group * plan.tableBytesPerGroup,
        plan.sourcesOffset,
        sourceCount,
        plan.stride,
        plan.destinationsOffset + group * MAX_ROWS_PER_CALL * plan.stride,
        paddedLength,
      );
    }
  };

  return {
    name: 'wasm-simd',
    swizzle: chosen,
    multiplyBlocks(coefficients, sources, destinations, length) {
      checkKernelArguments(coefficients, sources, destinations, length);
      if (destinations.length === 0 || length === 0) return;
      if (sources.length === 0) {
        for (const destination of destinations) destination.fill(0, 0, length);
        return;
      }
      const plan = layout(sources.length, destinations.length, length);
      // Taken after any growth: growing detaches the previous ArrayBuffer.
      const linear = new Uint8Array(memory.buffer);
      writeCallTables(linear, coefficients, sources.length, destinations.length, plan.tableBytesPerGroup);
      for (let start = 0; start < length; start += plan.stride) {
        const segmentLength = Math.min(plan.stride, length - start);
        // Bytes past segmentLength in the last segment are stale; the kernel multiplies them too
        // (it works in whole granules), but those products are never copied out.
        sources.forEach((source, column) => {
          linear.set(source.subarray(start, start + segmentLength), plan.sourcesOffset + column * plan.stride);
        });
        runKernelCalls(sources.length, destinations.length, segmentLength, plan);
        destinations.forEach((destination, row) => {
          const from = plan.destinationsOffset + row * plan.stride;
          destination.set(linear.subarray(from, from + segmentLength), start);
        });
      }
    },
    multiplyResidentForBenchmark(coefficients, sourceCount, destinationCount, length) {
      if (destinationCount === 0 || length === 0 || sourceCount === 0) return;
      const plan = layout(sourceCount, destinationCount, length);
      writeCallTables(new Uint8Array(memory.buffer), coefficients, sourceCount, destinationCount, plan.tableBytesPerGroup);
      for (let start = 0; start < length; start += plan.stride) {
        runKernelCalls(sourceCount, destinationCount, Math.min(plan.stride, length - start), plan);
      }
    },
  };
}
