// The usage every bucket should have, recounted from what is reachable, by the rule the alloc
// btree records (docs/FORMAT.md, Allocation): bucket 0 and the journal ring whole; node_size
// per node copy; format/space.ts extentUsage per extent and indirect extent pointer; a stripe's
// parity blocks whole, and its blocks' stripe id. Only pointers to valid places count
// (fsck-space.ts): the extents pass drops the others. Optionally records every claim on member
// space so that two live things in one byte range can be found.
import { keyExtentBody, extentUsage, usedEnd, usedStart } from '../format/space.js';
import { keyAt } from '../format/btree/node.js';
import { CorruptImageError } from '../format/errors.js';
import { BTREE, BUCKET_DATA, KEY_TYPE } from '../format/layout.js';
import { type ExtentBody, ExtentFields, extentSizesProblem, type Key, ops, type Ptr } from '../format/keys.js';
import type { AllocInfo } from '../format/keys.js';
import type { Volume } from '../format/volume.js';
import type { FsInfo } from '../format/superblock.js';
import { GenerationVote, placeProblem, placeProblemAt } from './fsck-space.js';
import type { ExtentRuns } from './fsck-state.js';
import { grown } from './columns.js';

/** What a claim on member space belongs to. */
export const CLAIM = { superblock: 0, journal: 1, node: 2, extent: 3, indirect: 4, parity: 5 } as const;

/**
 * Claims on member space, one row each: member byte range [start, end) and its owner. `a`, `b`,
 * `c` by kind: node: index in the node list; extent: inode, key end offset, pointer index;
 * indirect: 0, key end, pointer index; parity: stripe id, block index. Columns, no object per
 * claim: an image has a claim per extent copy.
 */
export class Claims {
  count = 0;
  member: Float64Array;
  start: Float64Array;
  end: Float64Array;
  kind: Float64Array;
  a: Float64Array;
  b: Float64Array;
  c: Float64Array;

  constructor(capacity = 256) {
    this.member = new Float64Array(capacity);
    this.start = new Float64Array(capacity);
    this.end = new Float64Array(capacity);
    this.kind = new Float64Array(capacity);
    this.a = new Float64Array(capacity);
    this.b = new Float64Array(capacity);
    this.c = new Float64Array(capacity);
  }

  add(member: number, start: number, end: number, kind: number, a = 0, b = 0, c = 0): void {
    if (this.count === this.member.length) this.grow();
    const i = this.count++;
    this.member[i] = member;
    this.start[i] = start;
    this.end[i] = end;
    this.kind[i] = kind;
    this.a[i] = a;
    this.b[i] = b;
    this.c[i] = c;
  }

  private grow(): void {
    const n = this.count + 1;
    this.member = grown(this.member, n);
    this.start = grown(this.start, n);
    this.end = grown(this.end, n);
    this.kind = grown(this.kind, n);
    this.a = grown(this.a, n);
    this.b = grown(this.b, n);
    this.c = grown(this.c, n);
  }

  /**
   * Row indices by member, then start, then row. Sorted as a plain array, whose sort takes runs
   * already in order as they are: extent claims mostly arrive in place order.
   */
  order(): number[] {
    const idx: number[] = new Array(this.count);
    for (let i = 0; i < this.count; i++) idx[i] = i;
    const { member, start } = this;
    return idx.sort((x, y) => member[x]! - member[y]! || start[x]! - start[y]! || x - y);
  }
}

export class Recount {
  readonly used: Float64Array[];
  readonly type: Uint8Array[];
  readonly stripe: Float64Array[];
  /** each bucket's generation, from its recorded one and the live pointers into it */
  readonly generations: GenerationVote;
  /** the extents btree as this recount read it, when the caller asked (the alloc pass, for the extents pass) */
  extentRuns: ExtentRuns | undefined;

  constructor(private readonly fs: FsInfo, recordedGeneration: (member: number, bucket: number) => number) {
    this.used = fs.members.map((m) => new Float64Array(m.bucketCount));
    this.type = fs.members.map((m) => new Uint8Array(m.bucketCount));
    this.stripe = fs.members.map((m) => new Float64Array(m.bucketCount));
    this.generations = new GenerationVote(fs, recordedGeneration);
  }

  add(member: number, offset: number, bytes: number, type: number, generation = 0): void {
    const b = Math.floor(offset / this.fs.bucketSize);
    const used = this.used[member];
    if (!used || b >= used.length) return;
    used[b] += bytes;
    // Metadata wins a bucket's type over data when both claim it (space shared: reported apart).
    if (this.type[member]![b] === BUCKET_DATA.free || type < this.type[member]![b]!) this.type[member]![b] = type;
    this.generations.vote(member, offset, generation);
  }

  /** Stop counting `bytes` at `offset` (space a repair abandons without a checkpoint releasing it). */
  release(member: number, offset: number, bytes: number): void {
    const b = Math.floor(offset / this.fs.bucketSize);
    const used = this.used[member];
    if (!used || b >= used.length) return;
    used[b] = Math.max(0, used[b]! - bytes);
    if (used[b] === 0) this.type[member]![b] = BUCKET_DATA.free;
  }

  info(member: number, bucket: number): { usedBytes: number; dataType: number; generation: number; stripeId: number } {
    return { usedBytes: this.used[member]![bucket]!, dataType: this.type[member]![bucket]!, generation: this.generations.generation(member, bucket), stripeId: this.stripe[member]![bucket]! };
  }

  /** The alloc value to record: the recount, with the generation never going down. */
  merged(member: number, bucket: number, recorded: AllocInfo): AllocInfo {
    const c = this.info(member, bucket);
    return { generation: Math.max(recorded.generation, c.generation), dataType: c.usedBytes > 0 ? c.dataType : BUCKET_DATA.free, usedBytes: c.usedBytes, stripeId: c.usedBytes > 0 || c.stripeId ? c.stripeId : 0 };
  }
}

export interface NodeCopy {
  member: number;
  offset: number;
  generation: number;
  /** index in the caller's node list, for naming it in claims */
  node: number;
  /** the copy decoded: a live thing there (a bad copy still holds its space until rewritten) */
  good: boolean;
}

/**
 * Recount usage of the volume's current state; node copies come from the caller. With `runs`,
 * also sums up the extents btree for the extents pass (ExtentRuns).
 */
export function recountUsage(vol: Volume, nodeCopies: Iterable<NodeCopy>, claims?: Claims, onKey?: () => void, runs?: ExtentRuns): Recount {
  const fs = vol.fs;
  const space = vol.space!;
  const r = new Recount(fs, (m, b) => space.generation(m, b));
  r.extentRuns = runs;
  const claim = (member: number, start: number, end: number, kind: number, a = 0, b = 0, c = 0) => claims?.add(member, start, end, kind, a, b, c);
  fs.members.forEach((m, member) => {
    r.add(member, 0, fs.bucketSize, BUCKET_DATA.superblock);
    claim(member, 0, fs.bucketSize, CLAIM.superblock);
    for (let b = m.journalBucket; m.journalBuckets > 0 && b < m.journalBucket + m.journalBuckets; b++) {
      r.add(member, b * fs.bucketSize, fs.bucketSize, BUCKET_DATA.journal);
    }
    if (m.journalBuckets > 0) claim(member, m.journalBucket * fs.bucketSize, (m.journalBucket + m.journalBuckets) * fs.bucketSize, CLAIM.journal);
  });
  for (const n of nodeCopies) {
    r.add(n.member, n.offset, fs.nodeSize, BUCKET_DATA.btree, n.generation);
    if (n.good) claim(n.member, n.offset, n.offset + fs.nodeSize, CLAIM.node, n.node);
  }
  // An extent key is read in place; an indirect extent, or an extent the reader does not take,
  // is decoded; other keys hold no pointers.
  const extent = new ExtentFields();
  for (const [btreeId, kind] of [[BTREE.extents, CLAIM.extent], [BTREE.reflink, CLAIM.indirect]] as const) {
    const keyRuns = btreeId === BTREE.extents ? runs : undefined;
    vol.trees[btreeId]!.visitAll((inode, offset, snapshot, type, bytes, valueAt, valueEnd) => {
      onKey?.();
      if (type === KEY_TYPE.extent && extent.read(bytes, valueAt, valueEnd)) {
        const start = usedStart(extent, fs.blockSize);
        const end = usedEnd(extent, fs.blockSize);
        // Every copy in a valid place with its bucket's recorded generation.
        let sound = true;
        for (let i = 0; i < extent.pointerCount; i++) {
          const member = extent.member[i]!;
          const at = extent.offset[i]!;
          if (placeProblemAt(fs, member, at, extent.storedSize)) {
            sound = false;
            continue;
          }
          if (extent.generation[i] !== space.generation(member, Math.floor(at / fs.bucketSize))) sound = false;
          r.add(member, at + start, end - start, BUCKET_DATA.user, extent.generation[i]);
          claims?.add(member, at + start, at + end, kind, inode, offset, i);
        }
        keyRuns?.add(inode, offset, extent.liveSize, sound && inode !== 0 && extent.liveSize <= offset && extent.stripeId === 0
          && extentSizesProblem(extent) === undefined && extent.membersDistinct());
        return;
      }
      keyRuns?.add(inode, offset, valueEnd - valueAt, inode !== 0 && type === KEY_TYPE.inlineData && valueEnd > valueAt && valueEnd - valueAt <= offset);
      if (type !== KEY_TYPE.extent && type !== KEY_TYPE.indirectExtent) return;
      const body = bodyOf(keyAt(inode, offset, snapshot, type, bytes, valueAt, valueEnd));
      if (!body) return;
      for (const [i, u] of extentUsage(body, fs.blockSize).entries()) {
        const p = body.pointers[i]!;
        if (placeProblem(fs, p, body.storedSize)) continue;
        r.add(u.member, u.offset, u.bytes, BUCKET_DATA.user, u.generation);
        claim(u.member, u.offset, u.offset + u.bytes, kind, inode, offset, i);
      }
    });
  }
  for (const k of vol.trees[BTREE.stripes]!.scan()) {
    onKey?.();
    if (k.type !== KEY_TYPE.stripe) continue;
    let pointers: Ptr[];
    let dataBlocks: number;
    try {
      const s = ops.stripe.decode(k.value);
      pointers = s.pointers;
      dataBlocks = s.dataBlocks;
    } catch (err) {
      if (err instanceof CorruptImageError) continue;
      throw err;
    }
    pointers.forEach((p, block) => {
      if (placeProblem(fs, p, fs.bucketSize) || p.offset % fs.bucketSize !== 0) return;
      const b = Math.floor(p.offset / fs.bucketSize);
      r.stripe[p.member]![b] = k.offset;
      if (block < dataBlocks) return;
      r.add(p.member, p.offset, fs.bucketSize, BUCKET_DATA.parity, p.generation);
      claim(p.member, p.offset, p.offset + fs.bucketSize, CLAIM.parity, k.offset, block);
    });
  }
  return r;
}

/** The data pointers of an extent or indirect extent key, or undefined (other types, or damaged). */
export function bodyOf(k: Key): ExtentBody | undefined {
  try {
    return keyExtentBody(k);
  } catch (err) {
    if (err instanceof CorruptImageError) return undefined;
    throw err;
  }
}
