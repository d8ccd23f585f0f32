// Pass 5: extents.
// Checks every key of the extents btree: its type maps file data and its value passes the key
// type's validate op (KEY_OPS); its inode exists and is a regular file or symlink; its pointers
// are sound (fsck-pointers.ts); the stripe it names exists and holds its first copy; it does
// not overlap the extent before it in the same file; and the file's size covers its last
// extent.
// Builds: per inode, where its data ends and that it has data (inode table); every reflink
// pointer's range (reflink pass) and every stripe reference (stripes pass), as the repairs
// leave them.
import { CorruptImageError } from '../format/errors.js';
import { type ExtentBody, type Key, KEY_OPS, ops, type Ptr, type ReflinkPointer } from '../format/keys.js';
import { BTREE, KEY_TYPE, KEY_TYPE_NAMES } from '../format/layout.js';
import type { Volume } from '../format/volume.js';
import { S_IFMT } from '../fs/entry.js';
import { type FsckContext, Fixes } from './fsck-context.js';
import type { FsState } from './fsck-load.js';
import { checkPointers } from './fsck-pointers.js';
import { type ExtentRuns, INODE } from './fsck-state.js';
import { P } from './problems.js';

type Mapping =
  | { kind: 'extent'; body: ExtentBody }
  | { kind: 'inline'; data: Buffer }
  | { kind: 'reflink'; r: ReflinkPointer };

/** Decode and validate one extents-btree key; duplicate-member replicas are left to the pointer checks. */
function decodeMapping(k: Key): Mapping | string {
  // No inode has number 0, and none can be made with it: such data has no owner to give it to.
  if (k.inode === 0) return 'inode number 0';
  try {
    if (k.type === KEY_TYPE.extent) {
      const body = ops.extent.decode(k.value);
      return ops.extent.validate(k, withoutDuplicateMembers(body)) ?? { kind: 'extent', body };
    }
    if (k.type === KEY_TYPE.inlineData) return ops.inlineData.validate(k, k.value) ?? { kind: 'inline', data: k.value };
    if (k.type === KEY_TYPE.reflinkPointer) {
      const r = ops.reflinkPointer.decode(k.value);
      return ops.reflinkPointer.validate(k, r) ?? (k.snapshot !== 0 ? 'nonzero snapshot' : { kind: 'reflink', r });
    }
    return KEY_OPS[k.type as keyof typeof KEY_OPS] ? `a ${KEY_TYPE_NAMES[k.type]} key does not belong in the extents btree` : `unknown key type ${k.type}`;
  } catch (err) {
    if (err instanceof CorruptImageError || err instanceof RangeError) return err.message;
    throw err;
  }
}

/** The body with one pointer per member (the same object when it has that already). */
export function withoutDuplicateMembers(body: ExtentBody): ExtentBody {
  const p = body.pointers;
  let duplicate = false;
  for (let i = 1; i < p.length && !duplicate; i++) for (let j = 0; j < i; j++) if (p[i]!.member === p[j]!.member) duplicate = true;
  return duplicate ? { ...body, pointers: p.filter((x, i) => p.findIndex((y) => y.member === x.member) === i) } : body;
}

function liveSize(m: Mapping): number {
  return m.kind === 'extent' ? m.body.liveSize : m.kind === 'inline' ? m.data.length : m.r.liveSize;
}

/** `m` without its first `by` bytes. */
function trimFront(m: Mapping, by: number): Mapping {
  if (m.kind === 'extent') return { kind: 'extent', body: { ...m.body, chunkOffset: m.body.chunkOffset + by, liveSize: m.body.liveSize - by } };
  if (m.kind === 'inline') return { kind: 'inline', data: m.data.subarray(by) };
  return { kind: 'reflink', r: { index: m.r.index + by, liveSize: m.r.liveSize - by } };
}

function encode(k: Key, m: Mapping): Key {
  if (m.kind === 'extent') return { ...k, value: ops.extent.encode(m.body) };
  if (m.kind === 'inline') return { ...k, value: Buffer.from(m.data) };
  return { ...k, value: ops.reflinkPointer.encode(m.r) };
}

/** File types that hold no extents. */
const KIND_NAMES: Record<number, string> = { 0o040000: 'directory', 0o020000: 'character device', 0o060000: 'block device', 0o010000: 'fifo', 0o140000: 'socket' };

/** `runs`: the extents btree as the alloc pass read it, when it did (see ExtentRuns). */
export function checkExtents(ctx: FsckContext, vol: Volume, st: FsState, runs: ExtentRuns | undefined): void {
  const fixes = new Fixes(vol, ctx);
  const t = st.inodes;
  // The inode being walked: its row, where its data ends so far, and keys that cannot stay.
  let inode = -1;
  let row = -1;
  let end = 0;
  let orphans: Key[] = [];
  let orphanEnd = 0;
  const finishInode = () => {
    if (orphans.length && row < 0) {
      // The data outlived its inode (a lost inode leaf): the inodes pass makes a file for it.
      if (ctx.problem(P.EXTENT_NO_INODE, { inode, extents: orphans.length, end: orphanEnd })) st.orphanData.set(inode, orphanEnd);
    } else if (orphans.length) {
      if (ctx.problem(P.EXTENT_NOT_FILE, { inode, kind: KIND_NAMES[t.c.mode[row]! & S_IFMT]!, extents: orphans.length })) for (const k of orphans) fixes.delete(BTREE.extents, k);
    }
    if (row >= 0 && end > t.c.size[row]! && !orphans.length && ctx.problem(P.EXTENT_PAST_EOF, { inode, size: t.c.size[row]!, end })) {
      fixes.updateInode(inode, { size: end });
      t.c.size[row] = end;
    }
  };
  // One key as decoded, checked and repaired in full.
  const checkKey = (k: Key): void => {
    const decoded = decodeMapping(k);
    if (typeof decoded === 'string') {
      if (ctx.problem(P.EXTENT_BAD, { inode: k.inode, offset: k.offset, type: KEY_TYPE_NAMES[k.type] ?? String(k.type), reason: decoded })) fixes.delete(BTREE.extents, k);
      return;
    }
    // A directory or special file holds no data: its keys are reported together, at the end.
    if (row >= 0 && KIND_NAMES[t.c.mode[row]! & S_IFMT] !== undefined) {
      orphans.push(k);
      return;
    }
    let m: Mapping = decoded;
    let changed = false;
    let start = k.offset - liveSize(m);
    if (m.kind === 'extent') {
      const pointers = checkPointers(ctx, vol, { inode, start, end: k.offset }, m.body, st.generation);
      if (pointers.length === 0) {
        fixes.delete(BTREE.extents, k);
        return;
      }
      if (pointers !== m.body.pointers) {
        m = { kind: 'extent', body: { ...m.body, pointers } };
        changed = true;
      }
      if (m.body.stripeId !== 0) {
        if (stripeHolds(st, m.body)) st.usedStripes.add(m.body.stripeId);
        else if (ctx.problem(P.EXTENT_STRIPE_MISSING, { inode, start, end: k.offset, stripe: m.body.stripeId })) {
          m = { kind: 'extent', body: { ...m.body, stripeId: 0, stripeBlock: 0 } };
          changed = true;
        }
      }
    }
    if (start < end) {
      const fix = ctx.problem(P.EXTENT_OVERLAP, { inode, start, end: k.offset, previousEnd: end });
      if (fix && end >= k.offset) {
        fixes.delete(BTREE.extents, k);
        return;
      }
      if (fix) {
        m = trimFront(m, end - start);
        start = end;
        changed = true;
      }
    }
    if (m.kind === 'reflink') st.reflinkPointers.push({ inode, end: k.offset, index: m.r.index, live: m.r.liveSize });
    if (m.kind === 'extent' && m.body.stripeId !== 0) st.stripedExtents.push({ inode, end: k.offset, stripe: m.body.stripeId });
    end = Math.max(end, k.offset);
    if (changed) fixes.put(BTREE.extents, encode(k, m));
    if (row < 0) {
      // Data that outlived its inode is checked like any file's (the inodes pass makes it one).
      orphans.push(k);
      orphanEnd = end;
      return;
    }
    t.c.dataEnd[row] = end;
    t.c.flags[row] |= INODE.hasData;
  };
  const startInode = (next: number) => {
    finishInode();
    inode = next;
    row = t.find(inode);
    end = 0;
    if (orphans.length) orphans = [];
    orphanEnd = 0;
  };
  let n = 0;
  const visit = (k: Key) => {
    ctx.progress(++n);
    st.totals.extents++;
    if (k.inode !== inode) startInode(k.inode);
    checkKey(k);
  };
  const tree = vol.trees[BTREE.extents]!;
  if (runs?.changes !== tree.changes) {
    for (const k of tree.scan()) visit(k);
  } else {
    // As the alloc pass read the tree: a file whose keys are all plain only needs counting;
    // the keys of any other inode are read again and checked in full.
    for (let i = 0; i < runs.count; i++) {
      startInode(runs.inode[i]!);
      if (runs.plain[i] && row >= 0 && KIND_NAMES[t.c.mode[row]! & S_IFMT] === undefined) {
        n += runs.keys[i]!;
        ctx.progress(n);
        st.totals.extents += runs.keys[i]!;
        end = runs.end[i]!;
        t.c.dataEnd[row] = end;
        t.c.flags[row] |= INODE.hasData;
      } else for (const k of tree.scan({ inode, offset: 0, snapshot: 0 }, { inode, offset: Number.MAX_SAFE_INTEGER, snapshot: 0xffffffff })) visit(k);
    }
  }
  finishInode();
  fixes.commit('extents');
}

/** The extent's stripe exists, has the block it names, and that block's bucket holds pointer 0. */
function stripeHolds(st: FsState, body: ExtentBody): boolean {
  const s = st.stripes.get(body.stripeId);
  const block: Ptr | undefined = s?.pointers[body.stripeBlock];
  const first = body.pointers[0]!;
  return Boolean(s && block && body.stripeBlock < s.dataBlocks && block.member === first.member && first.offset >= block.offset && first.offset + body.storedSize <= block.offset + s.blockSize);
}
