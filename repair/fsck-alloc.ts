// Pass 4: alloc.
// Checks: the usage of every bucket recounted from everything reachable (fsck-recount.ts) against
// what the alloc btree records, with the journal's replayed changes applied (the volume's
// usage table): leaked buckets, in-use buckets marked free, wrong used_bytes, types, stripe
// ids, generations below a live pointer's; alloc keys that are invalid or name no bucket; and
// every byte range of a member claimed by two live things (two files claiming one block, an
// extent inside a btree node or the journal).
// Builds: with writing allowed, the volume's usage table replaced by the recount, so everything
// allocated from here on (repairs, the checkpoint) lands in truly free space, and the
// checkpoint writes a correct alloc btree. Space shared by two claimants is untangled: the
// second gets its own copy when its data is intact there, else loses that pointer.
import { BTREE, BTREE_NAMES, BUCKET_DATA, BUCKET_DATA_NAMES, KEY_TYPE } from '../format/layout.js';
import { CorruptImageError } from '../format/errors.js';
import { allocValueDecodes, type Key, ops, posToText, type Ptr } from '../format/keys.js';
import { keyAt } from '../format/btree/node.js';
import type { Volume } from '../format/volume.js';
import type { Space } from '../format/space.js';
import { type FsckContext, Fixes } from './fsck-context.js';
import type { NodeRecord } from './fsck-btrees.js';
import { bodyOf, CLAIM, Claims, type NodeCopy, recountUsage, type Recount } from './fsck-recount.js';
import { readIntact, withPointers } from './fsck-pointers.js';
import { ExtentRuns, rowsFor } from './fsck-state.js';
import { P } from './problems.js';

const typeName = (t: number) => BUCKET_DATA_NAMES[t] ?? `type ${t}`;

export function nodeCopiesOf(nodes: NodeRecord[]): NodeCopy[] {
  return nodes.flatMap((n, i) => n.copies.map((p) => ({ member: p.member, offset: p.offset, generation: p.generation, node: i, good: n.good.includes(p) })));
}

/** Returns the recount: its generations are what the data passes check pointers against. */
export function checkAlloc(ctx: FsckContext, vol: Volume, nodes: NodeRecord[], rebuilt: ReadonlySet<number>): Recount {
  const space = vol.space!;
  checkAllocKeys(ctx, vol);
  // An image has about one claim, and one extent run, per file.
  const rows = rowsFor(vol.counters.nextInode);
  const claims = new Claims(rows);
  let keys = 0;
  const runs = new ExtentRuns(vol.trees[BTREE.extents]!.changes, rows);
  const recount = recountUsage(vol, nodeCopiesOf(nodes), claims, () => ctx.progress(++keys), runs);
  compareUsage(ctx, vol, space, recount);
  if (!ctx.mayWrite) {
    findSharedSpace(ctx, vol, nodes, claims, undefined);
    return recount;
  }
  // A rebuilt btree's old nodes are referenced until the rebuild is checkpointed, but no
  // checkpoint releases them: the table the checkpoint starts from leaves them out already
  // (replaceUsage keeps such buckets from reuse until that checkpoint is durable).
  for (const n of nodes) if (rebuilt.has(n.btreeId)) for (const p of n.copies) recount.release(p.member, p.offset, vol.fs.nodeSize);
  space.replaceUsage((m, b) => recount.merged(m, b, space.bucketInfo(m, b)));
  const fixes = new Fixes(vol, ctx);
  findSharedSpace(ctx, vol, nodes, claims, fixes);
  fixes.commit('alloc');
  return recount;
}

function checkAllocKeys(ctx: FsckContext, vol: Volume): void {
  vol.trees[BTREE.alloc]!.visitAll((inode, offset, snapshot, type, bytes, valueAt, valueEnd) => {
    const member = vol.fs.members[inode];
    if (type === KEY_TYPE.alloc && member && offset < member.bucketCount && snapshot === 0 && allocValueDecodes(bytes, valueAt, valueEnd)) return;
    checkAllocKey(ctx, vol, keyAt(inode, offset, snapshot, type, bytes, valueAt, valueEnd));
  });
}

/** Why an alloc key that is not plainly a valid key of a bucket is bad, reported. */
function checkAllocKey(ctx: FsckContext, vol: Volume, k: Key): void {
  const m = vol.fs.members[k.inode];
  let reason: string | undefined;
  if (k.type !== KEY_TYPE.alloc) reason = `key of type ${k.type}`;
  else if (!m || k.offset >= m.bucketCount || k.snapshot !== 0) reason = 'no such bucket';
  else {
    try {
      ops.alloc.decode(k.value);
    } catch (err) {
      if (!(err instanceof CorruptImageError)) throw err;
      reason = err.message;
    }
  }
  // The checkpoint rewrites the alloc btree whole from the usage table: fixing is that rewrite.
  if (reason) ctx.problem(P.ALLOC_KEY_BAD, { member: k.inode, bucket: k.offset, reason });
}

function compareUsage(ctx: FsckContext, vol: Volume, space: Space, recount: Recount): void {
  vol.fs.members.forEach((m, member) => {
    for (let bucket = 0; bucket < m.bucketCount; bucket++) {
      const rec = space.bucketInfo(member, bucket);
      const cnt = recount.info(member, bucket);
      const at = { member, bucket };
      if (cnt.usedBytes === 0) {
        if (rec.usedBytes > 0 || rec.dataType !== BUCKET_DATA.free) ctx.problem(P.ALLOC_LEAKED, { ...at, type: typeName(rec.dataType), recorded: rec.usedBytes });
      } else if (rec.dataType === BUCKET_DATA.free) ctx.problem(P.ALLOC_UNMARKED, { ...at, type: typeName(cnt.dataType), counted: cnt.usedBytes });
      else if (rec.dataType !== cnt.dataType) ctx.problem(P.ALLOC_TYPE_WRONG, { ...at, recorded: typeName(rec.dataType), counted: typeName(cnt.dataType) });
      else if (rec.usedBytes !== cnt.usedBytes) ctx.problem(P.ALLOC_USED_WRONG, { ...at, recorded: rec.usedBytes, counted: cnt.usedBytes });
      if (cnt.generation > rec.generation) ctx.problem(P.ALLOC_GEN_LOW, { ...at, recorded: rec.generation, pointer: cnt.generation });
      if (cnt.usedBytes > 0 && cnt.stripeId !== rec.stripeId) ctx.problem(P.ALLOC_STRIPE_WRONG, { ...at, recorded: rec.stripeId, counted: cnt.stripeId });
    }
  });
}

const METADATA: ReadonlySet<number> = new Set([CLAIM.superblock, CLAIM.journal, CLAIM.node, CLAIM.parity]);

/**
 * Sweep each member's claims by start offset: a claim starting before the furthest end seen so
 * far overlaps that claim's owner. Each pair of owners is reported once.
 */
function findSharedSpace(ctx: FsckContext, vol: Volume, nodes: NodeRecord[], claims: Claims, fixes: Fixes | undefined): void {
  const order = claims.order();
  const reported = new Set<string>();
  let active = -1;
  for (const i of order) {
    if (active >= 0 && claims.member[active] !== claims.member[i]) active = -1;
    if (active >= 0 && claims.start[i]! < claims.end[active]! && owner(claims, nodes, active) !== owner(claims, nodes, i)) {
      const pair = `${owner(claims, nodes, active)}|${owner(claims, nodes, i)}`;
      if (!reported.has(pair)) {
        reported.add(pair);
        resolveShared(ctx, vol, nodes, claims, active, i, fixes);
      }
    }
    if (active < 0 || claims.end[i]! > claims.end[active]!) active = i;
  }
}

function owner(claims: Claims, nodes: NodeRecord[], i: number): string {
  const a = claims.a[i]!;
  const b = claims.b[i]!;
  switch (claims.kind[i]!) {
    case CLAIM.superblock: return 'the superblock bucket';
    case CLAIM.journal: return 'the journal ring';
    case CLAIM.node: {
      const n = nodes[a]!;
      return `btree ${BTREE_NAMES[n.btreeId]} level ${n.level} node ${posToText(n.min)}..${posToText(n.max)}`;
    }
    case CLAIM.extent: return `the extent of inode ${a} ending at ${b}`;
    case CLAIM.indirect: return `the shared extent ending at reflink ${b}`;
    default: return `stripe ${a} parity block ${b}`;
  }
}

/**
 * Metadata keeps its place: when one claimant is data, that one is the one to move; of two data
 * claimants, the second. Intact data (its checksum verifies at that place) is copied to new
 * space; otherwise the pointer is dropped (the range becomes a hole if it was the last copy).
 */
function resolveShared(ctx: FsckContext, vol: Volume, nodes: NodeRecord[], claims: Claims, first: number, second: number, fixes: Fixes | undefined): void {
  const firstData = !METADATA.has(claims.kind[first]!);
  const secondData = !METADATA.has(claims.kind[second]!);
  const victim = secondData ? second : firstData ? first : -1;
  const other = victim === first ? second : first;
  const context = {
    member: claims.member[second]!, start: claims.start[second]!, end: Math.min(claims.end[first]!, claims.end[second]!),
    first: owner(claims, nodes, victim < 0 ? first : other), second: owner(claims, nodes, victim < 0 ? second : victim),
  };
  if (victim < 0) {
    ctx.problem(P.SPACE_SHARED, context, false);
    return;
  }
  const btreeId = claims.kind[victim]! === CLAIM.extent ? BTREE.extents : BTREE.reflink;
  const key = vol.trees[btreeId]!.get({ inode: claims.a[victim]!, offset: claims.b[victim]!, snapshot: 0 });
  const body = key && bodyOf(key);
  if (!ctx.problem(P.SPACE_SHARED, context, Boolean(body)) || !fixes || !key || !body) return;
  const index = claims.c[victim]!;
  const ptr = body.pointers[index]!;
  const stored = firstData && secondData ? readIntact(vol, body, ptr) : undefined;
  const pointers: Ptr[] = body.pointers.slice();
  if (stored) pointers[index] = copyTo(vol, ptr.member, stored);
  else pointers.splice(index, 1);
  putOrDelete(fixes, btreeId, key, pointers);
}

/** Write `stored` to new space on `member` (flushed before the entry that names it). */
function copyTo(vol: Volume, member: number, stored: Buffer): Ptr {
  const space = vol.space!;
  const ptr = space.allocate(member, BUCKET_DATA.user, stored.length);
  const padded = Math.ceil(stored.length / vol.fs.blockSize) * vol.fs.blockSize;
  vol.layer.write(member, ptr.offset, padded === stored.length ? stored : Buffer.concat([stored, Buffer.alloc(padded - stored.length)]));
  vol.layer.flush(member);
  return ptr;
}

function putOrDelete(fixes: Fixes, btreeId: number, key: Key, pointers: Ptr[]): void {
  if (pointers.length === 0) fixes.delete(btreeId, key);
  else fixes.put(btreeId, withPointers(key, pointers));
}
