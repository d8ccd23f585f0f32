// How file data becomes stored chunks, shared by mkfs and the writer so both store the same
// bytes the same way: all-zero blocks are holes, a chunk is compressed only when that saves at
// least one block, and the checksum covers exactly the stored bytes.
import type { Checksummer } from './checksum.js';
import { COMPRESSION, type Compressor } from './compress.js';

const zeroBlocks = new Map<number, Buffer>();
function zeroBlock(size: number): Buffer {
  let z = zeroBlocks.get(size);
  if (!z) zeroBlocks.set(size, (z = Buffer.alloc(size)));
  return z;
}

/** [start, end) ranges of `data` that are not whole zero blocks, block-aligned within `data`. */
export function dataRuns(data: Buffer, blockSize: number): Array<[number, number]> {
  const zero = zeroBlock(blockSize);
  const runs: Array<[number, number]> = [];
  let runStart = -1;
  for (let at = 0; at < data.length; at += blockSize) {
    const end = Math.min(data.length, at + blockSize);
    const isZero = end - at === blockSize ? data.subarray(at, end).equals(zero) : data.subarray(at, end).equals(zero.subarray(0, end - at));
    if (isZero) {
      if (runStart >= 0) runs.push([runStart, at]);
      runStart = -1;
    } else if (runStart < 0) runStart = at;
  }
  if (runStart >= 0) runs.push([runStart, data.length]);
  return runs;
}

export interface PackedChunk {
  stored: Buffer;
  compression: number;
  checksum: bigint;
}

export function packChunk(data: Buffer, compression: number, level: number, checksumType: number, blockSize: number, compressor: Compressor, checksums: Checksummer): PackedChunk {
  let stored = data;
  let used: number = COMPRESSION.none;
  if (compression === COMPRESSION.zstd && data.length > blockSize) {
    const packed = compressor.compress(COMPRESSION.zstd, data, level);
    if (Math.ceil(packed.length / blockSize) < Math.ceil(data.length / blockSize)) {
      stored = packed;
      used = COMPRESSION.zstd;
    }
  }
  return { stored, compression: used, checksum: checksums.compute(checksumType, stored) };
}
