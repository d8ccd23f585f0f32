// Pass 3: btree structure, on the nodes as they are on disk (before journal replay).
// Checks, for every node reachable from the superblock roots and for every pointer copy of it:
// the pointer lies inside its member's buckets; the copy decodes with everything its parent
// expects (magic, checksum and the parent's record of it, filesystem, btree, level, seq, min
// and max, key order, keys inside the range, interior children tiling the range); the parent's
// record of the child's level; the pointer's bucket generation is current (alloc btree); no
// node is reachable twice. Levels strictly decrease from a root whose level the superblock
// bounds, so the walk ends and its depth is bounded. The alloc btree is walked first: its keys
// give the bucket generations the other pointers are checked against.
// Builds: where every good node copy is (for the alloc recount); the nodes to rewrite
// copy-on-write (a bad or stale copy beside a good one); and, for a btree with a node that no
// copy of can be read, every key that can still be read (good nodes, and keys salvaged from
// damaged copies by a lenient decode) to rebuild that btree from; and the nodes it decoded, as
// many as a bounded cache holds, for the volume to start from (so the logical passes do not
// read and decode them a second time).
import { decodeNode, type DecodedNode, NodeError, salvageNode, verifyNode, type VerifiedNode } from '../format/btree/node.js';
import { type Image, NodeBytes } from '../format/image.js';
import { MemberIOError } from '../format/io.js';
import { comparePos, decodeBtreePointer, type Key, ops, type Pos, POS_MAX, POS_MIN, posToText, type Ptr } from '../format/keys.js';
import { BTREE, BTREE_COUNT, BTREE_NAMES, KEY_TYPE } from '../format/layout.js';
import { CorruptImageError } from '../format/errors.js';
import type { FsckContext } from './fsck-context.js';
import { GenerationVote, placeProblem } from './fsck-space.js';
import { P } from './problems.js';

export interface NodeRecord {
  btreeId: number;
  level: number;
  min: Pos;
  max: Pos;
  /** every copy the parent names at a valid place: allocated until a checkpoint moves the node */
  copies: Ptr[];
  /** copies that decoded */
  good: Ptr[];
}

export interface BtreePlan {
  /** every node reached, in rebuilt btrees too: their nodes stay in use until the rebuild is checkpointed */
  nodes: NodeRecord[];
  /** btrees to build from these keys (sorted, unique positions) instead of from their roots */
  rebuild: Map<number, Key[]>;
  /** every problem that asks for a rebuild was answered yes */
  rebuildAgreed: boolean;
  /** nodes to write copy-on-write at the next checkpoint: a position inside each */
  rewrite: Array<{ btreeId: number; at: Pos }>;
  /** node visits */
  checked: number;
  /** the bytes of good nodes as read here, for the volume's reads (bounded: a large image's do not all fit) */
  held: NodeBytes;
}

/** Memory for the node bytes handed to the volume: 1024 nodes of 64 KiB, at least 512 nodes. */
const HANDOVER_BYTES = 64 * 1024 * 1024;

export function emptyBtreePlan(nodeSize: number, fsMagic: Buffer): BtreePlan {
  return { nodes: [], rebuild: new Map(), rebuildAgreed: true, rewrite: [], checked: 0, held: new NodeBytes(Math.max(512, Math.floor(HANDOVER_BYTES / nodeSize)), fsMagic) };
}

interface Visit {
  pointers: Ptr[];
  level: number;
  checksum?: bigint;
  seq?: number;
  min: Pos;
  max: Pos;
}

type Failure = { step: NodeError['step'] | 'location'; reason: string; bytes?: Buffer };
// A leaf is verified without building its keys unless they are collected: the volume decodes
// them from the bytes when a pass needs them.
type CopyResult = { ptr: Ptr; node?: DecodedNode | VerifiedNode; bytes?: Buffer; failure?: Failure };

/** How far a failed decode got: the furthest step names the problem best. */
const STEP_RANK: Record<Failure['step'], number> = { location: -1, read: -1, magic: 0, checksum: 1, identity: 2, bounds: 3, order: 4 };

const LOST_BY_STEP = {
  location: P.NODE_UNREADABLE, read: P.NODE_UNREADABLE, magic: P.NODE_MAGIC, checksum: P.NODE_CSUM,
  identity: P.NODE_IDENTITY, bounds: P.NODE_BOUNDS, order: P.KEYS_OUT_OF_ORDER,
} as const;

export function checkBtrees(ctx: FsckContext, img: Image): BtreePlan {
  const plan = emptyBtreePlan(img.fs.nodeSize, img.fsMagic);
  const walker = new Walker(ctx, img, plan);
  // Alloc first: its keys (collected whole; one per used bucket) give the generations.
  const allocKeys: Key[] = [];
  const alloc = walker.walk(BTREE.alloc, { report: true, collect: allocKeys });
  if (alloc.lost) plan.rebuild.set(BTREE.alloc, uniqueSorted(allocKeys));
  for (let id = 0; id < BTREE_COUNT; id++) {
    if (id === BTREE.alloc) continue;
    ctx.checkpointSignal();
    if (!walker.walk(id, { report: true }).lost) continue;
    const keys: Key[] = [];
    walker.walk(id, { report: false, collect: keys });
    plan.rebuild.set(id, uniqueSorted(keys));
  }
  checkNodeGenerations(ctx, img, plan, generationsOf(img, allocKeys));
  // A rebuilt tree's old nodes stay counted until the rebuild is checkpointed (the superblock
  // in use still names them); the final recount then frees them.
  return plan;
}

class Walker {
  private readonly fsMagic: Buffer;

  constructor(private readonly ctx: FsckContext, private readonly img: Image, private readonly plan: BtreePlan) {
    this.fsMagic = img.fsMagic;
  }

  /** Walk one btree; with `collect`, gather its leaf keys (good and salvaged). */
  walk(id: number, opts: { report: boolean; collect?: Key[] }): { lost: boolean } {
    const fs = this.img.fs;
    const root = fs.roots[id]!;
    const seen = new Map<string, string>();
    const stack: Visit[] = [{ pointers: root.pointers, level: root.level, checksum: root.checksum, seq: root.seq, min: POS_MIN, max: POS_MAX }];
    let lost = false;
    while (stack.length) {
      const v = stack.pop()!;
      if (opts.report) {
        this.plan.checked++;
        this.ctx.progress(this.plan.checked);
      }
      const results = this.readCopies(id, v, Boolean(opts.collect));
      const good = results.filter((r) => r.node);
      const where = { btree: BTREE_NAMES[id]!, level: v.level, range: `${posToText(v.min)}..${posToText(v.max)}` };
      const sharedWith = good.map((r) => seen.get(`${r.ptr.member}:${r.ptr.offset}`)).find((s) => s !== undefined);
      if (good.length > 0 && sharedWith === undefined) {
        for (const r of good) seen.set(`${r.ptr.member}:${r.ptr.offset}`, `${where.btree} level ${v.level} node ${where.range}`);
        const node = good[0]!.node!;
        const keys = 'keys' in node ? node.keys : [];
        if (opts.report) this.reportBadCopies(id, v, where, results);
        if (opts.report) this.record(id, v, results);
        if (node.level === 0) {
          if (opts.collect) for (const k of keys) opts.collect.push(k);
          continue;
        }
        for (let i = keys.length - 1; i >= 0; i--) {
          const k = keys[i]!;
          const ptr = decodeBtreePointer(k.value);
          const max = { inode: k.inode, offset: k.offset, snapshot: k.snapshot };
          // Rewriting the child makes its parent record it afresh.
          if (opts.report && ptr.level !== v.level - 1 && this.ctx.problem(P.NODE_PTR_LEVEL, { ...where, level: v.level - 1, range: `${posToText(ptr.min)}..${posToText(max)}`, recorded: ptr.level })) {
            this.plan.rewrite.push({ btreeId: id, at: ptr.min });
          }
          stack.push({ pointers: ptr.pointers, level: v.level - 1, checksum: ptr.checksum, seq: ptr.seq, min: ptr.min, max });
        }
        continue;
      }
      lost = true;
      if (sharedWith !== undefined) {
        const copy = good.find((r) => seen.has(`${r.ptr.member}:${r.ptr.offset}`))!.ptr;
        if (opts.report) this.agree(this.ctx.problem(P.NODE_SHARED, { ...where, member: copy.member, offset: copy.offset, first: sharedWith }));
        continue;
      }
      const salvaged = this.salvage(id, v, results);
      if (opts.report) {
        this.record(id, v, results);
        const worst = results.map((r) => r.failure!).reduce((a, b) => (STEP_RANK[b.step] > STEP_RANK[a.step] ? b : a));
        const def = LOST_BY_STEP[worst.step];
        const count = salvaged.keys.length + salvaged.children.length;
        this.agree(this.ctx.problem(def, { ...where, reason: worst.reason, salvaged: count }));
      }
      if (opts.collect) for (const k of salvaged.keys) opts.collect.push(k);
      for (let i = salvaged.children.length - 1; i >= 0; i--) stack.push(salvaged.children[i]!);
    }
    return { lost };
  }

  private record(id: number, v: Visit, results: CopyResult[]): void {
    const copies = results.filter((r) => r.failure?.step !== 'location').map((r) => r.ptr);
    this.plan.nodes.push({ btreeId: id, level: v.level, min: v.min, max: v.max, copies, good: results.filter((r) => r.node).map((r) => r.ptr) });
  }

  private agree(fix: boolean): void {
    if (!fix) this.plan.rebuildAgreed = false;
  }

  /**
   * Every copy of the node. Keys that outlive this step need buffers of their own: those
   * collected for a rebuild, and the first good copy while the handover cache has room. The
   * other copies are done with before the next read, so each copy slot reuses one buffer.
   */
  private readCopies(id: number, v: Visit, collect: boolean): CopyResult[] {
    const results: CopyResult[] = [];
    let kept = false;
    v.pointers.forEach((ptr, i) => {
      const keep = !collect && !kept && !this.plan.held.full;
      const r = this.readCopy(id, ptr, v, collect || keep ? undefined : this.scratch(i), collect);
      if (keep && r.node) {
        this.plan.held.add(ptr, r.bytes!, r.node);
        kept = true;
      }
      results.push(r);
    });
    return results;
  }

  private readonly buffers: Buffer[] = [];

  private scratch(copy: number): Buffer {
    return (this.buffers[copy] ??= Buffer.allocUnsafe(this.img.fs.nodeSize));
  }

  private readCopy(id: number, ptr: Ptr, v: Visit, into: Buffer | undefined, withKeys: boolean): CopyResult {
    const fs = this.img.fs;
    const place = placeProblem(fs, ptr, fs.nodeSize);
    if (place) return { ptr, failure: { step: 'location', reason: place } };
    if (!this.img.layer.present(ptr.member)) return { ptr, failure: { step: 'read', reason: 'member missing' } };
    let bytes: Buffer;
    try {
      if (into) {
        this.img.layer.readInto(ptr.member, ptr.offset, into);
        bytes = into;
      } else bytes = this.img.layer.read(ptr.member, ptr.offset, fs.nodeSize);
    } catch (err) {
      if (err instanceof MemberIOError) return { ptr, failure: { step: 'read', reason: err.reason } };
      throw err;
    }
    try {
      return { ptr, bytes, node: (withKeys ? decodeNode : verifyNode)(bytes, { btreeId: id, level: v.level, fsMagic: this.fsMagic, checksum: v.checksum, seq: v.seq, min: v.min, max: v.max }, this.img.checksums) };
    } catch (err) {
      if (err instanceof NodeError) return { ptr, failure: { step: err.step, reason: err.message, bytes } };
      throw err;
    }
  }

  private reportBadCopies(id: number, v: Visit, where: { btree: string; level: number; range: string }, results: CopyResult[]): void {
    let rewrite = false;
    for (const r of results) {
      // A copy on a missing member is not damage: MEMBER_MISSING says it once for all of them.
      if (r.node || !this.img.layer.present(r.ptr.member)) continue;
      const copy = { ...where, member: r.ptr.member, offset: r.ptr.offset, reason: r.failure!.reason };
      rewrite = (r.failure!.step === 'location' ? this.ctx.problem(P.NODE_PTR_BAD, copy) : this.ctx.problem(P.NODE_COPY_BAD, copy)) || rewrite;
    }
    if (rewrite) this.plan.rewrite.push({ btreeId: id, at: v.min });
  }

  /**
   * Keys of a node no copy of which decodes: from the copy that still looks like this node
   * (same btree and level, checksum right if any is), those inside the parent's range for it.
   * An interior node gives its children to visit instead.
   */
  private salvage(id: number, v: Visit, results: CopyResult[]): { keys: Key[]; children: Visit[] } {
    let best: Key[] | undefined;
    let bestOk = false;
    for (const r of results) {
      if (!r.failure?.bytes) continue;
      const s = salvageNode(r.failure.bytes, this.fsMagic, this.img.checksums);
      if (!s || s.btreeId !== id || s.level !== v.level) continue;
      const inRange = s.keys.filter((k) => comparePos(k, v.min) >= 0 && comparePos(k, v.max) <= 0);
      if (!best || (s.checksumOk && !bestOk) || (s.checksumOk === bestOk && inRange.length > best.length)) {
        best = inRange;
        bestOk = s.checksumOk;
      }
    }
    if (!best) return { keys: [], children: [] };
    if (v.level === 0) return { keys: best.filter((k) => k.type !== KEY_TYPE.btreePointer).map((k) => ({ ...k, value: Buffer.from(k.value) })), children: [] };
    const children: Visit[] = [];
    for (const k of best) {
      if (k.type !== KEY_TYPE.btreePointer) continue;
      try {
        const ptr = decodeBtreePointer(k.value);
        const max = { inode: k.inode, offset: k.offset, snapshot: k.snapshot };
        if (comparePos(ptr.min, v.min) < 0 || comparePos(ptr.min, max) > 0) continue;
        children.push({ pointers: ptr.pointers, level: v.level - 1, checksum: ptr.checksum, seq: ptr.seq, min: ptr.min, max });
      } catch (err) {
        if (!(err instanceof CorruptImageError)) throw err;
      }
    }
    return { keys: [], children };
  }
}

/**
 * Every good node copy's pointer generation against its bucket's, decided by the vote of the
 * alloc key and all node pointers into it (btree buckets hold nothing else): older is stale,
 * newer than what the others agree on is damage; either way the node moves to a new place.
 */
function checkNodeGenerations(ctx: FsckContext, img: Image, plan: BtreePlan, recorded: Uint32Array[]): void {
  const fs = img.fs;
  const vote = new GenerationVote(fs, (m, b) => recorded[m]?.[b] ?? 0);
  for (const n of plan.nodes) for (const p of n.good) vote.vote(p.member, p.offset, p.generation);
  for (const n of plan.nodes) {
    let rewrite = false;
    for (const p of n.good) {
      const bucketGeneration = vote.generation(p.member, Math.floor(p.offset / fs.bucketSize));
      if (p.generation === bucketGeneration) continue;
      const copy = { btree: BTREE_NAMES[n.btreeId]!, level: n.level, range: `${posToText(n.min)}..${posToText(n.max)}`, member: p.member, offset: p.offset, generation: p.generation, bucketGeneration };
      if (p.generation < bucketGeneration) rewrite = ctx.problem(P.NODE_PTR_STALE, copy) || rewrite;
      else if (p.generation > bucketGeneration) rewrite = ctx.problem(P.NODE_PTR_GEN_AHEAD, copy) || rewrite;
    }
    if (rewrite) plan.rewrite.push({ btreeId: n.btreeId, at: n.min });
  }
}

/** Bucket generations per member from the alloc keys that decode. */
function generationsOf(img: Image, allocKeys: Key[]): Uint32Array[] {
  const gens = img.fs.members.map((m) => new Uint32Array(m.bucketCount));
  for (const k of allocKeys) {
    if (k.type !== KEY_TYPE.alloc) continue;
    const row = gens[k.inode];
    if (!row || k.offset >= row.length) continue;
    try {
      row[k.offset] = ops.alloc.decode(k.value).generation;
    } catch (err) {
      if (!(err instanceof CorruptImageError)) throw err;
    }
  }
  return gens;
}

/** Keys sorted by position; of several at one position the first found is kept. */
function uniqueSorted(keys: Key[]): Key[] {
  const sorted = keys.map((k, i) => ({ k, i })).sort((a, b) => comparePos(a.k, b.k) || a.i - b.i);
  const out: Key[] = [];
  for (const { k } of sorted) if (!out.length || comparePos(out[out.length - 1]!, k) !== 0) out.push(k);
  return out;
}
