// Checksum algorithms by persistent id. crc32c is computed natively (@node-rs/crc32) with a
// pure-JS fallback; xxhash64 through a WASM build loaded once. Values are stored in 64-bit
// fields: crc32c zero-extended.
import { createRequire } from 'node:module';

export const CSUM = { none: 0, crc32c: 1, xxhash64: 2 } as const;
export type ChecksumType = (typeof CSUM)[keyof typeof CSUM];
export const CSUM_NAMES: Record<number, string> = { 0: 'none', 1: 'crc32c', 2: 'xxhash64' };

export function checksumTypeFromName(name: string): ChecksumType | undefined {
  return (CSUM as Record<string, ChecksumType>)[name];
}

type Crc32c = (data: Uint8Array, initial?: number) => number;
type Xxh64 = (data: Uint8Array, seed?: bigint) => bigint;

export interface Checksummer {
  /** checksum of `data` with algorithm `type`; the result always fits in 64 bits */
  compute(type: number, data: Uint8Array): bigint;
  crc32c: Crc32c;
}

const require = createRequire(import.meta.url);

function loadCrc32c(): Crc32c {
  try {
    const native = require('@node-rs/crc32') as { crc32c: (d: Uint8Array, init?: number) => number };
    return (d, init) => native.crc32c(d, init ?? 0);
  } catch {
    const js = require('crc-32/crc32c') as { buf: (d: Uint8Array, seed?: number) => number };
    // crc-32 returns a signed 32-bit value
    return (d, init) => js.buf(d, init ?? 0) >>> 0;
  }
}

let cached: Promise<Checksummer> | undefined;

/** Load the checksum implementations once per process (the WASM module is a cache, not state). */
export function loadChecksummer(): Promise<Checksummer> {
  cached ??= (async () => {
    const crc32c = loadCrc32c();
    const { default: xxhash } = await import('xxhash-wasm');
    const api = await xxhash();
    const xxh64: Xxh64 = (d, seed) => api.h64Raw(d, seed ?? 0n);
    return {
      crc32c,
      compute(type: number, data: Uint8Array): bigint {
        switch (type) {
          case CSUM.none: return 0n;
          case CSUM.crc32c: return BigInt(crc32c(data));
          case CSUM.xxhash64: return xxh64(data);
          default: throw new RangeError(`unknown checksum type ${type}`);
        }
      },
    };
  })();
  return cached;
}
