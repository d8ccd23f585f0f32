// Getting files out of an image: `dump extract` into a host folder and `dump tar` as a stream.
// Both walk the image tree the same way (depth-first, names sorted by bytes, explicit stack,
// each directory inode visited once) and refuse names that could address anything outside the
// destination. Extraction never follows a symlink while writing: every parent it writes into
// is a directory it made itself, and every file is created with O_EXCL | O_NOFOLLOW.
import fs from 'node:fs';
import { ImagePathError, OperationalError, StrataError } from '../format/errors.js';
import { DataLostError } from '../format/image.js';
import { escapeName, ops, POS_MAX, type DecodedInode } from '../format/keys.js';
import { BTREE, KEY_TYPE, SYMLINK_MAX } from '../format/layout.js';
import { openHost, displayPath, makeSocketFile } from '../host/index.js';
import { TarWriter } from './tar/writer.js';
import { KIND_TO_IFMT, S_IFMT, type EntryKind, type SourceEntry } from './entry.js';
import { FsReader, S_IFDIR, type DirEntry } from './reader.js';

export interface TreeItem {
  /** path relative to the walk's start, raw bytes, '' for the start itself */
  rel: Buffer;
  inum: number;
  inode: DecodedInode;
  kind: Exclude<EntryKind, 'hardlink'>;
  /** for a later name of an inode already visited (nlink > 1): the first path */
  hardlinkOf?: Buffer;
}

export interface WalkHooks {
  onWarning?: (message: string) => void;
  signal?: AbortSignal;
}

const MAX_DEPTH = 4096;
/** Longest symlink target restored (Linux PATH_MAX). */

export function kindOf(mode: number): Exclude<EntryKind, 'hardlink'> | undefined {
  const ifmt = mode & S_IFMT;
  for (const [k, v] of Object.entries(KIND_TO_IFMT)) if (v === ifmt) return k as Exclude<EntryKind, 'hardlink'>;
  return undefined;
}

/** A name that is safe to create inside a directory: not empty, ".", "..", no "/" or NUL. */
export function unsafeNameReason(name: Buffer): string | undefined {
  if (name.length === 0) return 'empty name';
  if (name.includes(0x2f)) return 'name contains "/"';
  if (name.includes(0)) return 'name contains NUL';
  if (name.equals(Buffer.from('.')) || name.equals(Buffer.from('..'))) return `name is "${name.toString()}"`;
  if (name.length > 255) return 'name longer than 255 bytes';
  return undefined;
}

/**
 * A directory's entries, sorted by name, read leniently: a dirent whose value does not decode
 * (an empty name, a length that disagrees with the value) is reported and skipped, and a
 * directory whose dirents cannot be read past some point keeps what was read. fsck repairs
 * both; extraction carries on with everything else. (FsReader.readdir throws instead.)
 */
function readDirectory(reader: FsReader, dir: number, shown: string, warn: (m: string) => void): DirEntry[] {
  const out: DirEntry[] = [];
  try {
    for (const k of reader.img.btrees[BTREE.dirents]!.range({ inode: dir, offset: 0, snapshot: 0 }, { inode: dir, offset: POS_MAX.offset, snapshot: POS_MAX.snapshot })) {
      if (k.type !== KEY_TYPE.dirent) continue;
      try {
        out.push({ ...ops.dirent.decode(k.value), offset: k.offset });
      } catch (err) {
        if (!(err instanceof StrataError)) throw err;
        warn(`skipped an entry of ${shown || '/'}: ${err.message}`);
      }
    }
  } catch (err) {
    if (!(err instanceof StrataError)) throw err;
    warn(`${shown || '/'}: directory not fully read: ${err.message}`);
  }
  return out.sort((a, b) => Buffer.compare(a.name, b.name));
}

/** Walk the image tree under `path`, yielding every entry once, parents before children. */
export function* walkImage(reader: FsReader, path: string, hooks: WalkHooks = {}): Generator<TreeItem> {
  const start = reader.lookup(path);
  const startKind = kindOf(start.inode.mode);
  if (!startKind) throw new ImagePathError(path, 'EINVAL', `${path}: unknown file type`);
  yield { rel: Buffer.alloc(0), inum: start.inum, inode: start.inode, kind: startKind };
  if (startKind !== 'dir') return;
  const visitedDirs = new Set<number>([start.inum]);
  const firstPath = new Map<number, Buffer>();
  // Depth-first pre-order: a directory, then its whole subtree, then its next sibling. Tar
  // extractors rely on this to set a directory's times after everything inside it.
  const warn = (m: string) => hooks.onWarning?.(m);
  type Frame = { entries: DirEntry[]; index: number; rel: Buffer; depth: number; seen: Set<string> };
  const stack: Frame[] = [{ entries: readDirectory(reader, start.inum, '', warn), index: 0, rel: Buffer.alloc(0), depth: 0, seen: new Set() }];
  while (stack.length) {
    if (hooks.signal?.aborted) return;
    const frame = stack[stack.length - 1]!;
    if (frame.index >= frame.entries.length) {
      stack.pop();
      continue;
    }
    const d = frame.entries[frame.index++]!;
    const shown = `${displayRel(frame.rel)}/${escapeName(d.name)}`;
    const unsafe = unsafeNameReason(d.name);
    if (unsafe) {
      hooks.onWarning?.(`skipped ${shown}: ${unsafe}`);
      continue;
    }
    const key = d.name.toString('latin1');
    if (frame.seen.has(key)) {
      hooks.onWarning?.(`skipped ${shown}: duplicate name in its directory`);
      continue;
    }
    frame.seen.add(key);
    let inode: DecodedInode | undefined;
    try {
      inode = reader.inode(d.target);
    } catch (err) {
      if (!(err instanceof StrataError)) throw err;
      hooks.onWarning?.(`skipped ${shown}: inode ${d.target} unreadable: ${err.message}`);
      continue;
    }
    if (!inode) {
      hooks.onWarning?.(`skipped ${shown}: inode ${d.target} is missing`);
      continue;
    }
    const kind = kindOf(inode.mode);
    if (!kind) {
      hooks.onWarning?.(`skipped ${shown}: unknown file type`);
      continue;
    }
    const childRel = frame.rel.length ? Buffer.concat([frame.rel, Buffer.from('/'), d.name]) : Buffer.from(d.name);
    if (kind === 'dir') {
      if (visitedDirs.has(d.target)) {
        hooks.onWarning?.(`skipped ${shown}: directory already visited (loop or second name)`);
        continue;
      }
      if (frame.depth + 1 > MAX_DEPTH) {
        hooks.onWarning?.(`skipped ${shown}: deeper than ${MAX_DEPTH} levels`);
        continue;
      }
      visitedDirs.add(d.target);
      yield { rel: childRel, inum: d.target, inode, kind };
      stack.push({ entries: readDirectory(reader, d.target, shown, warn), index: 0, rel: childRel, depth: frame.depth + 1, seen: new Set() });
      continue;
    }
    const first = inode.nlink > 1 ? firstPath.get(d.target) : undefined;
    if (first) {
      yield { rel: childRel, inum: d.target, inode, kind, hardlinkOf: first };
      continue;
    }
    if (inode.nlink > 1) firstPath.set(d.target, childRel);
    yield { rel: childRel, inum: d.target, inode, kind };
  }
}

function displayRel(rel: Buffer): string {
  return rel.length ? `/${escapeName(rel)}` : '';
}

/**
 * A time as stored, or undefined when its nanoseconds are out of range (a damaged inode):
 * hosts and tar refuse such a time, and one bad field must not cost the file.
 */
function timeOf(sec: number, nsec: number): { sec: number; nsec: number } | undefined {
  return nsec <= 999_999_999 ? { sec, nsec } : undefined;
}

/**
 * The entry for an item. Throws a StrataError when the item cannot be exported at all (its
 * symlink target is unreadable); smaller damage (unreadable xattrs, a time with nanoseconds
 * out of range) is reported through `onWarning` and left out.
 */
export function toSourceEntry(item: TreeItem, reader: FsReader, xattrs = true, onWarning?: (message: string) => void): SourceEntry {
  const i = item.inode;
  const shown = `/${escapeName(item.rel)}`;
  const mtime = timeOf(i.mtime_sec, i.mtime_nsec) ?? { sec: i.mtime_sec, nsec: 0 };
  const badTime = !timeOf(i.atime_sec, i.atime_nsec) || !timeOf(i.mtime_sec, i.mtime_nsec) || !timeOf(i.ctime_sec, i.ctime_nsec);
  if (badTime) onWarning?.(`${shown}: a time with nanoseconds above 999999999 was replaced by whole seconds`);
  let xattrList: SourceEntry['xattrs'] = [];
  if (xattrs) {
    try {
      xattrList = reader.xattrs(item.inum);
    } catch (err) {
      if (!(err instanceof StrataError)) throw err;
      onWarning?.(`${shown}: extended attributes not read: ${err.message}`);
    }
  }
  const entry: SourceEntry = {
    path: item.rel,
    kind: item.hardlinkOf ? 'hardlink' : item.kind,
    perm: i.mode & 0o7777,
    uid: i.uid,
    gid: i.gid,
    size: item.kind === 'file' && !item.hardlinkOf ? i.size : 0,
    atime: timeOf(i.atime_sec, i.atime_nsec) ?? { sec: i.atime_sec, nsec: 0 },
    mtime,
    ctime: timeOf(i.ctime_sec, i.ctime_nsec) ?? { sec: i.ctime_sec, nsec: 0 },
    xattrs: xattrList,
  };
  if (item.hardlinkOf) entry.linkTarget = item.hardlinkOf;
  if (item.kind === 'symlink') {
    // A symlink target is at most PATH_MAX bytes on Linux; a larger claimed size is damage and
    // must not drive a large allocation in readAll.
    if (i.size === 0 || i.size > SYMLINK_MAX) throw new ImagePathError(shown, 'EINVAL', `${shown}: symlink target of ${i.size} bytes (1..${SYMLINK_MAX} allowed)`);
    entry.linkTarget = reader.readAll(item.inum, i.size, `symlink ${shown}`);
    // No host can store a NUL in a symlink target (and Node throws a TypeError for one).
    if (entry.linkTarget.includes(0)) throw new ImagePathError(shown, 'EINVAL', `${shown}: symlink target contains NUL`);
  }
  if (item.kind === 'char' || item.kind === 'block') {
    entry.rdevMajor = i.rdev_major;
    entry.rdevMinor = i.rdev_minor;
  }
  return entry;
}

// ---------------------------------------------------------------------------------------------
// dump extract

export interface ExtractOptions extends WalkHooks {
  /** restore owners, setuid/setgid bits and device nodes (default: when running as root) */
  privileged?: boolean;
  onProgress?: (files: number, bytes: number) => void;
}

export interface ExtractResult {
  files: number;
  directories: number;
  bytes: number;
  skipped: number;
  /** files whose data could not be read from any copy or rebuilt: not extracted */
  lost: string[];
}

const O_NOFOLLOW = fs.constants.O_NOFOLLOW;
const HOLE_CHUNK = 1 << 20;
const zeroChunk = Buffer.alloc(HOLE_CHUNK);

/** Remove whatever is at `p` unless it is a directory we may reuse; never follows symlinks. */
function clearPath(p: Buffer, keepDirectory: boolean): boolean {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(p);
  } catch {
    return false;
  }
  if (st.isDirectory()) {
    if (keepDirectory) return true;
    fs.rmSync(p, { recursive: true, force: true });
    return false;
  }
  fs.unlinkSync(p);
  return false;
}

/**
 * Errors after which the destination cannot take anything more: stop the whole extraction.
 * Every other error of one entry (EFBIG for a sparse size the host cannot hold, ENAMETOOLONG,
 * a damaged extent) skips that entry with a warning.
 */
const FATAL_HOST_ERRORS = new Set(['ENOSPC', 'EDQUOT', 'EIO', 'EROFS']);

function hostErrorCode(err: unknown): string | undefined {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' && /^E[A-Z0-9]+$/.test(code) ? code : undefined;
}

export async function extract(reader: FsReader, imagePath: string, dest: string, opts: ExtractOptions = {}): Promise<ExtractResult> {
  const privileged = opts.privileged ?? process.getuid?.() === 0;
  const destBuf = Buffer.from(dest);
  const result: ExtractResult = { files: 0, directories: 0, bytes: 0, skipped: 0, lost: [] };
  const warn = (m: string) => {
    result.skipped++;
    opts.onWarning?.(m);
  };
  const note = (m: string) => opts.onWarning?.(m);
  const host = await openHost();
  const metadata: Array<{ path: Buffer; item: TreeItem; entry: SourceEntry }> = [];
  try {
    const caps = await host.probe();
    for (const item of walkImage(reader, imagePath, { onWarning: warn, signal: opts.signal })) {
      const target = item.rel.length ? Buffer.concat([destBuf, Buffer.from('/'), item.rel]) : destBuf;
      const shown = `/${escapeName(item.rel)}`;
      try {
        const entry = toSourceEntry(item, reader, caps.xattrs, note);
        if (item.kind === 'dir') {
          if (item.rel.length === 0) fs.mkdirSync(target, { recursive: true });
          else if (!clearPath(target, true)) fs.mkdirSync(target, { mode: 0o700 });
          result.directories++;
          metadata.push({ path: target, item, entry });
          continue;
        }
        clearPath(target, false);
        if (item.hardlinkOf) {
          fs.linkSync(Buffer.concat([destBuf, Buffer.from('/'), item.hardlinkOf]), target);
          continue;
        }
        switch (item.kind) {
          case 'file': {
            const fd = fs.openSync(target, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | O_NOFOLLOW, 0o600);
            let lost = false;
            let failure: unknown;
            try {
              for (const piece of reader.pieces(item.inum, item.inode.size, `/${escapeName(item.rel)}`)) {
                if ('data' in piece) {
                  let done = 0;
                  while (done < piece.data.length) done += fs.writeSync(fd, piece.data, done, piece.data.length - done, piece.offset + done);
                }
              }
              fs.ftruncateSync(fd, item.inode.size);
            } catch (err) {
              // Lost data: name the file, leave no partial copy, and carry on with the rest.
              if (err instanceof DataLostError) {
                lost = true;
                result.lost.push(`/${escapeName(item.rel)}`);
                opts.onWarning?.(`lost: /${escapeName(item.rel)}: ${err.message}`);
              } else failure = err;
            } finally {
              fs.closeSync(fd);
            }
            if (lost || failure !== undefined) {
              // Any other failure (EFBIG for a size the host cannot hold, damage met while
              // reading) leaves no partial copy either; the handler below reports it.
              fs.unlinkSync(target);
              if (failure !== undefined) throw failure;
              continue;
            }
            result.files++;
            result.bytes += item.inode.size;
            break;
          }
          case 'symlink':
            fs.symlinkSync(entry.linkTarget!, target);
            break;
          case 'fifo':
            await host.mkfifo(target, 0o600);
            break;
          case 'char':
          case 'block':
            if (!privileged) {
              warn(`skipped device ${shown}: device nodes are restored only when running as root`);
              continue;
            }
            await host.mknod(target, item.kind, 0o600, item.inode.rdev_major, item.inode.rdev_minor);
            break;
          case 'socket':
            await makeSocketFile(target);
            break;
        }
        metadata.push({ path: target, item, entry });
      } catch (err) {
        const code = hostErrorCode(err);
        if (code && FATAL_HOST_ERRORS.has(code)) throw new OperationalError(code, `cannot write ${displayPath(target)}: ${code}`);
        if (!(err instanceof StrataError) && !code) throw err;
        warn(`skipped ${shown}: ${err instanceof StrataError ? err.message : `${code} (${(err as Error).message})`}`);
        continue;
      }
      if ((metadata.length & 1023) === 0) opts.onProgress?.(result.files, result.bytes);
    }
    // Metadata last, so writing content never changes a time already set and a read-only mode
    // never blocks a later write.
    for (const { path: p, item, entry } of metadata) {
      try {
        if (item.kind === 'symlink') {
          if (privileged) fs.lchownSync(p, entry.uid, entry.gid);
          continue;
        }
        let perm = entry.perm;
        if (privileged) fs.chownSync(p, entry.uid, entry.gid);
        else perm &= ~0o6000;
        fs.chmodSync(p, perm);
      } catch (err) {
        const code = hostErrorCode(err);
        if (!code || FATAL_HOST_ERRORS.has(code)) throw err;
        note(`owner or mode of ${displayPath(p)} not restored: ${code}`);
      }
    }
    if (caps.xattrs) {
      const withXattrs = metadata.filter((m) => m.entry.xattrs.length > 0);
      const errors = await host.writeXattrs(withXattrs.map((m) => ({ path: m.path, xattrs: m.entry.xattrs })));
      errors.forEach((e, i) => e && opts.onWarning?.(`xattrs of ${displayPath(withXattrs[i]!.path)} not restored: ${e.message}`));
    } else if (metadata.some((m) => m.entry.xattrs.length)) {
      opts.onWarning?.(`extended attributes not restored: ${caps.reason ?? 'unsupported on this host'}`);
    }
    const timeErrors = await host.setTimes(metadata.slice().reverse().map((m) => ({ path: m.path, atime: m.entry.atime, mtime: m.entry.mtime })));
    timeErrors.forEach((e, i) => e && opts.onWarning?.(`times not restored: ${e.message}`));
  } finally {
    await host.close();
  }
  return result;
}

// ---------------------------------------------------------------------------------------------
// dump tar

export async function writeTar(reader: FsReader, imagePath: string, sink: (chunk: Buffer) => Promise<void> | void, hooks: WalkHooks = {}): Promise<number> {
  const writer = new TarWriter(sink);
  let count = 0;
  for (const item of walkImage(reader, imagePath, hooks)) {
    let entry: SourceEntry;
    try {
      entry = toSourceEntry(item, reader, true, hooks.onWarning);
    } catch (err) {
      if (!(err instanceof StrataError)) throw err;
      hooks.onWarning?.(`skipped /${escapeName(item.rel)}: ${err.message}`);
      continue;
    }
    // The start of the walk is the archive's "./" (a directory) or the file under its own name.
    if (item.rel.length === 0 && item.kind !== 'dir') entry.path = Buffer.from(imagePath.split('/').filter(Boolean).pop() ?? 'file');
    if (item.kind === 'socket') {
      hooks.onWarning?.(`skipped socket /${escapeName(item.rel)}: tar cannot hold sockets`);
      continue;
    }
    if (item.kind === 'file' && !item.hardlinkOf) {
      const pieces = reader.pieces(item.inum, item.inode.size, `/${escapeName(item.rel)}`);
      await writer.addEntry(entry, (function* () {
        for (const p of pieces) {
          if ('data' in p) yield p.data;
          else for (let left = p.hole; left > 0; left -= HOLE_CHUNK) yield zeroChunk.subarray(0, Math.min(left, HOLE_CHUNK));
        }
      })());
    } else {
      await writer.addEntry(entry);
    }
    count++;
  }
  await writer.end();
  return count;
}

export { S_IFDIR };
