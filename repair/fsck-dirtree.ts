// Pass 11: directory structure.
// Checks: every directory but the root is named by exactly one entry (extra names of a
// directory, hard links, are removed: the one in the directory its `parent` field names is
// kept); its `parent` field names the directory holding that entry (the root's names itself);
// following entries upward from every directory reaches the root, with no loop; every other
// inode is named somewhere.
// Builds: /lost+found (created on demand, mode 0700) holding `#<inode>` for every directory at
// the top of a disconnected chain or picked from a loop, and every unnamed inode that is not
// an empty regular file (those are cleared); link counts in the inode table kept in step.
import { type Dirent, escapeName, type Key, nameHash, ops } from '../format/keys.js';
import { BTREE, KEY_TYPE, ROOT_INODE } from '../format/layout.js';
import type { Volume } from '../format/volume.js';
import { type FsckContext, Fixes } from './fsck-context.js';
import type { FsState } from './fsck-load.js';
import { newDirectoryInode, kindWord, removeInode } from './fsck-inodes.js';
import { planMoves } from './fsck-probing.js';
import { INODE, type InodeTable } from './fsck-state.js';
import { type ContextValue, P, type ProblemDef } from './problems.js';

const LOST_FOUND = Buffer.from('lost+found');

export function checkDirectoryTree(ctx: FsckContext, vol: Volume, st: FsState): void {
  const fixes = new Fixes(vol, ctx);
  const tree = new TreeEdit(ctx, vol, st, fixes);
  tree.resolveNames();
  tree.checkParents();
  tree.connectDirectories();
  tree.connectInodes();
  tree.reprobe();
  fixes.commit('directory structure');
}

class TreeEdit {
  /** entries this pass removed and added, per directory: offset -> removed (null) or the new key */
  private readonly edits = new Map<number, Map<number, Key | null>>();
  private lostFound: number | undefined;
  private readonly t: InodeTable;

  constructor(private readonly ctx: FsckContext, private readonly vol: Volume, private readonly st: FsState, private readonly fixes: Fixes) {
    this.t = st.inodes;
  }

  /** One name per directory: extra names go, the kept one is recorded as nameParent. */
  resolveNames(): void {
    const names = this.st.dirNames;
    const t = this.t;
    const order = names.order('target', 'dir', 'offset');
    for (let i = 0; i < order.length;) {
      const target = names.get('target', order[i]!);
      let j = i;
      while (j < order.length && names.get('target', order[j]!) === target) j++;
      const row = t.find(target);
      const rows = order.slice(i, j);
      const keep = rows.find((r) => names.get('dir', r) === t.c.parent[row]) ?? rows[0]!;
      t.c.nameParent[row] = names.get('dir', keep);
      for (const r of rows) {
        if (r === keep) continue;
        const dir = names.get('dir', r);
        const offset = names.get('offset', r);
        const name = this.nameAt(dir, offset);
        if (this.ctx.problem(P.DIR_MULTIPLY_NAMED, { inode: target, dir, name, kept: names.get('dir', keep) })) this.unlink(dir, offset, row);
      }
      i = j;
    }
  }

  /** Every directory's parent field names the directory holding its entry. */
  checkParents(): void {
    const t = this.t;
    const root = t.find(ROOT_INODE);
    if (root >= 0 && t.c.parent[root] !== ROOT_INODE && this.ctx.problem(P.ROOT_PARENT_WRONG, { recorded: t.c.parent[root]! })) this.setParent(root, ROOT_INODE);
    const c = t.c;
    for (let row = 0; row < t.count; row++) {
      if ((c.mode[row]! & 0o170000) !== 0o040000 || c.flags[row]! & INODE.removed || c.inum[row] === ROOT_INODE) continue;
      const actual = c.nameParent[row]!;
      if (actual === 0 || c.parent[row] === actual) continue;
      // A directory fsck made this run learns its parent as a matter of course.
      if (this.st.created.has(t.c.inum[row]!) || this.ctx.problem(P.DIR_PARENT_WRONG, { inode: t.c.inum[row]!, recorded: t.c.parent[row]!, actual })) this.setParent(row, actual);
    }
  }

  /**
   * Walk up from every directory through nameParent. A walk ends at the root (all on the path
   * reached), at a directory no entry names (the top of a disconnected chain: reconnected), or
   * back on its own path (a loop: its lowest inode is reconnected, its old entry removed).
   */
  connectDirectories(): void {
    const t = this.t;
    const UNKNOWN = 0;
    const ON_PATH = 1;
    const DONE = 2;
    const state = new Uint8Array(t.count);
    for (let start = 0; start < t.count; start++) {
      if (!t.isDir(start) || t.c.flags[start]! & INODE.removed || state[start] !== UNKNOWN) continue;
      const path: number[] = [];
      let row = start;
      for (;;) {
        if (state[row] === DONE) break;
        if (state[row] === ON_PATH) {
          this.breakLoop(path.slice(path.indexOf(row)));
          break;
        }
        state[row] = ON_PATH;
        path.push(row);
        if (t.c.inum[row] === ROOT_INODE) break;
        const up = t.c.nameParent[row]!;
        const upRow = up === 0 ? -1 : t.find(up);
        if (upRow < 0) {
          this.reconnect(row, P.DIR_UNREACHABLE, { inode: t.c.inum[row]!, reason: up === 0 ? 'no directory entry names it' : `its entry is in ${up}, which is gone` });
          break;
        }
        row = upRow;
      }
      for (const r of path) state[r] = DONE;
      this.ctx.progress(start);
    }
  }

  private breakLoop(loop: number[]): void {
    const t = this.t;
    const pick = loop.reduce((a, b) => (t.c.inum[b]! < t.c.inum[a]! ? b : a));
    const inodes = loop.map((r) => t.c.inum[r]!);
    this.reconnect(pick, P.DIR_LOOP, { inode: t.c.inum[pick]!, loop: inodes.join(' -> ') }, true);
  }

  /** Inodes no entry names: empty regular files are cleared, the rest go to /lost+found. */
  connectInodes(): void {
    const t = this.t;
    for (let row = 0; row < t.count; row++) {
      if (t.isDir(row) || t.c.flags[row]! & INODE.removed || t.c.links[row]! > 0) continue;
      const inum = t.c.inum[row]!;
      const kind = kindWord(t.c.mode[row]!);
      const empty = kind === 'regular file' && t.c.size[row] === 0 && !(t.c.flags[row]! & (INODE.hasData | INODE.hasXattrs));
      if (empty) {
        if (this.ctx.problem(P.INODE_UNATTACHED_EMPTY, { inode: inum, kind })) removeInode(this.vol, this.fixes, this.st, row, inum);
        continue;
      }
      this.reconnect(row, P.INODE_UNATTACHED, { inode: inum, kind, size: t.c.size[row]! });
    }
  }

  /** Report, and when agreed, name the row's inode /lost+found/#<inode>. */
  private reconnect<C extends Record<string, ContextValue>>(row: number, def: ProblemDef<C>, context: C, unlinkOld = false): void {
    if (!this.ctx.problem(def, context)) return;
    const t = this.t;
    const inum = t.c.inum[row]!;
    const lf = this.lostAndFound();
    if (lf === undefined) return;
    row = t.find(inum);
    if (unlinkOld) {
      const oldDir = t.c.nameParent[row]!;
      const names = this.st.dirNames;
      for (let i = 0; i < names.count; i++) {
        if (names.get('target', i) === inum && names.get('dir', i) === oldDir) this.unlink(oldDir, names.get('offset', i), row);
      }
    }
    this.link(lf, this.freeName(lf, `#${inum}`), inum, t.dType(row));
    if (t.isDir(row)) {
      t.c.nameParent[row] = lf;
      this.setParent(row, lf);
    }
  }

  /** /lost+found's inode, found or created; undefined when it cannot be had. */
  private lostAndFound(): number | undefined {
    if (this.lostFound !== undefined) return this.lostFound;
    const t = this.t;
    const found = this.lookup(ROOT_INODE, LOST_FOUND);
    if (found) {
      const row = t.find(found.dirent.target);
      if (row >= 0 && t.isDir(row)) return (this.lostFound = found.dirent.target);
      // Something else has the name: it moves into the new /lost+found under its number.
      if (!this.ctx.problem(P.LOST_FOUND_BAD, { kind: row >= 0 ? kindWord(t.c.mode[row]!) : 'missing inode', inode: found.dirent.target })) return undefined;
      this.unlink(ROOT_INODE, found.offset, row);
    }
    // After every inode in use, so the table grows at its end and rows being walked keep their index.
    this.vol.counters.nextInode = Math.max(this.vol.counters.nextInode, t.maxInum() + 1);
    const inum = this.vol.allocateInode();
    const inode = newDirectoryInode(ROOT_INODE, 0o700, Math.floor(Date.now() / 1000));
    this.fixes.setInode(inum, inode);
    const row = t.append(inum, inode.mode, 2, 0, ROOT_INODE);
    t.c.nameParent[row] = ROOT_INODE;
    this.lostFound = inum;
    this.st.created.add(inum);
    this.link(ROOT_INODE, LOST_FOUND, inum, 4);
    // The root gains a subdirectory: its count moves with it, as any mkdir's would.
    const root = t.find(ROOT_INODE);
    if (root >= 0) {
      t.c.nlink[root]++;
      this.fixes.updateInode(ROOT_INODE, { nlink: t.c.nlink[root]! });
    }
    if (found) {
      const old = t.find(found.dirent.target);
      if (old >= 0) this.link(inum, this.freeName(inum, `#${found.dirent.target}`), found.dirent.target, t.dType(old));
    }
    return inum;
  }

  /** Add entry `name` -> target in `dir` at the first free offset from its hash. */
  private link(dir: number, name: Buffer, target: number, dType: number): void {
    let offset = nameHash(name);
    while (this.taken(dir, offset)) offset++;
    const key: Key = { inode: dir, offset, snapshot: 0, type: KEY_TYPE.dirent, value: ops.dirent.encode({ target, dType, name }) };
    this.edit(dir).set(offset, key);
    this.fixes.put(BTREE.dirents, key);
    const t = this.t;
    const row = t.find(target);
    if (row >= 0) t.c.links[row]++;
    if (row >= 0 && t.isDir(row)) t.c.subdirs[t.find(dir)]++;
  }

  /** Remove the entry at (dir, offset), which names the inode of `row`. */
  private unlink(dir: number, offset: number, row: number): void {
    this.edit(dir).set(offset, null);
    this.fixes.delete(BTREE.dirents, { inode: dir, offset, snapshot: 0 });
    const t = this.t;
    if (row < 0) return;
    t.c.links[row]--;
    if (t.isDir(row)) t.c.subdirs[t.find(dir)]--;
  }

  private setParent(row: number, parent: number): void {
    this.t.c.parent[row] = parent;
    this.fixes.updateInode(this.t.c.inum[row]!, { parent });
  }

  private edit(dir: number): Map<number, Key | null> {
    let m = this.edits.get(dir);
    if (!m) this.edits.set(dir, (m = new Map()));
    return m;
  }

  private taken(dir: number, offset: number): boolean {
    const e = this.edits.get(dir)?.get(offset);
    if (e !== undefined) return true; // added here, or removed here (left free only after the commit)
    return this.vol.trees[BTREE.dirents]!.get({ inode: dir, offset, snapshot: 0 }) !== undefined;
  }

  /** `base`, or `base.1`, `base.2` ... whichever is not a name in `dir` yet. */
  private freeName(dir: number, base: string): Buffer {
    for (let i = 0; ; i++) {
      const name = Buffer.from(i === 0 ? base : `${base}.${i}`);
      if (!this.lookup(dir, name)) return name;
    }
  }

  /** Lookup by probing, over the tree with this pass's edits applied. */
  private lookup(dir: number, name: Buffer): { offset: number; dirent: Dirent } | undefined {
    for (let offset = nameHash(name); ; offset++) {
      const edited = this.edits.get(dir)?.get(offset);
      const key = edited === undefined ? this.vol.trees[BTREE.dirents]!.get({ inode: dir, offset, snapshot: 0 }) : edited;
      if (!key) {
        if (edited === null) continue;
        return undefined;
      }
      try {
        const d = ops.dirent.decode(key.value);
        if (d.name.equals(name)) return { offset, dirent: d };
      } catch {
        /* a damaged entry the dirents pass left (-n): skip it */
      }
    }
  }

  /** Directories that lost entries here: move what probing no longer reaches. */
  reprobe(): void {
    if (!this.ctx.mayWrite) return;
    for (const [dir, edits] of this.edits) {
      if (![...edits.values()].some((e) => e === null)) continue;
      const entries: Key[] = [];
      for (const k of this.vol.trees[BTREE.dirents]!.scan({ inode: dir, offset: 0, snapshot: 0 }, { inode: dir, offset: Number.MAX_SAFE_INTEGER, snapshot: 0xffffffff })) {
        if (!edits.has(k.offset)) entries.push(k);
      }
      for (const e of edits.values()) if (e) entries.push(e);
      const homes = entries.map((k) => {
        try {
          return { offset: k.offset, home: nameHash(ops.dirent.decode(k.value).name) };
        } catch {
          return { offset: k.offset, home: k.offset };
        }
      });
      const moves = planMoves(homes);
      for (const [i] of moves) this.fixes.delete(BTREE.dirents, entries[i]!);
      for (const [i, to] of moves) this.fixes.put(BTREE.dirents, { ...entries[i]!, offset: to });
    }
  }

  private nameAt(dir: number, offset: number): string {
    const k = this.vol.trees[BTREE.dirents]!.get({ inode: dir, offset, snapshot: 0 });
    try {
      return k ? escapeName(ops.dirent.decode(k.value).name) : '?';
    } catch {
      return '?';
    }
  }
}
