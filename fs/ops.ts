// Filesystem operations on an open volume, each one transaction: it reads the committed state,
// writes any new data, computes every key update, and commits them as one journal entry. A
// failure before the commit leaves the image as it was (data written for the failed operation
// stays unreferenced and its space is reclaimed at the next checkpoint).
import { ImagePathError, OperationalError } from '../format/errors.js';
import type { Volume } from '../format/volume.js';
import type { JournalItem } from '../format/journal.js';
import { type DecodedInode, escapeName, type Key, nameHash, ops, type Pos, POS_MAX, type ReflinkPointer, type XattrEntry } from '../format/keys.js';
import { BTREE, DT, extentChunkSize, KEY_TYPE, NAME_MAX, ROOT_INODE, SYMLINK_MAX } from '../format/layout.js';
import { dataRuns, packChunk } from '../format/extent-write.js';
import { loadCompressor, type Compressor } from '../format/compress.js';
import { FsReader, S_IFDIR, splitPath } from './reader.js';
import { RefcountDelta } from './reflink.js';
import { KIND_TO_IFMT, S_IFMT, type EntryKind, type Timespec, type Xattr } from './entry.js';

export interface NewInode {
  kind: Exclude<EntryKind, 'hardlink'>;
  perm: number;
  uid?: number;
  gid?: number;
  atime?: Timespec;
  mtime?: Timespec;
  ctime?: Timespec;
  rdevMajor?: number;
  rdevMinor?: number;
  xattrs?: Xattr[];
}

/** File content for create: bytes in memory, or chunks read on demand (host files). */
export type Content = Buffer | AsyncIterable<Buffer> | Iterable<Buffer>;

const DT_OF: Record<string, number> = { file: DT.file, dir: DT.dir, symlink: DT.symlink, char: DT.char, block: DT.block, fifo: DT.fifo, socket: DT.socket };

export function nowTimespec(): Timespec {
  const ms = Date.now();
  return { sec: Math.floor(ms / 1000), nsec: (ms % 1000) * 1_000_000 };
}

const del = (btreeId: number, p: Pos): JournalItem => ({ btreeId, key: { inode: p.inode, offset: p.offset, snapshot: p.snapshot, type: KEY_TYPE.deleted, value: Buffer.alloc(0) } });
const put = (btreeId: number, key: Key): JournalItem => ({ btreeId, key });
const ino = (inum: number): Pos => ({ inode: inum, offset: 0, snapshot: 0 });

export class FsWriter {
  readonly reader: FsReader;
  readonly inlineMax: number;
  private staging: Buffer | undefined;

  private constructor(readonly vol: Volume, private readonly compressor: Compressor) {
    this.reader = new FsReader(vol.img);
    this.inlineMax = Math.min(2048, vol.fs.nodeSize / 8);
  }

  static async on(vol: Volume): Promise<FsWriter> {
    return new FsWriter(vol, await loadCompressor());
  }

  // -------------------------------------------------------------------------------------------
  // Lookups

  private inodeKey(inum: number, inode: DecodedInode): Key {
    return { inode: inum, offset: 0, snapshot: 0, type: KEY_TYPE.inode, value: ops.inode.encode(inode) };
  }

  /** The directory that would hold `path` and the last name; the directory must exist. */
  parentOf(path: string | Buffer): { dir: number; dirInode: DecodedInode; name: Buffer; shown: string } {
    const bytes = typeof path === 'string' ? Buffer.from(path) : path;
    const shown = typeof path === 'string' ? path : escapeName(path);
    const parts = splitPath(bytes);
    if (parts.length === 0) throw new ImagePathError(shown, 'EEXIST', `${shown}: is the root directory`);
    const name = parts[parts.length - 1]!;
    if (name.length > NAME_MAX) throw new ImagePathError(shown, 'EINVAL', `${shown}: File name too long`);
    const parentPath = Buffer.concat(parts.slice(0, -1).flatMap((p) => [Buffer.from('/'), p]));
    let dir: { inum: number; inode: DecodedInode };
    try {
      dir = this.reader.lookup(parentPath.length ? parentPath : '/');
    } catch (err) {
      if (err instanceof ImagePathError) throw new ImagePathError(shown, err.code as 'ENOENT' | 'ENOTDIR');
      throw err;
    }
    if ((dir.inode.mode & S_IFMT) !== S_IFDIR) throw new ImagePathError(shown, 'ENOTDIR');
    return { dir: dir.inum, dirInode: dir.inode, name: Buffer.from(name), shown };
  }

  exists(path: string | Buffer): boolean {
    try {
      this.reader.lookup(path);
      return true;
    } catch (err) {
      if (err instanceof ImagePathError) return false;
      throw err;
    }
  }

  // -------------------------------------------------------------------------------------------
  // Building blocks that return journal items

  /** Dirent insertion: the first free position at or after the name's hash. */
  private direntItem(dir: number, name: Buffer, target: number, dType: number, taken = new Set<number>()): JournalItem {
    let offset = nameHash(name);
    while (taken.has(offset) || this.vol.trees[BTREE.dirents]!.get({ inode: dir, offset, snapshot: 0 })) offset++;
    taken.add(offset);
    return put(BTREE.dirents, { inode: dir, offset, snapshot: 0, type: KEY_TYPE.dirent, value: ops.dirent.encode({ target, dType, name }) });
  }

  /**
   * Remove the key at `offset` from a hash-probed run (dirents or xattrs of one owner) and move
   * back any later key of the run that probing had pushed past the gap, so lookups that stop at
   * the first gap still find every name.
   */
  private removeProbed(btreeId: number, owner: number, offset: number, nameOf: (k: Key) => Buffer): JournalItem[] {
    const items: JournalItem[] = [del(btreeId, { inode: owner, offset, snapshot: 0 })];
    let gap = offset;
    let at = offset + 1;
    for (const k of this.vol.trees[btreeId]!.range({ inode: owner, offset: at, snapshot: 0 }, { inode: owner, offset: POS_MAX.offset, snapshot: 0 })) {
      if (k.offset !== at) break;
      const home = nameHash(nameOf(k));
      if (home <= gap) {
        items.push(del(btreeId, k), put(btreeId, { ...k, offset: gap }));
        gap = k.offset;
      }
      at++;
    }
    return items;
  }

  private xattrItems(inum: number, xattrs: Xattr[]): JournalItem[] {
    const taken = new Set<number>();
    return xattrs.map((x) => {
      if (x.value.length > this.vol.fs.nodeSize / 4) throw new OperationalError('E2BIG', `xattr ${escapeName(x.name)}: value of ${x.value.length} bytes exceeds ${this.vol.fs.nodeSize / 4}`);
      const problem = ops.xattr.validate(ino(inum), x);
      if (problem) throw new OperationalError('EINVAL', `xattr ${escapeName(x.name)}: ${problem}`);
      let offset = nameHash(x.name);
      while (taken.has(offset) || this.vol.trees[BTREE.xattrs]!.get({ inode: inum, offset, snapshot: 0 })) offset++;
      taken.add(offset);
      return put(BTREE.xattrs, { inode: inum, offset, snapshot: 0, type: KEY_TYPE.xattr, value: ops.xattr.encode(x) });
    });
  }

  /** Store `data` at file offset `start` of `inum` as extents (holes for zero blocks). */
  private async dataItems(inum: number, start: number, chunks: Content): Promise<{ items: JournalItem[]; length: number }> {
    const fs = this.vol.fs;
    const items: JournalItem[] = [];
    // One staging buffer per writer: every chunk is stored (written and encoded) before the
    // next is gathered, so nothing keeps a view of it.
    const staging = (this.staging ??= Buffer.alloc(extentChunkSize(fs.bucketSize)));
    let fill = 0;
    let at = start;
    const flushStaging = (data: Buffer) => {
      for (const [a, b] of dataRuns(data, fs.blockSize)) {
        const piece = data.subarray(a, b);
        const packed = packChunk(piece, fs.compression, fs.compressionLevel, fs.dataChecksum, fs.blockSize, this.compressor, this.vol.img.checksums);
        // On an erasure-coded image new data is not added to stripes (a stripe is only ever
        // written whole): it is kept with m+1 replicas, which survives what the stripes survive.
        const pointers = this.vol.writeData(packed.stored, fs.ecData ? Math.min(fs.members.length, fs.ecParity + 1) : fs.dataReplicas);
        items.push(put(BTREE.extents, {
          inode: inum, offset: at + b, snapshot: 0, type: KEY_TYPE.extent,
          value: ops.extent.encode({ liveSize: piece.length, chunkOffset: 0, uncompressedSize: piece.length, storedSize: packed.stored.length, checksum: packed.checksum, checksumType: fs.dataChecksum, compression: packed.compression, stripeId: 0, stripeBlock: 0, pointers }),
        }));
      }
      at += data.length;
    };
    const source: Iterable<Buffer> | AsyncIterable<Buffer> = Buffer.isBuffer(chunks) ? [chunks] : chunks;
    for await (const chunk of source) {
      let p = 0;
      while (p < chunk.length) {
        const n = Math.min(chunk.length - p, staging.length - fill);
        chunk.copy(staging, fill, p, p + n);
        fill += n;
        p += n;
        if (fill === staging.length) {
          flushStaging(staging);
          fill = 0;
        }
      }
    }
    if (fill > 0) flushStaging(Buffer.from(staging.subarray(0, fill)));
    return { items, length: at - start };
  }

  /** Items that remove file data in [start, end): deleted, trimmed or split keys. */
  private punchItems(inum: number, start: number, end: number, refs: RefcountDelta): JournalItem[] {
    const items: JournalItem[] = [];
    for (const e of this.reader.extents(inum)) {
      if (e.end <= start || e.start >= end) continue;
      const k = e.key;
      if (e.kind === 'reflink') {
        // A shared range loses this pointer and gains its remaining pieces: refcounts follow.
        const r = ops.reflinkPointer.decode(k.value);
        refs.pointer(r, -1);
        if (e.start < start) refs.pointer({ liveSize: start - e.start, index: r.index }, 1);
        if (e.end > end) refs.pointer({ liveSize: e.end - end, index: r.index + (end - e.start) }, 1);
      }
      let replacedAtEnd = false;
      if (e.start < start) {
        const front = start - e.start;
        items.push(put(BTREE.extents, { ...k, offset: start, value: this.trimmedValue(k, 0, front) }));
      }
      if (e.end > end) {
        const skip = end - e.start;
        items.push(put(BTREE.extents, { ...k, value: this.trimmedValue(k, skip, e.end - end) }));
        replacedAtEnd = true;
      }
      if (!replacedAtEnd) items.push(del(BTREE.extents, k));
    }
    return items;
  }

  /** The value of key `k` keeping `length` bytes starting `skip` bytes into its range. */
  private trimmedValue(k: Key, skip: number, length: number): Buffer {
    if (k.type === KEY_TYPE.inlineData) return Buffer.from(k.value.subarray(skip, skip + length));
    if (k.type === KEY_TYPE.reflinkPointer) {
      const r = ops.reflinkPointer.decode(k.value);
      return ops.reflinkPointer.encode({ liveSize: length, index: r.index + skip });
    }
    const body = ops.extent.decode(k.value);
    return ops.extent.encode({ ...body, chunkOffset: body.chunkOffset + skip, liveSize: length });
  }

  private newInodeValue(kind: NewInode['kind'], meta: NewInode, parent: number): DecodedInode {
    const now = nowTimespec();
    const a = meta.atime ?? now;
    const m = meta.mtime ?? now;
    const c = meta.ctime ?? now;
    return {
      mode: KIND_TO_IFMT[kind] | (meta.perm & 0o7777), uid: meta.uid ?? 0, gid: meta.gid ?? 0, nlink: kind === 'dir' ? 2 : 1, size: 0,
      atime_sec: a.sec, mtime_sec: m.sec, ctime_sec: c.sec, atime_nsec: a.nsec, mtime_nsec: m.nsec, ctime_nsec: c.nsec,
      flags: 0, rdev_major: meta.rdevMajor ?? 0, rdev_minor: meta.rdevMinor ?? 0, parent: kind === 'dir' ? parent : 0, generation: 0, reserved: 0,
    };
  }

  private touchDir(inode: DecodedInode, subdirDelta = 0): DecodedInode {
    const now = nowTimespec();
    return { ...inode, nlink: inode.nlink + subdirDelta, mtime_sec: now.sec, mtime_nsec: now.nsec, ctime_sec: now.sec, ctime_nsec: now.nsec };
  }

  // -------------------------------------------------------------------------------------------
  // Operations

  /**
   * Create a file, directory, symlink or special file at `path` with its content and xattrs,
   * in one transaction. Returns the new inode number.
   */
  async create(path: string | Buffer, meta: NewInode, content?: Content, label?: string): Promise<number> {
    const { dir, dirInode, name, shown } = this.parentOf(path);
    if (this.reader.lookupName(dir, name)) throw new ImagePathError(shown, 'EEXIST');
    const inum = this.vol.allocateInode();
    const inode = this.newInodeValue(meta.kind, meta, dir);
    const items: JournalItem[] = [];
    if (content !== undefined && (meta.kind === 'file' || meta.kind === 'symlink')) {
      const { bytes, iterable } = await smallOrStream(content, this.inlineMax);
      if (bytes) {
        inode.size = bytes.length;
        if (bytes.length > 0) items.push(put(BTREE.extents, { inode: inum, offset: bytes.length, snapshot: 0, type: KEY_TYPE.inlineData, value: bytes }));
      } else {
        const written = await this.dataItems(inum, 0, iterable!);
        inode.size = written.length;
        items.push(...written.items);
      }
      if (meta.kind === 'symlink' && (inode.size === 0 || inode.size > SYMLINK_MAX)) throw new ImagePathError(shown, 'EINVAL', `${shown}: symlink target of ${inode.size} bytes`);
    }
    items.unshift(put(BTREE.inodes, this.inodeKey(inum, inode)));
    items.push(this.direntItem(dir, name, inum, DT_OF[meta.kind]!));
    items.push(...this.xattrItems(inum, meta.xattrs ?? []));
    items.push(put(BTREE.inodes, this.inodeKey(dir, this.touchDir(dirInode, meta.kind === 'dir' ? 1 : 0))));
    this.vol.commit(items, label ?? `create ${shown}`);
    return inum;
  }

  async mkdir(path: string | Buffer, meta: Partial<NewInode> = {}, parents = false): Promise<number> {
    if (parents) {
      const parts = splitPath(typeof path === 'string' ? Buffer.from(path) : path);
      let inum = ROOT_INODE;
      let prefix = Buffer.alloc(0);
      for (const part of parts) {
        prefix = Buffer.concat([prefix, Buffer.from('/'), part]);
        const found = this.reader.lookupName(inum, part);
        if (found) {
          const child = this.reader.requireInode(found.target, escapeName(prefix));
          if ((child.mode & S_IFMT) !== S_IFDIR) throw new ImagePathError(escapeName(prefix), 'ENOTDIR');
          inum = found.target;
        } else {
          inum = await this.create(prefix, { kind: 'dir', perm: meta.perm ?? 0o755, ...meta });
        }
      }
      return inum;
    }
    return this.create(path, { kind: 'dir', perm: meta.perm ?? 0o755, ...meta });
  }

  async symlink(target: Buffer, path: string | Buffer, meta: Partial<NewInode> = {}): Promise<number> {
    return this.create(path, { kind: 'symlink', perm: 0o777, ...meta }, target);
  }

  /** A new name for an existing non-directory. */
  link(existing: string | Buffer, path: string | Buffer): void {
    const src = this.reader.lookup(existing);
    if ((src.inode.mode & S_IFMT) === S_IFDIR) throw new ImagePathError(typeof existing === 'string' ? existing : escapeName(existing), 'EISDIR', `${existing}: hard link not allowed for directory`);
    const { dir, dirInode, name, shown } = this.parentOf(path);
    if (this.reader.lookupName(dir, name)) throw new ImagePathError(shown, 'EEXIST');
    const now = nowTimespec();
    const items = [
      put(BTREE.inodes, this.inodeKey(src.inum, { ...src.inode, nlink: src.inode.nlink + 1, ctime_sec: now.sec, ctime_nsec: now.nsec })),
      this.direntItem(dir, name, src.inum, DT_OF[kindName(src.inode.mode)]!),
      put(BTREE.inodes, this.inodeKey(dir, this.touchDir(dirInode))),
    ];
    this.vol.commit(items, `link ${shown}`);
  }

  /** Items deleting an inode and everything it owns. */
  private dropInodeItems(inum: number, refs: RefcountDelta): JournalItem[] {
    const items: JournalItem[] = [];
    for (const e of this.reader.extents(inum)) {
      if (e.kind === 'reflink') refs.pointer(ops.reflinkPointer.decode(e.key.value), -1);
      items.push(del(BTREE.extents, e.key));
    }
    for (const k of this.vol.trees[BTREE.xattrs]!.range(ino(inum), { inode: inum, offset: POS_MAX.offset, snapshot: 0 })) items.push(del(BTREE.xattrs, k));
    items.push(del(BTREE.inodes, ino(inum)));
    return items;
  }

  /** Remove a non-directory name (unlink) or an empty directory (rmdir). */
  remove(path: string | Buffer, expect: 'file' | 'dir' | 'any' = 'file'): void {
    const { dir, dirInode, name, shown } = this.parentOf(path);
    const d = this.reader.lookupName(dir, name);
    if (!d) throw new ImagePathError(shown, 'ENOENT');
    const target = this.reader.requireInode(d.target, shown);
    const isDir = (target.mode & S_IFMT) === S_IFDIR;
    if (isDir && expect === 'file') throw new ImagePathError(shown, 'EISDIR');
    if (!isDir && expect === 'dir') throw new ImagePathError(shown, 'ENOTDIR');
    if (isDir && this.reader.readdir(d.target).length > 0) throw new ImagePathError(shown, 'ENOTEMPTY');
    const refs = new RefcountDelta(this.vol);
    const items = this.removeProbed(BTREE.dirents, dir, d.offset, (k) => ops.dirent.decode(k.value).name);
    if (isDir || target.nlink <= 1) items.push(...this.dropInodeItems(d.target, refs));
    else {
      const now = nowTimespec();
      items.push(put(BTREE.inodes, this.inodeKey(d.target, { ...target, nlink: target.nlink - 1, ctime_sec: now.sec, ctime_nsec: now.nsec })));
    }
    items.push(put(BTREE.inodes, this.inodeKey(dir, this.touchDir(dirInode, isDir ? -1 : 0))));
    items.push(...refs.items());
    this.vol.commit(items, `remove ${shown}`);
  }

  /** rename(2): also over an existing target (a file, or an empty directory when moving one). */
  rename(from: string | Buffer, to: string | Buffer): void {
    const src = this.parentOf(from);
    const d = this.reader.lookupName(src.dir, src.name);
    if (!d) throw new ImagePathError(src.shown, 'ENOENT');
    const moving = this.reader.requireInode(d.target, src.shown);
    const movingDir = (moving.mode & S_IFMT) === S_IFDIR;
    const dst = this.parentOf(to);
    if (movingDir) {
      // A directory cannot move below itself: walk up from the destination to the root.
      for (let at = dst.dir, guard = 0; ; guard++) {
        if (at === d.target) throw new ImagePathError(dst.shown, 'EINVAL', `cannot move ${src.shown} to a subdirectory of itself, ${dst.shown}`);
        if (at === ROOT_INODE || guard > 4096) break;
        at = this.reader.requireInode(at, dst.shown).parent;
      }
    }
    const existing = this.reader.lookupName(dst.dir, dst.name);
    if (existing && existing.target === d.target) return;
    const items: JournalItem[] = [];
    const refs = new RefcountDelta(this.vol);
    // Remove the old name first; when both names live in one directory, the dirent probing of
    // the new name must see that removal, so compute it against a tree without the old key.
    items.push(...this.removeProbed(BTREE.dirents, src.dir, d.offset, (k) => ops.dirent.decode(k.value).name));
    let dstDirInode = dst.dirInode;
    if (existing) {
      const victim = this.reader.requireInode(existing.target, dst.shown);
      const victimDir = (victim.mode & S_IFMT) === S_IFDIR;
      if (victimDir && !movingDir) throw new ImagePathError(dst.shown, 'EISDIR');
      if (!victimDir && movingDir) throw new ImagePathError(dst.shown, 'ENOTDIR');
      if (victimDir && this.reader.readdir(existing.target).length > 0) throw new ImagePathError(dst.shown, 'ENOTEMPTY');
      items.push(del(BTREE.dirents, { inode: dst.dir, offset: existing.offset, snapshot: 0 }));
      if (victimDir || victim.nlink <= 1) items.push(...this.dropInodeItems(existing.target, refs));
      else items.push(put(BTREE.inodes, this.inodeKey(existing.target, { ...victim, nlink: victim.nlink - 1 })));
      if (victimDir) dstDirInode = { ...dstDirInode, nlink: dstDirInode.nlink - 1 };
      // Reuse the victim's slot: it is where probing for this name stops.
      items.push(put(BTREE.dirents, { inode: dst.dir, offset: existing.offset, snapshot: 0, type: KEY_TYPE.dirent, value: ops.dirent.encode({ target: d.target, dType: d.dType, name: dst.name }) }));
    } else {
      const taken = new Set<number>();
      // The old slot is free once this transaction applies, but probing reads committed state:
      // never reuse a position another item of this transaction fills.
      for (const it of items) if (it.key.type !== KEY_TYPE.deleted && it.btreeId === BTREE.dirents && it.key.inode === dst.dir) taken.add(it.key.offset);
      items.push(this.direntItem(dst.dir, dst.name, d.target, d.dType, taken));
    }
    const now = nowTimespec();
    const movedAcross = movingDir && src.dir !== dst.dir;
    items.push(put(BTREE.inodes, this.inodeKey(d.target, { ...moving, ctime_sec: now.sec, ctime_nsec: now.nsec, parent: movingDir ? dst.dir : moving.parent })));
    if (src.dir === dst.dir) {
      items.push(put(BTREE.inodes, this.inodeKey(src.dir, this.touchDir(dstDirInode))));
    } else {
      items.push(put(BTREE.inodes, this.inodeKey(src.dir, this.touchDir(src.dirInode, movedAcross ? -1 : 0))));
      items.push(put(BTREE.inodes, this.inodeKey(dst.dir, this.touchDir(dstDirInode, movedAcross ? 1 : 0))));
    }
    items.push(...refs.items());
    this.vol.commit(items, `rename ${src.shown} ${dst.shown}`);
  }

  /** pwrite(2): write `data` at `offset`, growing the file as needed. */
  async write(path: string | Buffer, offset: number, data: Buffer): Promise<void> {
    const { inum, inode } = this.reader.lookup(path);
    if ((inode.mode & S_IFMT) !== KIND_TO_IFMT.file) throw new ImagePathError(String(path), 'EISDIR', `${path}: not a regular file`);
    const end = offset + data.length;
    const newSize = Math.max(inode.size, end);
    const items: JournalItem[] = [];
    const refs = new RefcountDelta(this.vol);
    const extents = this.reader.extents(inum);
    const inline = extents.find((e) => e.kind === 'inline');
    if (newSize <= this.inlineMax && extents.every((e) => e.kind === 'inline')) {
      // Small files stay one inline key holding the whole content.
      const content = Buffer.alloc(newSize);
      this.reader.readAll(inum, inode.size, String(path)).copy(content);
      data.copy(content, offset);
      for (const e of extents) items.push(del(BTREE.extents, e.key));
      if (newSize > 0) items.push(put(BTREE.extents, { inode: inum, offset: newSize, snapshot: 0, type: KEY_TYPE.inlineData, value: content }));
    } else if (inline) {
      // Growing out of inline: rewrite the inline bytes and the new data together as extents.
      const from = Math.min(offset, inline.start);
      const to = Math.max(end, inline.end);
      const merged = Buffer.alloc(to - from);
      inline.key.value.copy(merged, inline.start - from);
      data.copy(merged, offset - from);
      items.push(...this.punchItems(inum, from, to, refs));
      items.push(...(await this.dataItems(inum, from, merged)).items);
    } else {
      items.push(...this.punchItems(inum, offset, end, refs));
      items.push(...(await this.dataItems(inum, offset, data)).items);
    }
    items.push(...refs.items());
    const now = nowTimespec();
    items.push(put(BTREE.inodes, this.inodeKey(inum, { ...inode, size: newSize, mtime_sec: now.sec, mtime_nsec: now.nsec, ctime_sec: now.sec, ctime_nsec: now.nsec })));
    this.vol.commit(items, `write ${path}`);
  }

  /** truncate(2). */
  truncate(path: string | Buffer, size: number): void {
    const { inum, inode } = this.reader.lookup(path);
    if ((inode.mode & S_IFMT) !== KIND_TO_IFMT.file) throw new ImagePathError(String(path), 'EISDIR', `${path}: not a regular file`);
    const refs = new RefcountDelta(this.vol);
    const items = size < inode.size ? this.punchItems(inum, size, inode.size, refs) : [];
    const now = nowTimespec();
    items.push(put(BTREE.inodes, this.inodeKey(inum, { ...inode, size, mtime_sec: now.sec, mtime_nsec: now.nsec, ctime_sec: now.sec, ctime_nsec: now.nsec })));
    items.push(...refs.items());
    this.vol.commit(items, `truncate ${path}`);
  }

  /** fallocate(PUNCH_HOLE): [offset, offset + length) reads as zeros and frees its space. */
  punchHole(path: string | Buffer, offset: number, length: number): void {
    const { inum, inode } = this.reader.lookup(path);
    if ((inode.mode & S_IFMT) !== KIND_TO_IFMT.file) throw new ImagePathError(String(path), 'EISDIR', `${path}: not a regular file`);
    const refs = new RefcountDelta(this.vol);
    const end = Math.min(inode.size, offset + length);
    if (end <= offset) return;
    const items = this.punchItems(inum, offset, end, refs);
    items.push(...refs.items());
    if (items.length) this.vol.commit(items, `punch ${path}`);
  }

  /**
   * cp --reflink: a new file `dst` sharing `src`'s data. Unshared extents of the source move
   * into the reflink btree as indirect extents (their bytes stay where they are), and both
   * files get reflink pointers; inline data is copied.
   */
  async reflinkCopy(src: string | Buffer, dst: string | Buffer): Promise<number> {
    const s = this.reader.lookup(src);
    if ((s.inode.mode & S_IFMT) !== KIND_TO_IFMT.file) throw new ImagePathError(String(src), 'EISDIR', `${src}: not a regular file`);
    const { dir, dirInode, name, shown } = this.parentOf(dst);
    if (this.reader.lookupName(dir, name)) throw new ImagePathError(shown, 'EEXIST');
    const inum = this.vol.allocateInode();
    const now = nowTimespec();
    const inode: DecodedInode = { ...s.inode, nlink: 1, atime_sec: now.sec, atime_nsec: now.nsec, mtime_sec: now.sec, mtime_nsec: now.nsec, ctime_sec: now.sec, ctime_nsec: now.nsec };
    const items: JournalItem[] = [put(BTREE.inodes, this.inodeKey(inum, inode))];
    const refs = new RefcountDelta(this.vol);
    for (const e of this.reader.extents(s.inum)) {
      const k = e.key;
      if (e.kind === 'inline') {
        items.push(put(BTREE.extents, { ...k, inode: inum }));
        continue;
      }
      let pointer: ReflinkPointer;
      if (e.kind === 'extent') {
        const body = ops.extent.decode(k.value);
        const index = this.vol.allocateReflink(body.liveSize);
        const indirect: Key = { inode: 0, offset: index + body.liveSize, snapshot: 0, type: KEY_TYPE.indirectExtent, value: ops.indirectExtent.encode({ refcount: 1, body }) };
        refs.addIndirect(indirect);
        pointer = { liveSize: body.liveSize, index };
        refs.pointer(pointer, 1);
        items.push(put(BTREE.extents, { ...k, type: KEY_TYPE.reflinkPointer, value: ops.reflinkPointer.encode(pointer) }));
      } else {
        pointer = ops.reflinkPointer.decode(k.value);
      }
      refs.pointer(pointer, 1);
      items.push(put(BTREE.extents, { ...k, inode: inum, type: KEY_TYPE.reflinkPointer, value: ops.reflinkPointer.encode(pointer) }));
    }
    // Indirect extents first: replaying in order never sees a pointer to a missing extent.
    items.splice(1, 0, ...refs.items());
    items.push(this.direntItem(dir, name, inum, DT.file));
    items.push(put(BTREE.inodes, this.inodeKey(dir, this.touchDir(dirInode))));
    this.vol.commit(items, `reflink ${shown}`);
    return inum;
  }

  /** cp without --reflink: a new file with a copy of the bytes (holes stay holes). */
  async copyFile(src: string | Buffer, dst: string | Buffer): Promise<number> {
    const s = this.reader.lookup(src);
    if ((s.inode.mode & S_IFMT) !== KIND_TO_IFMT.file) throw new ImagePathError(String(src), 'EISDIR', `${src}: not a regular file`);
    const inum = await this.create(dst, { kind: 'file', perm: s.inode.mode & 0o7777, uid: s.inode.uid, gid: s.inode.gid });
    for (const p of this.reader.pieces(s.inum, s.inode.size, String(src))) {
      if ('data' in p) await this.write(dst, p.offset, Buffer.from(p.data));
    }
    const d = this.reader.lookup(dst);
    if (d.inode.size !== s.inode.size) this.truncate(dst, s.inode.size);
    return inum;
  }

  /** chmod / chown / utimes in one: fields left undefined stay. */
  setattr(path: string | Buffer, attrs: { perm?: number; uid?: number; gid?: number; atime?: Timespec; mtime?: Timespec }): void {
    const { inum, inode } = this.reader.lookup(path);
    const now = nowTimespec();
    const next: DecodedInode = {
      ...inode,
      mode: attrs.perm !== undefined ? (inode.mode & S_IFMT) | (attrs.perm & 0o7777) : inode.mode,
      uid: attrs.uid ?? inode.uid,
      gid: attrs.gid ?? inode.gid,
      atime_sec: attrs.atime?.sec ?? inode.atime_sec, atime_nsec: attrs.atime?.nsec ?? inode.atime_nsec,
      mtime_sec: attrs.mtime?.sec ?? inode.mtime_sec, mtime_nsec: attrs.mtime?.nsec ?? inode.mtime_nsec,
      ctime_sec: now.sec, ctime_nsec: now.nsec,
    };
    this.vol.commit([put(BTREE.inodes, this.inodeKey(inum, next))], `setattr ${path}`);
  }

  setxattr(path: string | Buffer, x: Xattr): void {
    const { inum } = this.reader.lookup(path);
    const existing = this.findXattr(inum, x.name);
    const items = existing
      ? [put(BTREE.xattrs, { ...existing.key, value: ops.xattr.encode(x) })]
      : this.xattrItems(inum, [x]);
    this.vol.commit(items, `setxattr ${path}`);
  }

  removexattr(path: string | Buffer, name: Buffer): void {
    const { inum } = this.reader.lookup(path);
    const existing = this.findXattr(inum, name);
    if (!existing) throw new OperationalError('ENODATA', `${path}: no attribute ${escapeName(name)}`);
    this.vol.commit(this.removeProbed(BTREE.xattrs, inum, existing.key.offset, (k) => ops.xattr.decode(k.value).name), `removexattr ${path}`);
  }

  private findXattr(inum: number, name: Buffer): { key: Key; xattr: XattrEntry } | undefined {
    let expect = nameHash(name);
    for (const k of this.vol.trees[BTREE.xattrs]!.range({ inode: inum, offset: expect, snapshot: 0 }, { inode: inum, offset: POS_MAX.offset, snapshot: 0 })) {
      if (k.offset !== expect) return undefined;
      const x = ops.xattr.decode(k.value);
      if (x.name.equals(name)) return { key: k, xattr: x };
      expect++;
    }
    return undefined;
  }
}

function kindName(mode: number): string {
  for (const [k, v] of Object.entries(KIND_TO_IFMT)) if (v === (mode & S_IFMT)) return k;
  return 'file';
}

/** Content that fits inline is gathered into one buffer; anything larger streams. */
async function smallOrStream(content: Content, inlineMax: number): Promise<{ bytes?: Buffer; iterable?: AsyncIterable<Buffer> | Iterable<Buffer> }> {
  if (Buffer.isBuffer(content)) return content.length <= inlineMax ? { bytes: content } : { iterable: [content] };
  const head: Buffer[] = [];
  let size = 0;
  const it = (Symbol.asyncIterator in content ? (content as AsyncIterable<Buffer>)[Symbol.asyncIterator]() : (content as Iterable<Buffer>)[Symbol.iterator]()) as AsyncIterator<Buffer> | Iterator<Buffer>;
  for (;;) {
    const r = await it.next();
    if (r.done) return { bytes: Buffer.concat(head) };
    head.push(r.value);
    size += r.value.length;
    if (size > inlineMax) break;
  }
  const rest = {
    async *[Symbol.asyncIterator]() {
      yield* head;
      for (;;) {
        const r = await it.next();
        if (r.done) return;
        yield r.value;
      }
    },
  };
  return { iterable: rest };
}
