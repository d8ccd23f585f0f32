// Walking a host directory for mkfs --from: depth-first, names sorted by their bytes, so the
// order (and with it inode numbers and data placement) depends only on the tree. Names are
// raw bytes end to end; nothing assumes UTF-8.
import fs from 'node:fs';
import { OperationalError } from '../format/errors.js';
import { kindFromMode, type EntryKind, type SourceEntry, type Timespec } from './entry.js';
import { displayPath } from '../host/index.js';

export interface WalkedEntry {
  entry: SourceEntry;
  /** absolute host path */
  hostPath: Buffer;
  /** "dev:ino" of files with nlink > 1, to find hardlinks */
  linkId?: string;
}

const SLASH = Buffer.from('/');

function timespecOf(ns: bigint): Timespec {
  let sec = ns / 1_000_000_000n;
  let nsec = ns % 1_000_000_000n;
  if (nsec < 0n) {
    nsec += 1_000_000_000n;
    sec -= 1n;
  }
  return { sec: Number(sec), nsec: Number(nsec) };
}

export function statToEntry(rel: Buffer, st: fs.BigIntStats, hostPath: Buffer): SourceEntry {
  const mode = Number(st.mode);
  const kind = kindFromMode(mode);
  if (!kind) throw new OperationalError('BAD_SOURCE', `${displayPath(hostPath)}: unknown file type ${(mode >> 12).toString(8)}`);
  const entry: SourceEntry = {
    path: rel,
    kind,
    perm: mode & 0o7777,
    uid: Number(st.uid),
    gid: Number(st.gid),
    size: kind === 'file' ? Number(st.size) : 0,
    atime: timespecOf(st.atimeNs),
    mtime: timespecOf(st.mtimeNs),
    ctime: timespecOf(st.ctimeNs),
    xattrs: [],
  };
  if (kind === 'char' || kind === 'block') {
    const rdev = Number(st.rdev);
    entry.rdevMajor = ((rdev >> 8) & 0xfff) | (Math.floor(rdev / 2 ** 32) & ~0xfff);
    entry.rdevMinor = (rdev & 0xff) | ((rdev >> 12) & 0xfff00);
  }
  return entry;
}

function lstat(p: Buffer): fs.BigIntStats {
  try {
    return fs.lstatSync(p, { bigint: true });
  } catch (err) {
    throw sourceError(p, err, 'cannot stat');
  }
}

export function sourceError(p: Buffer, err: unknown, what: string): OperationalError {
  const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
  const reason = code === 'ENOENT' ? 'No such file or directory' : code === 'EACCES' ? 'Permission denied' : code;
  return new OperationalError(code, `${what} ${displayPath(p)}: ${reason}`);
}

/** Every entry under `root` (root first, as path ''), depth-first with sorted names. */
export function walkDirectory(root: string): WalkedEntry[] {
  const rootPath = Buffer.from(root);
  const rootStat = lstat(rootPath);
  if (!rootStat.isDirectory()) throw new OperationalError('ENOTDIR', `${root}: not a directory`);
  const out: WalkedEntry[] = [];
  // Explicit stack instead of recursion: a deep tree cannot overflow the call stack.
  const stack: Array<{ host: Buffer; rel: Buffer; st: fs.BigIntStats }> = [{ host: rootPath, rel: Buffer.alloc(0), st: rootStat }];
  while (stack.length > 0) {
    const { host, rel, st } = stack.pop()!;
    const entry = statToEntry(rel, st, host);
    const walked: WalkedEntry = { entry, hostPath: host };
    if (entry.kind !== 'dir' && st.nlink > 1n) walked.linkId = `${st.dev}:${st.ino}`;
    if (entry.kind === 'symlink') {
      try {
        entry.linkTarget = fs.readlinkSync(host, { encoding: 'buffer' });
      } catch (err) {
        throw sourceError(host, err, 'cannot read symlink');
      }
    }
    out.push(walked);
    if (entry.kind !== 'dir') continue;
    let names: Buffer[];
    try {
      names = fs.readdirSync(host, { encoding: 'buffer' });
    } catch (err) {
      throw sourceError(host, err, 'cannot read directory');
    }
    names.sort(Buffer.compare);
    // Push in reverse so the smallest name is visited first.
    for (let i = names.length - 1; i >= 0; i--) {
      const name = names[i]!;
      const childHost = Buffer.concat([host, SLASH, name]);
      const childRel = rel.length ? Buffer.concat([rel, SLASH, name]) : name;
      stack.push({ host: childHost, rel: childRel, st: lstat(childHost) });
    }
  }
  return out;
}

export type { EntryKind };
