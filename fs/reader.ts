// Reading files out of an image: path lookup, directory listing, inode and xattr access, and
// file content as a sequence of data pieces and holes. Shared by every dump subcommand and by
// extraction; nothing here writes.
import { CorruptImageError, ImagePathError } from '../format/errors.js';
import type { Image } from '../format/image.js';
import { type DecodedInode, decodeValue, type Dirent, escapeName, type Key, nameHash, ops, POS_MAX, type XattrEntry } from '../format/keys.js';
import { BTREE, KEY_TYPE, MAX_EXTENT_SIZE, ROOT_INODE } from '../format/layout.js';
import { S_IFMT } from './entry.js';

export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
export const S_IFLNK = 0o120000;

export interface DirEntry extends Dirent {
  offset: number;
}

/** One piece of a file: data at `offset`, or a hole of `length` zero bytes. */
export type FilePiece = { offset: number; data: Buffer } | { offset: number; hole: number };

export interface ExtentInfo {
  start: number;
  end: number;
  kind: 'inline' | 'extent' | 'reflink';
  key: Key;
}

export class FsReader {
  constructor(readonly img: Image) {}

  inode(inum: number): DecodedInode | undefined {
    const k = this.img.btrees[BTREE.inodes]!.get({ inode: inum, offset: 0, snapshot: 0 });
    return k && k.type === KEY_TYPE.inode ? decodeValue(ops.inode, k, BTREE.inodes) : undefined;
  }

  requireInode(inum: number, path: string): DecodedInode {
    const ino = this.inode(inum);
    if (!ino) throw new ImagePathError(path, 'ENOENT', `inode ${inum} is missing`);
    return ino;
  }

  /** Entries of a directory, sorted by name bytes. */
  readdir(dir: number): DirEntry[] {
    const out: DirEntry[] = [];
    for (const k of this.img.btrees[BTREE.dirents]!.range({ inode: dir, offset: 0, snapshot: 0 }, { inode: dir, offset: POS_MAX.offset, snapshot: POS_MAX.snapshot })) {
      if (k.type !== KEY_TYPE.dirent) continue;
      out.push({ ...decodeValue(ops.dirent, k, BTREE.dirents), offset: k.offset });
    }
    return out.sort((a, b) => Buffer.compare(a.name, b.name));
  }

  /** Find `name` in `dir`: start at its hash and probe forward until the name or a gap. */
  lookupName(dir: number, name: Buffer): DirEntry | undefined {
    let expect = nameHash(name);
    for (const k of this.img.btrees[BTREE.dirents]!.range({ inode: dir, offset: expect, snapshot: 0 }, { inode: dir, offset: POS_MAX.offset, snapshot: POS_MAX.snapshot })) {
      if (k.offset !== expect) return undefined;
      const d = decodeValue(ops.dirent, k, BTREE.dirents);
      if (d.name.equals(name)) return { ...d, offset: k.offset };
      expect++;
    }
    return undefined;
  }

  /** Resolve an absolute image path without following symlinks. */
  lookup(path: string | Buffer): { inum: number; inode: DecodedInode } {
    const bytes = typeof path === 'string' ? Buffer.from(path) : path;
    const shown = typeof path === 'string' ? path : escapeName(path);
    const parts = splitPath(bytes);
    let inum = ROOT_INODE;
    let inode = this.requireInode(inum, '/');
    for (let i = 0; i < parts.length; i++) {
      if ((inode.mode & S_IFMT) !== S_IFDIR) throw new ImagePathError(shown, 'ENOTDIR');
      const d = this.lookupName(inum, parts[i]!);
      if (!d) throw new ImagePathError(shown, 'ENOENT');
      inum = d.target;
      inode = this.requireInode(inum, shown);
    }
    return { inum, inode };
  }

  xattrs(inum: number): XattrEntry[] {
    const out: XattrEntry[] = [];
    for (const k of this.img.btrees[BTREE.xattrs]!.range({ inode: inum, offset: 0, snapshot: 0 }, { inode: inum, offset: POS_MAX.offset, snapshot: POS_MAX.snapshot })) {
      if (k.type === KEY_TYPE.xattr) out.push(decodeValue(ops.xattr, k, BTREE.xattrs));
    }
    return out.sort((a, b) => Buffer.compare(a.name, b.name));
  }

  /** The extent-btree keys of an inode in file order. */
  extents(inum: number): ExtentInfo[] {
    const out: ExtentInfo[] = [];
    for (const k of this.img.btrees[BTREE.extents]!.range({ inode: inum, offset: 0, snapshot: 0 }, { inode: inum, offset: POS_MAX.offset, snapshot: POS_MAX.snapshot })) {
      if (k.type === KEY_TYPE.inlineData) out.push({ start: k.offset - k.value.length, end: k.offset, kind: 'inline', key: k });
      else if (k.type === KEY_TYPE.extent) out.push({ start: k.offset - decodeValue(ops.extent, k, BTREE.extents).liveSize, end: k.offset, kind: 'extent', key: k });
      else if (k.type === KEY_TYPE.reflinkPointer) out.push({ start: k.offset - decodeValue(ops.reflinkPointer, k, BTREE.extents).liveSize, end: k.offset, kind: 'reflink', key: k });
    }
    return out;
  }

  /** Content of inode `inum` of `size` bytes as data pieces and holes, in order. */
  *pieces(inum: number, size: number, what: string): Generator<FilePiece> {
    let at = 0;
    for (const e of this.extents(inum)) {
      if (e.start >= size) break;
      if (e.start > at) yield { offset: at, hole: e.start - at };
      if (e.start < at) continue; // overlapping extent: fsck reports it; readers keep the first
      let data: Buffer;
      if (e.kind === 'inline') data = e.key.value;
      else if (e.kind === 'extent') data = this.img.readExtent(decodeValue(ops.extent, e.key, BTREE.extents), `${what} bytes ${e.start}..${e.end}`);
      else data = this.readReflink(decodeValue(ops.reflinkPointer, e.key, BTREE.extents), `${what} bytes ${e.start}..${e.end}`);
      const end = Math.min(e.end, size);
      yield { offset: e.start, data: data.subarray(0, end - e.start) };
      at = end;
    }
    if (at < size) yield { offset: at, hole: size - at };
  }

  /** The bytes of a reflink pointer's range, gathered from the indirect extents it spans. */
  readReflink(r: { liveSize: number; index: number }, what: string): Buffer {
    // Writers never make a pointer longer than one extent; a larger claim is damage, and it
    // must not size an allocation.
    if (r.liveSize > MAX_EXTENT_SIZE) throw new CorruptImageError(`reflink pointer of ${r.liveSize} bytes (at most ${MAX_EXTENT_SIZE})`, { structure: what });
    const out = Buffer.alloc(r.liveSize);
    const end = r.index + r.liveSize;
    for (const k of this.img.btrees[BTREE.reflink]!.range({ inode: 0, offset: r.index + 1, snapshot: 0 }, { inode: 0, offset: POS_MAX.offset, snapshot: POS_MAX.snapshot })) {
      if (k.type !== KEY_TYPE.indirectExtent) continue;
      const ind = decodeValue(ops.indirectExtent, k, BTREE.reflink);
      const start = k.offset - ind.body.liveSize;
      if (start >= end) break;
      const data = this.img.readExtent(ind.body, what);
      const from = Math.max(start, r.index);
      const to = Math.min(k.offset, end);
      data.copy(out, from - r.index, from - start, to - start);
    }
    return out;
  }

  /** Whole content of a small file or symlink target. */
  readAll(inum: number, size: number, what: string): Buffer {
    const out = Buffer.alloc(size);
    for (const p of this.pieces(inum, size, what)) if ('data' in p) p.data.copy(out, p.offset);
    return out;
  }
}

/** Split an image path into components; "" and "/" are the root. Rejects "." and "..". */
export function splitPath(path: Buffer): Buffer[] {
  const parts: Buffer[] = [];
  let start = 0;
  for (let i = 0; i <= path.length; i++) {
    if (i === path.length || path[i] === 0x2f) {
      if (i > start) {
        const part = path.subarray(start, i);
        if (!(part.length === 1 && part[0] === 0x2e)) {
          if (part.length === 2 && part[0] === 0x2e && part[1] === 0x2e) throw new ImagePathError(path.toString(), 'EINVAL', `${path.toString()}: ".." is not allowed in image paths`);
          parts.push(part);
        }
      }
      start = i + 1;
    }
  }
  return parts;
}
