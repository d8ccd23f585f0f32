// Bucket space of all members during a bulk build (mkfs): which buckets hold what, how many
// bytes of each are referenced, and the open bucket of each kind per member. Allocation is
// sequential per member, which makes mkfs output deterministic and its writes sequential.
import { OperationalError } from './errors.js';
import { BUCKET_DATA, FIRST_USABLE_BUCKET, type BtreeId } from './layout.js';
import type { AllocInfo, Key } from './keys.js';
import { KEY_TYPE } from './layout.js';
import { ops } from './keys.js';

interface MemberSpace {
  /** fixed bucket count, or undefined while the member may still grow */
  limit: number | undefined;
  dataType: number[];
  usedBytes: number[];
  stripeId: number[];
  nextFree: number;
  /** open bucket per data type: [bucket, bytes handed out] */
  open: Map<number, { bucket: number; fill: number }>;
}

export class BucketSpace {
  private readonly members: MemberSpace[];

  constructor(
    readonly bucketSize: number,
    readonly blockSize: number,
    limits: Array<number | undefined>,
  ) {
    this.members = limits.map((limit) => ({
      limit,
      dataType: [BUCKET_DATA.superblock],
      usedBytes: [bucketSize],
      stripeId: [0],
      nextFree: FIRST_USABLE_BUCKET,
      open: new Map(),
    }));
  }

  get memberCount(): number {
    return this.members.length;
  }

  /** Buckets handed out so far on `member` (including bucket 0). */
  usedBuckets(member: number): number {
    return this.members[member]!.nextFree;
  }

  /** Take `count` whole fresh buckets of `dataType`; returns the first bucket index. */
  takeBuckets(member: number, dataType: number, count: number, countAsUsed = true): number {
    const m = this.members[member]!;
    const first = m.nextFree;
    if (m.limit !== undefined && first + count > m.limit) throw this.noSpace(member);
    for (let i = 0; i < count; i++) {
      m.dataType[first + i] = dataType;
      m.usedBytes[first + i] = countAsUsed ? this.bucketSize : 0;
      m.stripeId[first + i] = 0;
    }
    m.nextFree += count;
    return first;
  }

  /** Allocate `bytes` (rounded up to blocks) in the open bucket of `dataType`; returns the byte offset. */
  allocate(member: number, dataType: number, bytes: number): number {
    const size = Math.ceil(bytes / this.blockSize) * this.blockSize;
    if (size > this.bucketSize) throw new RangeError(`allocation of ${size} bytes exceeds a bucket`);
    const m = this.members[member]!;
    let open = m.open.get(dataType);
    if (!open || open.fill + size > this.bucketSize) {
      open = { bucket: this.takeBuckets(member, dataType, 1, false), fill: 0 };
      m.open.set(dataType, open);
    }
    const offset = open.bucket * this.bucketSize + open.fill;
    open.fill += size;
    m.usedBytes[open.bucket]! += size;
    return offset;
  }

  /** `count` whole fresh buckets of type btree, usage 0 (for the alloc btree's own nodes). */
  takeWholeBuckets(member: number, count: number): number[] {
    const first = this.takeBuckets(member, BUCKET_DATA.btree, count, false);
    return Array.from({ length: count }, (_, i) => first + i);
  }

  setStripe(member: number, bucket: number, stripeId: number): void {
    this.members[member]!.stripeId[bucket] = stripeId;
  }

  /** Count `bytes` more as referenced in `bucket` (nodes placed into reserved buckets). */
  addUsed(member: number, bucket: number, bytes: number): void {
    this.members[member]!.usedBytes[bucket]! += bytes;
  }

  /** Stop counting an allocation that ended up unreferenced. */
  release(member: number, offset: number, bytes: number): void {
    const bucket = Math.floor(offset / this.bucketSize);
    const size = Math.ceil(bytes / this.blockSize) * this.blockSize;
    this.members[member]!.usedBytes[bucket]! -= size;
  }

  /** Close the open bucket of `dataType` so the next allocation starts a fresh bucket. */
  closeOpen(member: number, dataType: number): void {
    this.members[member]!.open.delete(dataType);
  }

  /**
   * Members for `count` copies: the ones with the fewest used buckets, lowest index first on
   * ties, so placement is deterministic and spreads evenly.
   */
  pickMembers(count: number): number[] {
    const order = this.members.map((m, i) => ({ i, used: m.nextFree })).sort((a, b) => a.used - b.used || a.i - b.i);
    return order.slice(0, count).map((x) => x.i).sort((a, b) => a - b);
  }

  /** Grow an unbounded member's bucket count to its final value. */
  finalBucketCount(member: number, freeRoom: (used: number) => number): number {
    const m = this.members[member]!;
    return m.limit ?? m.nextFree + freeRoom(m.nextFree);
  }

  /** Alloc btree keys for every bucket in use, sorted by (member, bucket). */
  allocKeys(): Key[] {
    const keys: Key[] = [];
    this.members.forEach((m, member) => {
      for (let b = 0; b < m.nextFree; b++) {
        const dataType = m.dataType[b] ?? BUCKET_DATA.free;
        // A data or node bucket whose every allocation was released is free again, unless it is
        // a block of a stripe (its zeros are part of the parity).
        if (dataType === BUCKET_DATA.free || (!m.usedBytes[b] && !m.stripeId[b])) continue;
        const info: AllocInfo = { generation: 0, dataType, usedBytes: m.usedBytes[b] ?? 0, stripeId: m.stripeId[b] ?? 0 };
        keys.push({ inode: member, offset: b, snapshot: 0, type: KEY_TYPE.alloc, value: ops.alloc.encode(info) });
      }
    });
    return keys;
  }

  private noSpace(member: number): OperationalError {
    return new OperationalError('ENOSPC', `member ${member} is full: no free bucket of ${this.bucketSize} bytes left`, 'give a larger --size, or omit it to size the image to its content');
  }
}

export type { BtreeId };
