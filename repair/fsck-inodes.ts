// Pass 8: inodes.
// Checks every inode-btree key: it is an inode at (number >= 1, 0, 0) whose value decodes;
// its mode has a file type; nanoseconds are below 10^9; flags are zero (format 1 defines
// none); directories and special files have size 0, symlinks a target (data); only
// directories record a parent and only devices a device number; the root exists and is a
// directory; next_inode lies past every inode.
// Builds: the inode table with the repairs applied (types, sizes), and inodes cleared.
import type { DecodedInode, Key } from '../format/keys.js';
import { BTREE, DT, ROOT_INODE } from '../format/layout.js';
import type { Volume } from '../format/volume.js';
import { KIND_TO_IFMT, kindFromMode } from '../fs/entry.js';
import { type FsckContext, Fixes } from './fsck-context.js';
import type { FsState } from './fsck-load.js';
import { INODE } from './fsck-state.js';
import { P } from './problems.js';

const KIND_WORDS: Record<string, string> = { file: 'regular file', dir: 'directory', symlink: 'symlink', char: 'character device', block: 'block device', fifo: 'fifo', socket: 'socket' };
export const kindWord = (mode: number) => KIND_WORDS[kindFromMode(mode) ?? ''] ?? 'inode of no file type';

export function newDirectoryInode(parent: number, perm: number, now: number): DecodedInode {
  return {
    mode: KIND_TO_IFMT.dir | perm, uid: 0, gid: 0, nlink: 2, size: 0,
    atime_sec: now, mtime_sec: now, ctime_sec: now, atime_nsec: 0, mtime_nsec: 0, ctime_nsec: 0,
    flags: 0, rdev_major: 0, rdev_minor: 0, parent, generation: 0, reserved: 0,
  };
}

export function checkInodes(ctx: FsckContext, vol: Volume, st: FsState): { needsCheckpoint: boolean } {
  const fixes = new Fixes(vol, ctx);
  const t = st.inodes;
  for (const bad of st.badInodes) clearInode(ctx, vol, fixes, st, bad.key, bad.reason, st.orphanData.has(bad.key.inode));
  // Files whose data outlived their inode get a new one (the extents pass reported them).
  for (const [inum, size] of st.orphanData) recreate(vol, fixes, st, inum, newFileInode(size, Math.floor(Date.now() / 1000)));
  for (let row = 0; row < t.count; row++) {
    ctx.progress(row);
    const flags = t.c.flags[row]!;
    if (flags & INODE.removed) continue;
    // Only inodes with something possibly wrong are read again (most are not).
    const dt = t.dType(row);
    const sizeless = dt !== DT.file && dt !== DT.symlink;
    const doubtful = flags & INODE.suspect || (dt === DT.symlink && !(flags & INODE.hasData)) || (sizeless && t.c.size[row] !== 0) || (dt !== DT.dir && t.c.parent[row] !== 0);
    if (!doubtful) continue;
    const inum = t.c.inum[row]!;
    const v = fixes.inode(inum);
    if (v) checkOne(ctx, vol, fixes, st, row, inum, v);
  }
  checkRoot(ctx, vol, fixes, st);
  let needsCheckpoint = false;
  const highest = t.maxInum();
  if (highest >= vol.counters.nextInode && ctx.problem(P.SB_COUNTER_LOW, { counter: 'next_inode', value: vol.counters.nextInode, needed: highest + 1 })) {
    vol.counters.nextInode = highest + 1;
    needsCheckpoint = true;
  }
  fixes.commit('inodes');
  return { needsCheckpoint };
}

function checkOne(ctx: FsckContext, vol: Volume, fixes: Fixes, st: FsState, row: number, inum: number, v: DecodedInode): void {
  const t = st.inodes;
  const change: Partial<DecodedInode> = {};
  let kind = kindFromMode(v.mode);
  if (!kind) {
    // A directory owns dirents and no data; anything else is taken for a regular file.
    const dir = vol.trees[BTREE.dirents]!.scan({ inode: inum, offset: 0, snapshot: 0 }, { inode: inum, offset: Number.MAX_SAFE_INTEGER, snapshot: 0xffffffff }).next();
    kind = !dir.done && !(t.c.flags[row]! & INODE.hasData) ? 'dir' : 'file';
    if (ctx.problem(P.INODE_TYPE_BAD, { inode: inum, mode: v.mode.toString(8), kind: KIND_WORDS[kind]! })) {
      change.mode = KIND_TO_IFMT[kind] | (v.mode & 0o7777);
      t.c.mode[row] = change.mode;
    }
  }
  for (const field of ['atime_nsec', 'mtime_nsec', 'ctime_nsec'] as const) {
    if (v[field] > 999_999_999 && ctx.problem(P.INODE_TIME_BAD, { inode: inum, field, value: v[field] })) change[field] = 0;
  }
  if (v.flags !== 0 && ctx.problem(P.INODE_FLAGS_BAD, { inode: inum, flags: v.flags })) change.flags = 0;
  const word = KIND_WORDS[kind]!;
  const sizeless = kind !== 'file' && kind !== 'symlink';
  if (sizeless && v.size !== 0 && ctx.problem(P.INODE_SIZE_BAD, { inode: inum, kind: word, size: v.size })) {
    change.size = 0;
    t.c.size[row] = 0;
  }
  if (kind === 'symlink' && !(t.c.flags[row]! & INODE.hasData)) {
    if (ctx.problem(P.SYMLINK_EMPTY, { inode: inum, size: v.size })) removeInode(vol, fixes, st, row, inum);
    return;
  }
  if (kind !== 'dir' && v.parent !== 0 && ctx.problem(P.INODE_FIELD_BAD, { inode: inum, kind: word, field: 'parent', value: v.parent })) {
    change.parent = 0;
    t.c.parent[row] = 0;
  }
  if (kind !== 'char' && kind !== 'block') {
    for (const field of ['rdev_major', 'rdev_minor'] as const) {
      if (v[field] !== 0 && ctx.problem(P.INODE_FIELD_BAD, { inode: inum, kind: word, field, value: v[field] })) change[field] = 0;
    }
  }
  if (Object.keys(change).length) fixes.updateInode(inum, change);
}

/**
 * A key that is no usable inode: the key goes. Its data is kept when a new inode will hold it
 * (`keepData`); names of it go in the dirents pass.
 */
function clearInode(ctx: FsckContext, vol: Volume, fixes: Fixes, st: FsState, key: Key, reason: string, keepData: boolean): void {
  if (!ctx.problem(P.INODE_BAD, { inode: key.inode, reason })) return;
  fixes.delete(BTREE.inodes, key);
  const row = st.inodes.find(key.inode);
  if (row >= 0 && key.offset === 0 && !keepData) removeInode(vol, fixes, st, row, key.inode);
}

/** A new inode for number `inum`, made by fsck: later passes name it and count it. */
export function recreate(vol: Volume, fixes: Fixes, st: FsState, inum: number, inode: DecodedInode): void {
  // The number is in use now: new inodes (lost+found) must come after it.
  vol.counters.nextInode = Math.max(vol.counters.nextInode, inum + 1);
  fixes.setInode(inum, inode);
  const row = st.inodes.append(inum, inode.mode, inode.nlink, inode.size, inode.parent);
  if ((inode.mode & 0o170000) !== 0o040000) st.inodes.c.flags[row] |= INODE.hasData;
  st.created.add(inum);
}

/** A regular file fsck makes to hold data whose inode was lost: owned by root, mode 0600. */
function newFileInode(size: number, now: number): DecodedInode {
  return { ...newDirectoryInode(0, 0, now), mode: KIND_TO_IFMT.file | 0o600, nlink: 1, size };
}

/** Delete an inode with its extents and xattrs, and forget it in the table. */
export function removeInode(vol: Volume, fixes: Fixes, st: FsState, row: number, inum: number): void {
  const to = { inode: inum, offset: Number.MAX_SAFE_INTEGER, snapshot: 0xffffffff };
  for (const id of [BTREE.extents, BTREE.xattrs]) for (const k of vol.trees[id]!.scan({ inode: inum, offset: 0, snapshot: 0 }, to)) fixes.delete(id, k);
  fixes.delete(BTREE.inodes, { inode: inum, offset: 0, snapshot: 0 });
  if (row >= 0) st.inodes.c.flags[row] |= INODE.removed;
}

function checkRoot(ctx: FsckContext, vol: Volume, fixes: Fixes, st: FsState): void {
  const t = st.inodes;
  const row = t.find(ROOT_INODE);
  const now = Math.floor(Date.now() / 1000);
  if (row >= 0 && t.isDir(row)) return;
  if (row < 0) {
    if (!ctx.problem(P.ROOT_MISSING, {})) return;
  } else {
    if (!ctx.problem(P.ROOT_NOT_DIR, { kind: kindWord(t.c.mode[row]!) })) return;
    // Its data goes with it: a directory has none.
    for (const k of vol.trees[BTREE.extents]!.scan({ inode: ROOT_INODE, offset: 0, snapshot: 0 }, { inode: ROOT_INODE, offset: Number.MAX_SAFE_INTEGER, snapshot: 0xffffffff })) fixes.delete(BTREE.extents, k);
  }
  const root = newDirectoryInode(ROOT_INODE, 0o755, now);
  fixes.setInode(ROOT_INODE, root);
  t.append(ROOT_INODE, root.mode, root.nlink, 0, ROOT_INODE);
  st.created.add(ROOT_INODE);
}

