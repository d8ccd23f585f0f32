// Bucket usage of an open, writable image and allocation of new space.
//
// Invariants:
// - `used[b]` is what the alloc btree will say after the next checkpoint: the sum of
//   `extentUsage` over live extent keys, node_size per live node copy, the whole bucket for
//   journal and superblock buckets. Key updates adjust it through `applyExtentTrigger` (at run
//   time and during journal replay alike), checkpoints through node placement and release.
// - A bucket whose usage drops to zero in this epoch is not handed out again until the next
//   checkpoint is durable (`endEpoch`): the last checkpoint's metadata may still point into it.
// - Allocation only appends to buckets opened in this session; a bucket with live data from an
//   earlier session is never appended to, because its fill level after a crash is unknown.
// - Reusing a bucket bumps its generation, so a pointer written before the reuse is stale.
import { CorruptImageError, OperationalError } from './errors.js';
import { BUCKET_DATA, FIRST_USABLE_BUCKET } from './layout.js';
import { ALLOC_AT, type AllocInfo, allocValueDecodes, type ExtentBody, type Key, KEY_OPS, ops } from './keys.js';
import { KEY_TYPE } from './layout.js';
import type { FsInfo } from './superblock.js';
import type { Ptr } from './keys.js';

/** The bytes of one copy that an extent body keeps in use, per pointer. */
export function extentUsage(body: ExtentBody, blockSize: number): Array<{ member: number; offset: number; bytes: number; generation: number }> {
  const start = usedStart(body, blockSize);
  const end = usedEnd(body, blockSize);
  return body.pointers.map((p) => ({ member: p.member, offset: p.offset + start, bytes: end - start, generation: p.generation }));
}

/** Where the bytes of a copy in use start, from its pointer: uncompressed, only the blocks holding the live range count, so trimming frees space. */
export function usedStart(e: Pick<ExtentBody, 'compression' | 'chunkOffset'>, blockSize: number): number {
  return e.compression === 0 ? Math.floor(e.chunkOffset / blockSize) * blockSize : 0;
}

/** Where the bytes of a copy in use end, from its pointer: compressed, the whole stored chunk. */
export function usedEnd(e: Pick<ExtentBody, 'compression' | 'chunkOffset' | 'liveSize' | 'storedSize'>, blockSize: number): number {
  return Math.ceil((e.compression === 0 ? e.chunkOffset + e.liveSize : e.storedSize) / blockSize) * blockSize;
}

/** The extent body of a key that holds data pointers (extent or indirect extent), if any. */
export function keyExtentBody(key: Key): ExtentBody | undefined {
  if (key.type === KEY_TYPE.extent) return ops.extent.decode(key.value);
  if (key.type === KEY_TYPE.indirectExtent) return ops.indirectExtent.decode(key.value).body;
  return undefined;
}

interface MemberUsage {
  generation: Uint32Array;
  dataType: Uint8Array;
  used: Float64Array;
  stripe: Float64Array;
  /** buckets whose usage fell to zero in this epoch */
  freedThisEpoch: Set<number>;
  /** buckets opened for appending in this session: bucket -> bytes handed out */
  openFill: Map<number, number>;
  /** open bucket per data type */
  open: Map<number, number>;
  /** where the search for a free bucket resumes */
  cursor: number;
  /** free buckets, kept current so member choice costs O(members) */
  free: number;
}

export class Space {
  private readonly members: MemberUsage[];

  constructor(private readonly fs: FsInfo, private readonly present: (member: number) => boolean) {
    this.members = fs.members.map((m) => ({
      generation: new Uint32Array(m.bucketCount),
      dataType: new Uint8Array(m.bucketCount),
      used: new Float64Array(m.bucketCount),
      stripe: new Float64Array(m.bucketCount),
      freedThisEpoch: new Set(),
      openFill: new Map(),
      open: new Map(),
      cursor: FIRST_USABLE_BUCKET,
      free: 0,
    }));
  }

  /** Call once after the alloc keys are loaded. */
  finishLoad(): void {
    for (const m of this.members) m.free = countFree(m);
  }

  get bucketSize(): number {
    return this.fs.bucketSize;
  }

  /**
   * Load one alloc key (the last checkpoint's view), its value read in place: bytes[at, end).
   * A damaged alloc key is skipped: usage is rebuildable, and fsck recounts it.
   */
  loadAllocValue(member: number, bucket: number, bytes: Buffer, at: number, end: number): void {
    const m = this.members[member];
    if (!m || bucket >= m.dataType.length || !allocValueDecodes(bytes, at, end)) return;
    m.generation[bucket] = bytes.readUInt32LE(at + ALLOC_AT.generation);
    m.dataType[bucket] = bytes[at + ALLOC_AT.dataType]!;
    m.used[bucket] = bytes.readUInt32LE(at + ALLOC_AT.usedBytes);
    m.stripe[bucket] = bytes.readUInt32LE(at + ALLOC_AT.stripeId) + bytes.readUInt32LE(at + ALLOC_AT.stripeId + 4) * 2 ** 32;
  }

  generation(member: number, bucket: number): number {
    return this.members[member]?.generation[bucket] ?? 0;
  }

  private bucketOf(offset: number): number {
    return Math.floor(offset / this.fs.bucketSize);
  }

  /** Count `bytes` at `offset` as used (+) or released (-) by a key or node. */
  adjust(member: number, offset: number, bytes: number, dataType: number, generation?: number): void {
    const m = this.members[member];
    if (!m) return;
    const b = this.bucketOf(offset);
    if (b >= m.used.length) return;
    const wasFree = m.dataType[b] === BUCKET_DATA.free && m.used[b] === 0;
    m.used[b] = Math.max(0, m.used[b]! + bytes);
    if (bytes > 0) {
      // Journal replay meets buckets reused after the last checkpoint: their pointers carry the
      // newer generation.
      if (generation !== undefined && generation > m.generation[b]!) m.generation[b] = generation;
      if (wasFree) m.free--;
      m.dataType[b] = dataType;
      m.freedThisEpoch.delete(b);
    } else if (m.used[b] === 0 && !m.openFill.has(b) && m.stripe[b] === 0 && (m.dataType[b] === BUCKET_DATA.user || m.dataType[b] === BUCKET_DATA.btree)) {
      m.dataType[b] = BUCKET_DATA.free;
      m.freedThisEpoch.add(b);
      m.free++;
    }
  }

  /** Usage change of replacing key `old` by key `next` (either may be absent) in a data btree. */
  applyExtentTrigger(old: Key | undefined, next: Key | undefined): void {
    const bs = this.fs.blockSize;
    for (const [key, sign] of [[old, -1], [next, 1]] as const) {
      if (!key) continue;
      let body: ExtentBody | undefined;
      try {
        body = keyExtentBody(key);
      } catch (err) {
        // A damaged extent key keeps no space (fsck deletes it and recounts usage).
        if (err instanceof CorruptImageError) continue;
        throw err;
      }
      if (!body) continue;
      for (const u of extentUsage(body, bs)) this.adjust(u.member, u.offset, sign * u.bytes, BUCKET_DATA.user, u.generation);
    }
  }

  /** Members for `count` copies: present ones with the most free buckets, lowest index on ties. */
  pickMembers(count: number): number[] {
    const candidates = this.members
      .map((m, i) => ({ i, free: this.present(i) ? m.free : -1 }))
      .filter((c) => c.free >= 0)
      .sort((a, b) => b.free - a.free || a.i - b.i);
    if (candidates.length < count) throw new OperationalError('DEGRADED', `${count} copies needed but only ${candidates.length} members are present`);
    return candidates.slice(0, count).map((c) => c.i).sort((a, b) => a - b);
  }

  /** Allocate `bytes` (block-rounded) of `dataType` on `member`; returns a pointer with the bucket's generation. */
  allocate(member: number, dataType: number, bytes: number): Ptr {
    const bs = this.fs.blockSize;
    const size = Math.ceil(bytes / bs) * bs;
    if (size > this.fs.bucketSize) throw new RangeError(`allocation of ${size} bytes exceeds a ${this.fs.bucketSize}-byte bucket`);
    const m = this.members[member]!;
    let bucket = m.open.get(dataType);
    if (bucket === undefined || m.openFill.get(bucket)! + size > this.fs.bucketSize) {
      bucket = this.takeFreeBucket(member, dataType);
      m.open.set(dataType, bucket);
      m.openFill.set(bucket, 0);
    }
    const offset = bucket * this.fs.bucketSize + m.openFill.get(bucket)!;
    m.openFill.set(bucket, m.openFill.get(bucket)! + size);
    return { member, generation: m.generation[bucket]!, offset };
  }

  /** A whole free bucket, its generation bumped, typed `dataType` (usage still 0). */
  takeFreeBucket(member: number, dataType: number): number {
    const m = this.members[member]!;
    const info = this.fs.members[member]!;
    const journalEnd = info.journalBucket + info.journalBuckets;
    const n = m.dataType.length;
    for (let step = 0; step < n; step++) {
      const b = FIRST_USABLE_BUCKET + ((m.cursor - FIRST_USABLE_BUCKET + step) % (n - FIRST_USABLE_BUCKET));
      if (b >= info.journalBucket && b < journalEnd && info.journalBuckets > 0) continue;
      if (m.dataType[b] !== BUCKET_DATA.free || m.used[b] !== 0 || m.freedThisEpoch.has(b) || m.openFill.has(b)) continue;
      m.cursor = b + 1;
      m.free--;
      m.generation[b] = (m.generation[b]! + 1) >>> 0;
      m.dataType[b] = dataType;
      return b;
    }
    throw new OperationalError('ENOSPC', `member ${member} is full: no free bucket left`, 'free space with strata rm, or make a larger image');
  }

  /** `count` whole free buckets typed btree, usage 0, generations bumped (alloc btree nodes). */
  takeWholeBuckets(member: number, count: number): number[] {
    return Array.from({ length: count }, () => this.takeFreeBucket(member, BUCKET_DATA.btree));
  }

  addUsed(member: number, bucket: number, bytes: number): void {
    this.adjust(member, bucket * this.fs.bucketSize, bytes, BUCKET_DATA.btree);
  }

  /** Close every open bucket (before a checkpoint writes the alloc btree). */
  closeOpenBuckets(): void {
    for (const m of this.members) {
      for (const [b] of m.openFill) {
        if (m.used[b] === 0 && (m.dataType[b] === BUCKET_DATA.user || m.dataType[b] === BUCKET_DATA.btree)) {
          m.dataType[b] = BUCKET_DATA.free;
          m.freedThisEpoch.add(b);
          m.free++;
        }
      }
      m.openFill.clear();
      m.open.clear();
    }
  }

  /** The checkpoint is durable: space freed before it may be reused. */
  endEpoch(): void {
    for (const m of this.members) m.freedThisEpoch.clear();
  }

  /** Alloc keys for every bucket that is in use or has a generation. */
  allocKeys(): Key[] {
    const keys: Key[] = [];
    this.members.forEach((m, member) => {
      for (let b = 0; b < m.dataType.length; b++) {
        const typ = m.used[b] === 0 && m.stripe[b] === 0 && (m.dataType[b] === BUCKET_DATA.user || m.dataType[b] === BUCKET_DATA.btree) && !m.openFill.has(b) ? BUCKET_DATA.free : m.dataType[b]!;
        if (typ === BUCKET_DATA.free && m.generation[b] === 0) continue;
        keys.push({
          inode: member, offset: b, snapshot: 0, type: KEY_TYPE.alloc,
          value: KEY_OPS[KEY_TYPE.alloc].encode({ generation: m.generation[b]!, dataType: typ, usedBytes: typ === BUCKET_DATA.free ? 0 : m.used[b]!, stripeId: m.stripe[b]! }),
        });
      }
    });
    return keys;
  }

  /** What the alloc btree would say about one bucket after the next checkpoint. */
  bucketInfo(member: number, bucket: number): AllocInfo {
    const m = this.members[member];
    if (!m || bucket >= m.dataType.length) return { generation: 0, dataType: BUCKET_DATA.free, usedBytes: 0, stripeId: 0 };
    const free = m.used[bucket] === 0 && (m.dataType[bucket] === BUCKET_DATA.user || m.dataType[bucket] === BUCKET_DATA.btree) && !m.openFill.has(bucket);
    return { generation: m.generation[bucket]!, dataType: free ? BUCKET_DATA.free : m.dataType[bucket]!, usedBytes: free ? 0 : m.used[bucket]!, stripeId: m.stripe[bucket]! };
  }

  /**
   * Replace the usage of every bucket by a recount (fsck). A bucket that was in use and is free
   * in the recount stays unallocatable until the next checkpoint is durable: the last
   * checkpoint's metadata may still point into it.
   */
  replaceUsage(recount: (member: number, bucket: number) => AllocInfo): void {
    this.members.forEach((m, member) => {
      for (let b = 0; b < m.dataType.length; b++) {
        const next = recount(member, b);
        const wasInUse = m.used[b]! > 0 || m.dataType[b] !== BUCKET_DATA.free;
        if (wasInUse && next.usedBytes === 0 && next.dataType === BUCKET_DATA.free) m.freedThisEpoch.add(b);
        m.generation[b] = next.generation;
        m.dataType[b] = next.dataType;
        m.used[b] = next.usedBytes;
        m.stripe[b] = next.stripeId;
      }
      m.free = countFree(m);
    });
  }

  /** Bytes counted in use in one bucket (for checks that recount usage). */
  usedBytes(member: number, bucket: number): number {
    return this.members[member]?.used[bucket] ?? 0;
  }

  freeBuckets(member: number): number {
    return this.members[member]!.free;
  }
}

function countFree(m: MemberUsage): number {
  let n = 0;
  for (let b = FIRST_USABLE_BUCKET; b < m.dataType.length; b++) if (m.dataType[b] === BUCKET_DATA.free && m.used[b] === 0) n++;
  return n;
}
