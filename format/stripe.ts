// Erasure-coded stripes: building them (mkfs fills k data buckets, then seals the stripe by
// writing parity once: a stripe is never updated in place, so there is no write hole) and
// reading through them (rebuilding any byte range of a block from the other blocks, each
// checked against the stripe's chunk checksums first, so a bad block is never used as a source).
import type { Checksummer } from './checksum.js';
import { encode, reconstructInto } from './ec/reed-solomon.js';
import type { Ptr, Stripe } from './keys.js';

export const STRIPE_ALGORITHM_RS_CAUCHY = 1;

/** Chunk size of stripe block checksums: at most 64 chunks per block, at least 4 KiB. */
export function checksumGranularityBits(bucketSize: number): number {
  return Math.max(12, Math.log2(bucketSize) - 6);
}

export function blockChecksums(block: Uint8Array, bits: number, type: number, checksums: Checksummer): bigint[] {
  const chunk = 1 << bits;
  const out: bigint[] = [];
  for (let at = 0; at < block.length; at += chunk) out.push(checksums.compute(type, block.subarray(at, at + chunk)));
  return out;
}

/** Where the data of a stripe under construction goes; sealed into parity and a stripe key. */
export interface StripeTarget {
  id: number;
  /** member and bucket of each data block, then each parity block */
  blocks: Array<{ member: number; bucket: number }>;
  buffers: Buffer[];
  /** data block being filled and how far */
  block: number;
  fill: number;
}

export interface StripeSink {
  /** k data buckets then m parity buckets, all on distinct members, for stripe `id` */
  takeStripeBuckets(id: number, k: number, m: number): Array<{ member: number; bucket: number; generation: number }>;
  write(member: number, offset: number, bytes: Buffer): void;
}

/**
 * Lays data out in stripes of k data blocks and m parity blocks of one bucket each. Extents
 * never straddle two blocks. `seal` computes parity over the whole (zero-padded) data blocks.
 */
export class StripeBuilder {
  private current: (StripeTarget & { generations: number[] }) | undefined;
  readonly sealed: Array<{ id: number; stripe: Stripe }> = [];

  constructor(
    readonly k: number,
    readonly m: number,
    private readonly bucketSize: number,
    private readonly blockSize: number,
    private readonly checksumType: number,
    private readonly checksums: Checksummer,
    private readonly sink: StripeSink,
    private nextId: number,
  ) {}

  get nextStripeId(): number {
    return this.nextId;
  }

  /** Place stored bytes; returns the pointer to them and the stripe block they are in. */
  place(stored: Buffer): { pointer: Ptr; stripeId: number; block: number } {
    const size = Math.ceil(stored.length / this.blockSize) * this.blockSize;
    if (size > this.bucketSize) throw new RangeError(`extent of ${size} bytes exceeds a stripe block`);
    let s = this.current;
    if (s && s.fill + size > this.bucketSize) {
      s.block++;
      s.fill = 0;
      if (s.block === this.k) {
        this.seal();
        s = undefined;
      }
    }
    if (!s) s = this.open();
    const where = s.blocks[s.block]!;
    stored.copy(s.buffers[s.block]!, s.fill);
    const pointer = { member: where.member, generation: s.generations[s.block]!, offset: where.bucket * this.bucketSize + s.fill };
    s.fill += size;
    return { pointer, stripeId: s.id, block: s.block };
  }

  private open(): StripeTarget & { generations: number[] } {
    const id = this.nextId++;
    const taken = this.sink.takeStripeBuckets(id, this.k, this.m);
    this.current = {
      id,
      blocks: taken.map((t) => ({ member: t.member, bucket: t.bucket })),
      generations: taken.map((t) => t.generation),
      buffers: Array.from({ length: this.k }, () => Buffer.alloc(this.bucketSize)),
      block: 0,
      fill: 0,
    };
    return this.current;
  }

  /** Write the open stripe's data and parity blocks and record its stripe key value. */
  seal(): void {
    const s = this.current;
    if (!s) return;
    this.current = undefined;
    const parity = encode(this.k, this.m, s.buffers).map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength));
    const all = [...s.buffers, ...parity];
    all.forEach((buf, i) => this.sink.write(s.blocks[i]!.member, s.blocks[i]!.bucket * this.bucketSize, buf));
    const bits = checksumGranularityBits(this.bucketSize);
    this.sealed.push({
      id: s.id,
      stripe: {
        algorithm: STRIPE_ALGORITHM_RS_CAUCHY, dataBlocks: this.k, parityBlocks: this.m, checksumType: this.checksumType,
        checksumGranularityBits: bits, blockSize: this.bucketSize,
        pointers: s.blocks.map((b, i) => ({ member: b.member, generation: s.generations[i]!, offset: b.bucket * this.bucketSize })),
        checksums: all.map((buf) => blockChecksums(buf, bits, this.checksumType, this.checksums)),
      },
    });
  }
}

/**
 * Rebuild bytes [from, from + length) of block `want`. `readBlock(i, start, len)` returns the
 * bytes of block i or throws when they cannot be read. Every source range is widened to whole
 * checksum chunks and verified; a block failing any chunk counts as erased. Throws when more
 * than m blocks are unusable.
 */
export function rebuildRange(stripe: Stripe, want: number, from: number, length: number, readBlock: (i: number, start: number, len: number) => Buffer, checksums: Checksummer): Buffer {
  const chunk = 1 << stripe.checksumGranularityBits;
  const start = Math.floor(from / chunk) * chunk;
  const end = Math.min(stripe.blockSize, Math.ceil((from + length) / chunk) * chunk);
  const total = stripe.dataBlocks + stripe.parityBlocks;
  const blocks: Buffer[] = [];
  const erased: number[] = [];
  for (let i = 0; i < total; i++) {
    if (i === want) {
      blocks.push(Buffer.alloc(end - start));
      erased.push(i);
      continue;
    }
    let bytes: Buffer | undefined;
    try {
      bytes = readBlock(i, start, end - start);
      for (let at = 0; at < bytes.length; at += chunk) {
        const c = (start + at) / chunk;
        if (checksums.compute(stripe.checksumType, bytes.subarray(at, at + chunk)) !== stripe.checksums[i]![c]) {
          bytes = undefined;
          break;
        }
      }
    } catch {
      bytes = undefined;
    }
    if (bytes) blocks.push(bytes);
    else {
      blocks.push(Buffer.alloc(end - start));
      erased.push(i);
    }
  }
  reconstructInto(stripe.dataBlocks, stripe.parityBlocks, blocks, erased);
  return blocks[want]!.subarray(from - start, from - start + length);
}

/** Blocks of a stripe whose chunk checksums fail or that cannot be read, and whether parity agrees with data. */
export function checkStripe(stripe: Stripe, readBlock: (i: number) => Buffer, checksums: Checksummer): { bad: number[]; parityMatches: boolean | undefined } {
  const total = stripe.dataBlocks + stripe.parityBlocks;
  const blocks: Array<Buffer | undefined> = [];
  const bad: number[] = [];
  for (let i = 0; i < total; i++) {
    let b: Buffer | undefined;
    try {
      b = readBlock(i);
      const sums = blockChecksums(b, stripe.checksumGranularityBits, stripe.checksumType, checksums);
      if (sums.some((s, c) => s !== stripe.checksums[i]![c])) b = undefined;
    } catch {
      b = undefined;
    }
    if (!b) bad.push(i);
    blocks.push(b);
  }
  if (bad.length > 0) return { bad, parityMatches: undefined };
  const parity = encode(stripe.dataBlocks, stripe.parityBlocks, blocks.slice(0, stripe.dataBlocks) as Buffer[]);
  const parityMatches = parity.every((p, j) => Buffer.from(p.buffer, p.byteOffset, p.byteLength).equals(blocks[stripe.dataBlocks + j]!));
  return { bad, parityMatches };
}
