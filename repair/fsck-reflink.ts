// Pass 6: reflink.
// Checks every indirect extent: it is a valid indirect extent key (KEY_OPS validate) at inode 0;
// its pointers are sound (fsck-pointers.ts); it does not overlap the one before it; its
// refcount equals the number of reflink pointers (as the extents pass left them) whose range
// overlaps it; next_reflink lies past it; and the reflink feature bit is set while any exists.
// Every reflink pointer's range must be covered by indirect extents: an uncovered part becomes
// a hole (the pointer is split into the covered pieces).
// Builds: nothing later passes use.
import { CorruptImageError } from '../format/errors.js';
import { type ExtentBody, type Key, ops } from '../format/keys.js';
import { BTREE, INCOMPAT, KEY_TYPE } from '../format/layout.js';
import type { Volume } from '../format/volume.js';
import { type FsckContext, Fixes } from './fsck-context.js';
import type { FsState } from './fsck-load.js';
import { checkPointers, withBody } from './fsck-pointers.js';
import { withoutDuplicateMembers } from './fsck-extents.js';
import { P } from './problems.js';

interface Indirect {
  key: Key;
  start: number;
  end: number;
  refcount: number;
  counted: number;
}

export interface ReflinkResult {
  /** the superblock changes (counter, feature bit) need a checkpoint even with no key update */
  needsCheckpoint: boolean;
}

export function checkReflink(ctx: FsckContext, vol: Volume, st: FsState): ReflinkResult {
  const fixes = new Fixes(vol, ctx);
  const result: ReflinkResult = { needsCheckpoint: false };
  const live: Indirect[] = [];
  let n = 0;
  for (const k of vol.trees[BTREE.reflink]!.scan()) {
    ctx.progress(++n);
    st.totals.indirect++;
    const decoded = decodeIndirect(k);
    if (typeof decoded === 'string') {
      if (ctx.problem(P.INDIRECT_BAD, { offset: k.offset, reason: decoded })) fixes.delete(BTREE.reflink, k);
      continue;
    }
    let body = decoded.body;
    const start = k.offset - body.liveSize;
    const pointers = checkPointers(ctx, vol, { inode: 0, start, end: k.offset }, body, st.generation);
    if (pointers.length === 0) {
      fixes.delete(BTREE.reflink, k);
      continue;
    }
    const previous = live[live.length - 1];
    if (previous && start < previous.end) {
      if (ctx.problem(P.INDIRECT_OVERLAP, { start, end: k.offset, previousEnd: previous.end })) fixes.delete(BTREE.reflink, k);
      continue;
    }
    let key = k;
    if (pointers !== body.pointers) {
      body = { ...body, pointers };
      key = withBody(k, body);
      fixes.put(BTREE.reflink, key);
    }
    live.push({ key, start, end: k.offset, refcount: decoded.refcount, counted: 0 });
  }
  countReferences(ctx, vol, st, live, fixes);
  for (const ind of live) {
    const range = { start: ind.start, end: ind.end, recorded: ind.refcount };
    if (ind.counted === 0) {
      if (ctx.problem(P.INDIRECT_UNREFERENCED, range)) fixes.delete(BTREE.reflink, ind.key);
    } else if (ind.counted !== ind.refcount) {
      const def = ind.counted < ind.refcount ? P.REFCOUNT_HIGH : P.REFCOUNT_LOW;
      if (ctx.problem(def, { ...range, counted: ind.counted })) {
        fixes.put(BTREE.reflink, { ...ind.key, value: ops.indirectExtent.encode({ refcount: ind.counted, body: ops.indirectExtent.decode(ind.key.value).body }) });
      }
    }
  }
  const highest = live.length ? live[live.length - 1]!.end : 0;
  if (highest > vol.counters.nextReflink && ctx.problem(P.SB_COUNTER_LOW, { counter: 'next_reflink', value: vol.counters.nextReflink, needed: highest })) {
    vol.counters.nextReflink = highest;
    result.needsCheckpoint = true;
  }
  // The checkpoint sets the bit whenever the reflink btree has keys.
  if (live.length > 0 && !(vol.fs.incompat & INCOMPAT.reflink)) result.needsCheckpoint = ctx.problem(P.FEATURE_MISSING, { feature: 'reflink', reason: 'the reflink btree holds indirect extents' }) || result.needsCheckpoint;
  fixes.commit('reflink');
  return result;
}

function decodeIndirect(k: Key): { refcount: number; body: ExtentBody } | string {
  if (k.type !== KEY_TYPE.indirectExtent) return `key of type ${k.type} in the reflink btree`;
  try {
    const ind = ops.indirectExtent.decode(k.value);
    // The refcount is recounted below; validate the rest.
    const problem = ops.indirectExtent.validate(k, { refcount: 1, body: withoutDuplicateMembers(ind.body) }) ?? (k.snapshot !== 0 ? 'nonzero snapshot' : undefined);
    return problem ?? ind;
  } catch (err) {
    if (err instanceof CorruptImageError || err instanceof RangeError) return err.message;
    throw err;
  }
}

/**
 * Count, for every indirect extent, the reflink pointers overlapping it, and split pointers
 * whose range is not covered into the covered pieces (an uncovered part reads as a hole).
 */
function countReferences(ctx: FsckContext, vol: Volume, st: FsState, live: Indirect[], fixes: Fixes): void {
  const refs = st.reflinkPointers;
  for (let i = 0; i < refs.count; i++) {
    const index = refs.get('index', i);
    const length = refs.get('live', i);
    const fileEnd = refs.get('end', i);
    const inode = refs.get('inode', i);
    const pieces: Array<{ from: number; to: number }> = [];
    for (let j = firstEndingAfter(live, index); j < live.length && live[j]!.start < index + length; j++) {
      const ind = live[j]!;
      ind.counted++;
      pieces.push({ from: Math.max(ind.start, index), to: Math.min(ind.end, index + length) });
    }
    const covered = pieces.reduce((sum, p) => sum + p.to - p.from, 0);
    if (covered === length) continue;
    const fileStart = fileEnd - length;
    if (!ctx.problem(P.REFLINK_MISSING, { inode, start: fileStart, end: fileEnd, index, missing: length - covered })) continue;
    const at = { inode, offset: fileEnd, snapshot: 0 };
    fixes.delete(BTREE.extents, at);
    for (const p of pieces) {
      fixes.put(BTREE.extents, {
        inode, offset: fileStart + (p.to - index), snapshot: 0, type: KEY_TYPE.reflinkPointer,
        value: ops.reflinkPointer.encode({ liveSize: p.to - p.from, index: p.from }),
      });
    }
  }
}

/** Index of the first indirect extent ending after `index` (binary search; they are sorted). */
function firstEndingAfter(live: Indirect[], index: number): number {
  let lo = 0;
  let hi = live.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (live[mid]!.end <= index) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
