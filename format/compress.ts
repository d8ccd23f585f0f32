// Compression algorithms by persistent id. zstd compression always goes through the same WASM
// build (@bokuweb/zstd-wasm, zstd 1.5) so that a given strata version writes identical bytes on
// every runtime: reproducible images need a deterministic compressor. Decompression uses
// node:zlib's zstd when the runtime has it (Node >= 22.15) and the WASM build otherwise; both
// decode the same frames. node:zlib is loaded with the rest, by the images that have zstd.

export const COMPRESSION = { none: 0, zstd: 1 } as const;
export type CompressionType = (typeof COMPRESSION)[keyof typeof COMPRESSION];
export const COMPRESSION_NAMES: Record<number, string> = { 0: 'none', 1: 'zstd' };
export const ZSTD_DEFAULT_LEVEL = 3;
export const ZSTD_MAX_LEVEL = 19;

export interface Compressor {
  compress(type: number, data: Uint8Array, level: number): Buffer;
  /** decompress exactly `expectedSize` bytes; throws when the frame is damaged or sized otherwise */
  decompress(type: number, data: Uint8Array, expectedSize: number): Buffer;
}

/** For images without the zstd feature: a zstd extent there is corruption, reported as such. */
export const uncompressedOnly: Compressor = {
  compress(type, data) {
    if (type !== COMPRESSION.none) throw new RangeError('this image does not have the zstd feature');
    return Buffer.from(data);
  },
  decompress(type, data, expectedSize) {
    if (type !== COMPRESSION.none) throw new RangeError(`extent claims compression ${type}, but the image does not have the zstd feature`);
    if (data.length < expectedSize) throw new RangeError(`stored ${data.length} bytes, expected ${expectedSize}`);
    return Buffer.from(data.buffer, data.byteOffset, expectedSize);
  },
};

let cached: Promise<Compressor> | undefined;

export function loadCompressor(): Promise<Compressor> {
  cached ??= (async () => {
    const zstd = await import('@bokuweb/zstd-wasm');
    await zstd.init();
    const { default: zlib } = await import('node:zlib');
    const nativeDecompress = (zlib as unknown as { zstdDecompressSync?: (b: Uint8Array, o?: object) => Buffer }).zstdDecompressSync;
    return {
      compress(type, data, level) {
        if (type === COMPRESSION.none) return Buffer.from(data);
        if (type !== COMPRESSION.zstd) throw new RangeError(`unknown compression type ${type}`);
        const out = zstd.compress(data, level);
        return Buffer.from(out.buffer, out.byteOffset, out.byteLength);
      },
      decompress(type, data, expectedSize) {
        if (type === COMPRESSION.none) {
          if (data.length < expectedSize) throw new RangeError(`stored ${data.length} bytes, expected ${expectedSize}`);
          return Buffer.from(data.buffer, data.byteOffset, expectedSize);
        }
        if (type !== COMPRESSION.zstd) throw new RangeError(`unknown compression type ${type}`);
        let out: Uint8Array;
        if (nativeDecompress) {
          out = nativeDecompress(data, { maxOutputLength: expectedSize });
        } else {
          // The WASM decoder trusts the frame's content size; refuse frames that claim more than
          // the extent says, so a hostile frame cannot make it allocate beyond the extent bound.
          const claimed = frameContentSize(data);
          if (claimed !== expectedSize) throw new RangeError(`zstd frame holds ${claimed} bytes, extent says ${expectedSize}`);
          out = zstd.decompress(data);
        }
        if (out.length !== expectedSize) throw new RangeError(`decompressed ${out.length} bytes, expected ${expectedSize}`);
        return Buffer.from(out.buffer, out.byteOffset, out.byteLength);
      },
    };
  })();
  return cached;
}

/** Frame_Content_Size of a single zstd frame (RFC 8878 section 3.1.1.1), or -1 when absent. */
export function frameContentSize(frame: Uint8Array): number {
  if (frame.length < 6 || frame[0] !== 0x28 || frame[1] !== 0xb5 || frame[2] !== 0x2f || frame[3] !== 0xfd) return -1;
  const descriptor = frame[4]!;
  const fcsFlag = descriptor >> 6;
  const singleSegment = (descriptor >> 5) & 1;
  const dictIdFlag = descriptor & 3;
  let at = 5 + (singleSegment ? 0 : 1) + [0, 1, 2, 4][dictIdFlag]!;
  const fcsBytes = [singleSegment ? 1 : 0, 2, 4, 8][fcsFlag]!;
  if (fcsBytes === 0 || at + fcsBytes > frame.length) return -1;
  const view = Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength);
  switch (fcsBytes) {
    case 1: return view[at]!;
    case 2: return view.readUInt16LE(at) + 256;
    case 4: return view.readUInt32LE(at);
    default: {
      const v = view.readBigUInt64LE(at);
      return v > BigInt(Number.MAX_SAFE_INTEGER) ? -1 : Number(v);
    }
  }
}
