// Erasure-code throughput: encode and reconstruct for the common shapes, per kernel.
//
//   node --import tsx bench/ec.ts
//
// Throughput is the stripe's data bytes (k * block size) per second, for both encode and decode,
// so the two columns compare directly. Decode erases m data blocks (the worst case: every
// survivor's contribution has to be recomputed through the inverted matrix, and m outputs are
// written). Each figure is the best of several timed trials, because on a shared machine the
// slow trials measure the neighbours rather than the code.
//
// For the SIMD kernel the "kernel only" columns repeat the same kernel calls on data already in
// WebAssembly memory: the gap to the full figures is the cost of copying blocks in and out.

import { pathToFileURL } from 'node:url';
import { referenceKernel, type GfKernel } from '../format/ec/kernel.js';
import { decodePlan, encodeInto, parityMatrix, reconstructInto } from '../format/ec/reed-solomon.js';
import { createSimdKernel, webAssemblySimdAvailable, type SimdKernel } from '../format/ec/simd-kernel.js';

export interface Row {
  /** 'reference', 'wasm-simd (swizzle)' or 'wasm-simd (relaxed-swizzle)' */
  kernel: string;
  /** e.g. '4+2' */
  shape: string;
  k: number;
  m: number;
  blockBytes: number;
  encodeGBps: number;
  decodeGBps: number;
  /** SIMD kernels only: the same kernel work without copying blocks into and out of wasm memory. */
  encodeKernelOnlyGBps?: number;
  decodeKernelOnlyGBps?: number;
}

export interface EcBenchOptions {
  /** default 128 KiB */
  blockBytes?: number;
  /** shapes as [k, m]; default 4+2, 8+3, 10+4 */
  shapes?: readonly (readonly [number, number])[];
  /** wall time per timed trial; default 0.15 s */
  trialSeconds?: number;
  /** trials per figure, best one reported; default 5 */
  trials?: number;
}

const DEFAULT_SHAPES: readonly (readonly [number, number])[] = [
  [4, 2],
  [8, 3],
  [10, 4],
];

/** Fills `block` from a xorshift32 stream, so runs are repeatable and the data is not all zero. */
function fillPseudoRandom(block: Uint8Array, seed: number): void {
  let state = seed >>> 0 || 1;
  for (let i = 0; i < block.length; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    block[i] = state & 0xff;
  }
}

const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Bytes per second of the best trial, where one call of `operation` processes `bytesPerCall`. */
async function bestThroughput(operation: () => void, bytesPerCall: number, trialSeconds: number, trials: number): Promise<number> {
  const warmUpEnd = performance.now() + trialSeconds * 1000;
  do operation();
  while (performance.now() < warmUpEnd);
  let best = 0;
  for (let trial = 0; trial < trials; trial++) {
    await yieldToEventLoop();
    let calls = 0;
    const start = performance.now();
    let now = start;
    do {
      operation();
      calls++;
      now = performance.now();
    } while (now - start < trialSeconds * 1000);
    best = Math.max(best, (calls * bytesPerCall) / ((now - start) / 1000));
  }
  return best;
}

function kernelsToMeasure(): { label: string; kernel: GfKernel }[] {
  const kernels: { label: string; kernel: GfKernel }[] = [{ label: 'reference', kernel: referenceKernel }];
  for (const swizzle of ['swizzle', 'relaxed-swizzle'] as const) {
    if (!webAssemblySimdAvailable(swizzle)) continue;
    const kernel = createSimdKernel(swizzle);
    if (kernel !== undefined) kernels.push({ label: `wasm-simd (${swizzle})`, kernel });
  }
  return kernels;
}

export async function runEcBench(options: EcBenchOptions = {}): Promise<Row[]> {
  const blockBytes = options.blockBytes ?? 128 * 1024;
  const shapes = options.shapes ?? DEFAULT_SHAPES;
  const trialSeconds = options.trialSeconds ?? 0.15;
  const trials = options.trials ?? 5;
  const rows: Row[] = [];

  for (const [k, m] of shapes) {
    const blocks = Array.from({ length: k + m }, () => new Uint8Array(blockBytes));
    blocks.slice(0, k).forEach((block, index) => fillPseudoRandom(block, 0x9e3779b9 + index));
    const data = blocks.slice(0, k);
    const parity = blocks.slice(k);
    const erasedData = Array.from({ length: m }, (_, index) => index);
    const stripeDataBytes = k * blockBytes;

    for (const { label, kernel } of kernelsToMeasure()) {
      encodeInto(k, m, data, parity, { kernel });
      const encodeGBps = (await bestThroughput(() => encodeInto(k, m, data, parity, { kernel }), stripeDataBytes, trialSeconds, trials)) / 1e9;
      const decodeGBps = (await bestThroughput(() => reconstructInto(k, m, blocks, erasedData, { kernel }), stripeDataBytes, trialSeconds, trials)) / 1e9;
      const row: Row = { kernel: label, shape: `${k}+${m}`, k, m, blockBytes, encodeGBps, decodeGBps };
      if (kernel.name === 'wasm-simd') {
        const simd = kernel as SimdKernel;
        const encodeCoefficients = parityMatrix(k, m).elements;
        const decodeCoefficients = decodePlan(k, m, erasedData).coefficients.elements;
        row.encodeKernelOnlyGBps =
          (await bestThroughput(() => simd.multiplyResidentForBenchmark(encodeCoefficients, k, m, blockBytes), stripeDataBytes, trialSeconds, trials)) / 1e9;
        row.decodeKernelOnlyGBps =
          (await bestThroughput(() => simd.multiplyResidentForBenchmark(decodeCoefficients, k, m, blockBytes), stripeDataBytes, trialSeconds, trials)) / 1e9;
      }
      rows.push(row);
    }
  }
  return rows;
}

export function formatEcBenchTable(rows: readonly Row[]): string {
  const gbps = (value: number | undefined) => (value === undefined ? '-' : value.toFixed(2));
  const table = [
    ['kernel', 'shape', 'block', 'encode GB/s', 'decode GB/s', 'encode kernel-only', 'decode kernel-only'],
    ...rows.map((row) => [
      row.kernel,
      row.shape,
      `${row.blockBytes / 1024} KiB`,
      gbps(row.encodeGBps),
      gbps(row.decodeGBps),
      gbps(row.encodeKernelOnlyGBps),
      gbps(row.decodeKernelOnlyGBps),
    ]),
  ];
  const widths = table[0]!.map((_, column) => Math.max(...table.map((cells) => cells[column]!.length)));
  // Text columns left-aligned, numbers right-aligned so decimal points line up.
  const isNumeric = (column: number) => column >= 3;
  return table
    .map((cells) => cells.map((cell, column) => (isNumeric(column) ? cell.padStart(widths[column]!) : cell.padEnd(widths[column]!))).join('  ').trimEnd())
    .join('\n');
}

const invokedDirectly = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (invokedDirectly) {
  const rows = await runEcBench();
  console.log(`erasure code throughput, GB/s of data (k x block) per second, one core, node ${process.version}`);
  console.log(formatEcBenchTable(rows));
}
