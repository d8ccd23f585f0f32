// Pass 10: xattrs.
// Checks every extended attribute: a valid xattr (KEY_OPS validate: lengths, no NUL, a known
// namespace prefix) whose value is at most node_size / 4 bytes; its owner inode exists; no
// second attribute of the same name on the inode; a lookup probing from the name's hash reaches
// it (moving it when not).
// Builds: which inodes have xattrs (an unattached inode with xattrs is not empty).
import { CorruptImageError } from '../format/errors.js';
import { escapeName, type Key, nameHash, ops, type XattrEntry } from '../format/keys.js';
import { BTREE, KEY_TYPE } from '../format/layout.js';
import type { Volume } from '../format/volume.js';
import { type FsckContext, Fixes } from './fsck-context.js';
import type { FsState } from './fsck-load.js';
import { groupsByOwner, planMoves, unreachable } from './fsck-probing.js';
import { INODE } from './fsck-state.js';
import { P } from './problems.js';

function decodeXattr(k: Key, nodeSize: number): XattrEntry | string {
  if (k.type !== KEY_TYPE.xattr) return `key of type ${k.type} in the xattrs btree`;
  try {
    const x = ops.xattr.decode(k.value);
    if (x.value.length > nodeSize / 4) return `value of ${x.value.length} bytes, at most ${nodeSize / 4} allowed`;
    if (k.snapshot !== 0) return 'nonzero snapshot';
    return ops.xattr.validate(k, x) ?? x;
  } catch (err) {
    if (err instanceof CorruptImageError) return err.message;
    throw err;
  }
}

export function checkXattrs(ctx: FsckContext, vol: Volume, st: FsState): void {
  const fixes = new Fixes(vol, ctx);
  const t = st.inodes;
  let n = 0;
  for (const group of groupsByOwner(vol.trees[BTREE.xattrs]!.scan())) {
    n += group.length;
    ctx.progress(n);
    st.totals.xattrs += group.length;
    const inode = group[0]!.inode;
    const row = t.find(inode);
    if (row < 0) {
      if (ctx.problem(P.XATTR_NO_OWNER, { inode, xattrs: group.length })) for (const k of group) fixes.delete(BTREE.xattrs, k);
      continue;
    }
    const kept: Array<{ key: Key; name: Buffer; home: number }> = [];
    const stuck: number[] = [];
    const names = new Map<string, number>();
    for (const k of group) {
      const x = decodeXattr(k, vol.fs.nodeSize);
      if (typeof x === 'string') {
        if (ctx.problem(P.XATTR_BAD, { inode, offset: k.offset, reason: x })) fixes.delete(BTREE.xattrs, k);
        else stuck.push(k.offset);
        continue;
      }
      const first = names.get(x.name.toString('latin1'));
      if (first !== undefined && ctx.problem(P.XATTR_DUPLICATE, { inode, name: escapeName(x.name), offset: k.offset, first })) {
        fixes.delete(BTREE.xattrs, k);
        continue;
      }
      if (first === undefined) names.set(x.name.toString('latin1'), k.offset);
      kept.push({ key: k, name: x.name, home: nameHash(x.name) });
    }
    if (kept.length) t.c.flags[row] |= INODE.hasXattrs;
    const runs = kept.map((e) => ({ offset: e.key.offset, home: e.home }));
    const lostNow = unreachable(runs, group.map((k) => k.offset));
    const moves = kept.length + stuck.length === group.length && !lostNow.includes(true) ? new Map<number, number>() : planMoves(runs, stuck);
    const puts: Key[] = [];
    kept.forEach((e, i) => {
      const to = moves.get(i);
      if (to === undefined) return;
      const move = !lostNow[i] || ctx.problem(P.XATTR_HASH_WRONG, { inode, name: escapeName(e.name), offset: e.key.offset, moveTo: to });
      if (!move || !ctx.mayWrite) return;
      fixes.delete(BTREE.xattrs, e.key);
      puts.push({ ...e.key, offset: to });
    });
    for (const k of puts) fixes.put(BTREE.xattrs, k);
  }
  fixes.commit('xattrs');
}
