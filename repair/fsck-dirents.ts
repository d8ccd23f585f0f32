// Pass 9: dirents.
// Checks every directory entry: a valid dirent (KEY_OPS validate); held by an inode that exists
// and is a directory; naming an inode that exists and is not the root; its d_type is the
// target's type; no second entry with the same name in the directory; and a lookup probing
// from the name's hash reaches it (moving an entry when not, and after removals open gaps).
// Builds: per inode, how many entries name it; per directory, how many entries in it name
// directories; every entry naming a directory (directory-structure pass).
import { CorruptImageError } from '../format/errors.js';
import { type Dirent, DirentFields, direntProblem, escapeName, type Key, nameHash, nameHashOf, ops } from '../format/keys.js';
import { BTREE, KEY_TYPE, ROOT_INODE } from '../format/layout.js';
import type { Volume } from '../format/volume.js';
import { type FsckContext, Fixes } from './fsck-context.js';
import type { FsState } from './fsck-load.js';
import { planMoves, unreachable } from './fsck-probing.js';
import { kindWord, newDirectoryInode, recreate } from './fsck-inodes.js';
import { P } from './problems.js';

interface Entry {
  key: Key;
  dirent: Dirent;
  /** where the entry is now (the key's offset) and where probing for its name starts */
  offset: number;
  home: number;
  /** the value changed (d_type repaired): written back */
  changed: boolean;
}

function decodeDirent(k: Key): Dirent | string {
  if (k.type !== KEY_TYPE.dirent) return `key of type ${k.type} in the dirents btree`;
  try {
    const d = ops.dirent.decode(k.value);
    return ops.dirent.validate(k, d) ?? d;
  } catch (err) {
    if (err instanceof CorruptImageError) return err.message;
    throw err;
  }
}

export function checkDirents(ctx: FsckContext, vol: Volume, st: FsState): void {
  const fixes = new Fixes(vol, ctx);
  const tree = vol.trees[BTREE.dirents]!;
  const run = new Run(st);
  let n = 0;
  const finishRun = () => {
    n += run.length;
    ctx.progress(n);
    st.totals.dirents += run.length;
    const dir = run.dir;
    if (run.plain) run.count(st);
    else checkGroup(ctx, vol, fixes, st, Array.from(tree.scan({ inode: dir, offset: 0, snapshot: 0 }, { inode: dir, offset: Number.MAX_SAFE_INTEGER, snapshot: 0xffffffff })));
    run.length = 0;
  };
  tree.visitAll((dir, offset, snapshot, type, bytes, valueAt, valueEnd) => {
    if (run.length && run.dir !== dir) finishRun();
    if (!run.length) run.start(dir);
    run.add(offset, snapshot, type, bytes, valueAt, valueEnd);
  });
  if (run.length) finishRun();
  fixes.commit('dirents');
}

/**
 * The dirents of one directory as they arrive, read in place. The run is plain while every
 * entry is as checkGroup would leave it with nothing to report: the directory exists and is a
 * directory; each entry is a valid dirent at its name's hash (so reachable, and no two share a
 * name) naming an inode that exists, is not the root and has the entry's d_type. A plain run
 * needs only counting; any other directory's entries are read again, as key objects, and
 * checked whole by checkGroup.
 */
class Run {
  dir = -1;
  plain = true;
  length = 0;
  /** while the run is plain: each entry's offset and target, and the inode-table rows of the directory and each target (the table does not change while a run is read) */
  private readonly offsets: number[] = [];
  private readonly targets: number[] = [];
  private dirRow = -1;
  private readonly rows: number[] = [];
  private readonly dirent = new DirentFields();

  constructor(private readonly st: FsState) {}

  start(dir: number): void {
    const t = this.st.inodes;
    const dirRow = t.find(dir);
    this.dir = dir;
    this.dirRow = dirRow;
    this.plain = dirRow >= 0 && t.isDir(dirRow);
  }

  add(offset: number, snapshot: number, type: number, bytes: Buffer, valueAt: number, valueEnd: number): void {
    const i = this.length++;
    if (!this.plain) return;
    const d = this.dirent;
    const t = this.st.inodes;
    this.plain = type === KEY_TYPE.dirent && d.read(bytes, valueAt, valueEnd) && direntProblem(snapshot, d.target, bytes, d.nameAt, d.nameEnd) === undefined
      && offset === nameHashOf(bytes, d.nameAt, d.nameEnd) && d.target !== ROOT_INODE;
    if (!this.plain) return;
    const row = t.find(d.target);
    this.plain = row >= 0 && t.dType(row) === d.dType;
    this.offsets[i] = offset;
    this.targets[i] = d.target;
    this.rows[i] = row;
  }

  /** The links and subdirectories a plain run adds (what placeAndCount counts for it). */
  count(st: FsState): void {
    const t = st.inodes;
    for (let i = 0; i < this.length; i++) {
      const row = this.rows[i]!;
      t.c.links[row]++;
      if (t.isDir(row)) {
        t.c.subdirs[this.dirRow]++;
        st.dirNames.push({ target: this.targets[i]!, dir: this.dir, offset: this.offsets[i]! });
      }
    }
  }
}

/** Check one directory's entries (all of one owner, in btree order) and count what survives. */
function checkGroup(ctx: FsckContext, vol: Volume, fixes: Fixes, st: FsState, group: Key[]): void {
  const t = st.inodes;
  const dir = group[0]!.inode;
  let dirRow = t.find(dir);
  if (dirRow < 0 && dir !== 0) {
    // The entries outlived their directory's inode (a lost inode leaf): a new one holds them.
    if (!ctx.problem(P.DIRENT_DIR_MISSING, { dir, entries: group.length })) return;
    recreate(vol, fixes, st, dir, newDirectoryInode(0, 0o700, Math.floor(Date.now() / 1000)));
    dirRow = t.find(dir);
  } else if (dirRow < 0 || !t.isDir(dirRow)) {
    const kind = dirRow < 0 ? 'inode 0' : kindWord(t.c.mode[dirRow]!);
    if (ctx.problem(P.DIRENT_OWNER_NOT_DIR, { dir, kind, entries: group.length })) for (const k of group) fixes.delete(BTREE.dirents, k);
    return;
  }
  const kept: Entry[] = [];
  const stuck: number[] = [];
  const decoded = group.map(decodeDirent);
  const homes = decoded.map((d) => (typeof d === 'string' ? -1 : nameHash(d.name)));
  // Two entries of one name have one hash: without a hash seen twice (the usual case), no
  // name needs comparing.
  const names = sharedHome(homes) ? new Map<string, number>() : undefined;
  group.forEach((k, i) => {
    const d = decoded[i]!;
    if (typeof d === 'string') {
      if (ctx.problem(P.DIRENT_BAD, { dir, offset: k.offset, reason: d })) fixes.delete(BTREE.dirents, k);
      else stuck.push(k.offset);
      return;
    }
    const row = t.find(d.target);
    // Names are compared as bytes.
    const nameKey = names ? d.name.toString('latin1') : '';
    const first = names?.get(nameKey);
    let drop: boolean | undefined;
    if (row < 0) drop = ctx.problem(P.DIRENT_TARGET_MISSING, { dir, name: escapeName(d.name), target: d.target });
    else if (d.target === ROOT_INODE) drop = ctx.problem(P.DIRENT_TO_ROOT, { dir, name: escapeName(d.name) });
    else if (first !== undefined) drop = ctx.problem(P.DIRENT_DUPLICATE, { dir, name: escapeName(d.name), offset: k.offset, first });
    if (drop) {
      fixes.delete(BTREE.dirents, k);
      return;
    }
    if (first === undefined) names?.set(nameKey, k.offset);
    const entry: Entry = { key: k, dirent: d, offset: k.offset, home: homes[i]!, changed: false };
    const actual = row < 0 ? d.dType : t.dType(row);
    if (d.dType !== actual && ctx.problem(P.DIRENT_TYPE_WRONG, { dir, name: escapeName(d.name), target: d.target, recorded: d.dType, actual })) {
      entry.dirent = { ...d, dType: actual };
      entry.changed = true;
    }
    kept.push(entry);
  });
  placeAndCount(ctx, fixes, st, dir, group, kept, stuck);
}

/** Move what probing cannot reach, write repaired entries, and count links of the survivors. */
function placeAndCount(ctx: FsckContext, fixes: Fixes, st: FsState, dir: number, group: Key[], kept: Entry[], stuck: number[]): void {
  const t = st.inodes;
  const lostNow = unreachable(kept, group.map((k) => k.offset));
  // Nothing out of reach and nothing removed (the common case): nothing can need moving.
  const moves = kept.length + stuck.length === group.length && !lostNow.includes(true) ? new Map<number, number>() : planMoves(kept, stuck);
  const puts: Key[] = [];
  kept.forEach((e, i) => {
    let offset = e.key.offset;
    const to = moves.get(i);
    // An entry out of reach already is a problem of its own; one left out of reach by a removal
    // moves as part of that removal's fix.
    const move = to !== undefined && (!lostNow[i] || ctx.problem(P.DIRENT_HASH_WRONG, { dir, name: escapeName(e.dirent.name), offset, moveTo: to }));
    if (move && ctx.mayWrite) {
      fixes.delete(BTREE.dirents, e.key);
      offset = to!;
    }
    if (offset !== e.key.offset || e.changed) puts.push({ ...e.key, offset, value: ops.dirent.encode(e.dirent) });
    const row = t.find(e.dirent.target);
    if (row < 0 || e.dirent.target === ROOT_INODE) return;
    t.c.links[row]++;
    if (t.isDir(row)) {
      t.c.subdirs[t.find(dir)]++;
      st.dirNames.push({ target: e.dirent.target, dir, offset });
    }
  });
  for (const k of puts) fixes.put(BTREE.dirents, k);
}

/** Some name hash (-1: no name) occurs twice. */
function sharedHome(homes: number[]): boolean {
  if (homes.length < 2) return false;
  const sorted = Float64Array.from(homes).sort();
  for (let i = 1; i < sorted.length; i++) if (sorted[i] === sorted[i - 1] && sorted[i]! >= 0) return true;
  return false;
}
