// Test utilities for anything that turns a directory tree into something else and back:
// makeEdgeCaseTree builds a tree with every awkward case a filesystem can hold, snapshotTree
// records everything about a tree that a faithful copy must preserve, and diffTrees says, one
// line per difference, where two snapshots disagree. Round-trip tests read:
//
//   const info = await makeEdgeCaseTree(src);
//   const before = await snapshotTree(src);       // before anything else reads src (atimes)
//   ... mkfs --from src, dump extract to out ...
//   assert.deepEqual(diffTrees(before, await snapshotTree(out)), []);
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as nodePath from 'node:path';
import type { Timespec, Xattr } from '../../fs/entry.js';
import { HostSyscalls, displayPath, type TimesItem } from '../../host/index.js';
import { makeSocketFile } from '../../host/index.js';
import { PhraseTable, RandomBytes, SeededRandom, TextStream, seededBytes, writeGenerated } from './corpus.js';

export { makeCorpus, type CorpusInfo, type CorpusOptions } from './corpus.js';

// ---------------------------------------------------------------- makeEdgeCaseTree

/** Relative paths (raw bytes) of the entries tests most often poke at. */
export interface EdgePaths {
  emptyFile: Buffer;
  smallFile: Buffer;
  textFile: Buffer;
  randomFile: Buffer;
  sparseFile: Buffer;
  /** three names of one inode, in different directories */
  hardlinks: Buffer[];
  symlinks: Buffer[];
  xattrFile: Buffer;
  xattrDir: Buffer;
  bigXattrFile: Buffer;
  fifo: Buffer;
  /** present when `socket` is true */
  socket: Buffer;
  /** char and block nodes; empty unless `devices` */
  devices: Buffer[];
  longName: Buffer;
  nonUtf8: Buffer[];
  deepFile: Buffer;
  emptyDir: Buffer;
  setgidDir: Buffer;
  stickyDir: Buffer;
  readonlyDir: Buffer;
  preEpochFile: Buffer;
  farFutureFile: Buffer;
}

export interface TreeInfo {
  root: string;
  seed: number;
  /** every name created (relative, raw bytes), in creation order; the root is not listed */
  entries: Buffer[];
  paths: EdgePaths;
  /** extended attributes were written */
  xattrs: boolean;
  /** size of the value of user.big (4096 unless the filesystem refused that much) */
  bigXattrBytes: number;
  /** char and block device nodes exist (root only) */
  devices: boolean;
  /** some entries belong to other users and groups (root only) */
  foreignOwners: boolean;
  socket: boolean;
  /** times were set to the nanosecond (otherwise to the microsecond) */
  nsTimes: boolean;
  /** what was skipped, and why */
  notes: string[];
}

export interface EdgeCaseOptions {
  /** default 1 */
  seed?: number;
  /** host shim to use; one is opened (and closed) when not given */
  host?: HostSyscalls;
}

type CreatedKind = 'file' | 'dir' | 'symlink' | 'fifo' | 'socket' | 'char' | 'block';

interface Created {
  rel: Buffer;
  kind: CreatedKind;
  /** permission bits to chmod to; undefined for symlinks */
  perm?: number;
  owner?: { uid: number; gid: number };
  times?: { atime: Timespec; mtime: Timespec };
}

/**
 * Builds, inside `dir` (created if missing), a tree holding every case a copy can get wrong.
 * Deterministic for a seed, except what depends on the machine (root or not, xattr support),
 * which TreeInfo reports. Order matters and is: contents, xattrs, owners (chown clears
 * set-id bits), modes, then times, directories last and deepest first (creating or timing
 * an entry moves its directory's mtime).
 */
export async function makeEdgeCaseTree(dir: string, options: EdgeCaseOptions = {}): Promise<TreeInfo> {
  const seed = options.seed ?? 1;
  const host = options.host ?? new HostSyscalls();
  try {
    return await buildEdgeCaseTree(dir, seed, host);
  } finally {
    if (options.host === undefined) await host.close();
  }
}

async function buildEdgeCaseTree(dir: string, seed: number, host: HostSyscalls): Promise<TreeInfo> {
  const random = new SeededRandom(seed);
  const root = Buffer.from(nodePath.resolve(dir));
  const isRoot = process.geteuid?.() === 0;
  const notes: string[] = [];
  const created: Created[] = [];
  const byRel = new Map<string, Created>();
  const abs = (rel: Buffer) => Buffer.concat([root, Buffer.from('/'), rel]);
  const rel = (...parts: Array<string | Buffer>) => joinPath(parts.map((part) => (typeof part === 'string' ? Buffer.from(part) : part)));
  const record = (entry: Created): Buffer => {
    created.push(entry);
    byRel.set(entry.rel.toString('latin1'), entry);
    return entry.rel;
  };
  const mkdir = (path: Buffer, perm = 0o755): Buffer => {
    fs.mkdirSync(abs(path));
    return record({ rel: path, kind: 'dir', perm });
  };
  const scratch = Buffer.allocUnsafe(1 << 20);
  const table = new PhraseTable(seed);
  const file = (path: Buffer, size: number, content: 'random' | 'text' = 'random', perm = 0o644): Buffer => {
    const label = `edge:${path.toString('hex')}`;
    if (content === 'random') {
      const stream = new RandomBytes(seed, label);
      writeGenerated(abs(path), size, (chunk) => stream.take(chunk.length).copy(chunk), scratch);
    } else {
      const stream = new TextStream(table, seed, label);
      writeGenerated(abs(path), size, (chunk) => stream.fill(chunk), scratch);
    }
    return record({ rel: path, kind: 'file', perm });
  };
  const symlink = (path: Buffer, target: string | Buffer): Buffer => {
    fs.symlinkSync(typeof target === 'string' ? Buffer.from(target) : target, abs(path));
    return record({ rel: path, kind: 'symlink' });
  };

  fs.mkdirSync(root, { recursive: true });

  // Regular files around the block boundaries, a multi-block one, and large ones of both kinds.
  mkdir(rel('files'));
  const emptyFile = file(rel('files', 'empty'), 0);
  const smallFile = file(rel('files', 'one-byte'), 1);
  file(rel('files', 'block-minus-1'), 4095);
  file(rel('files', 'block'), 4096);
  file(rel('files', 'block-plus-1'), 4097, 'text');
  file(rel('files', '128k-plus-1'), 128 * 1024 + 1);
  const randomFile = file(rel('files', 'random-3m'), 3 * 1024 * 1024 + 17);
  const textFile = file(rel('files', 'text-2m'), 2 * 1024 * 1024 + 3, 'text');
  fs.writeFileSync(abs(rel('files', 'zeros-64k')), Buffer.alloc(64 * 1024));
  record({ rel: rel('files', 'zeros-64k'), kind: 'file', perm: 0o644 });

  // Sparse files: holes at start, middle and end; one that is all hole; one ending in data.
  mkdir(rel('sparse'));
  const sparseFile = rel('sparse', 'holes');
  writeSparse(abs(sparseFile), 10 * 1024 * 1024 + 123, [
    [2 * 1024 * 1024, seededBytes(seed, 'sparse-a', 64 * 1024)],
    [5 * 1024 * 1024 + 100, seededBytes(seed, 'sparse-b', 5000)],
  ]);
  record({ rel: sparseFile, kind: 'file', perm: 0o644 });
  writeSparse(abs(rel('sparse', 'all-hole')), 1024 * 1024, []);
  record({ rel: rel('sparse', 'all-hole'), kind: 'file', perm: 0o644 });
  writeSparse(abs(rel('sparse', 'data-at-end')), 3 * 1024 * 1024 + 10, [[3 * 1024 * 1024, seededBytes(seed, 'sparse-c', 10)]]);
  record({ rel: rel('sparse', 'data-at-end'), kind: 'file', perm: 0o644 });

  // Nesting.
  let deep = rel('nested');
  mkdir(deep);
  for (const part of ['a', 'b', 'c', 'd', 'e', 'f', 'g']) mkdir((deep = rel(deep, part)));
  const deepFile = file(rel(deep, 'deep.txt'), 300, 'text');
  file(rel('nested', 'a', 'sibling.txt'), 77, 'text');

  // Symlinks of every shape; user.* xattrs cannot be set on them, so they have none.
  mkdir(rel('links'));
  const symlinks = [
    symlink(rel('links', 'relative'), '../files/one-byte'),
    symlink(rel('links', 'absolute'), '/dev/null'),
    symlink(rel('links', 'dangling'), 'nowhere/missing'),
    symlink(rel('links', 'to-dir'), '../nested/a'),
    symlink(rel('links', 'binary-target'), Buffer.from([0x74, 0x2d, 0xff, 0xfe, 0xe9])),
    symlink(rel('links', 'loop'), 'loop'),
    symlink(rel('links', 'long-target'), 'x/'.repeat(1999) + 'y'),
  ];

  // Hard links: three names for one inode, across directories.
  mkdir(rel('hardlinks'));
  mkdir(rel('hardlinks', 'sub'));
  mkdir(rel('other'));
  const hardlinks = [file(rel('hardlinks', 'first'), 10_000), rel('hardlinks', 'sub', 'second'), rel('other', 'third')];
  for (const name of hardlinks.slice(1)) {
    fs.linkSync(abs(hardlinks[0]), abs(name));
    created.push({ rel: name, kind: 'file' }); // same inode: perm and times come from the first name
  }

  // Names: 255 bytes, not UTF-8, and every character a shell or a parser trips on.
  mkdir(rel('names'));
  const longName = file(rel('names', 'L'.repeat(251) + '.txt'), 10, 'text');
  const nonUtf8 = [
    file(rel('names', Buffer.from([0xff, 0xfe])), 20),
    file(rel('names', Buffer.from('caf\xe9', 'latin1')), 21, 'text'),
    file(rel('names', Buffer.from([0x62, 0x61, 0x64, 0xc3, 0x28])), 22),
    mkdir(rel('names', Buffer.from([0xff, 0x2d, 0x64, 0x69, 0x72]))),
  ];
  nonUtf8.push(file(rel(nonUtf8[3], 'inner'), 5, 'text'));
  for (const name of ['with space', ' leading-space', 'trailing-space ', 'new\nline', 'tab\there', '-leading-dash', '--', 'back\\slash', `quote"s'`, '*?[glob]', 'ünïcødé-名前']) {
    file(rel('names', name), 1 + random.int(100), 'text');
  }

  // Modes: set-id and sticky bits, no permissions, all permissions, directories that refuse
  // writes (an extractor must set their modes after filling them).
  mkdir(rel('modes'));
  file(rel('modes', 'none'), 3, 'text', 0o000);
  file(rel('modes', 'all'), 3, 'text', 0o777);
  file(rel('modes', 'setuid'), 3, 'text', 0o4755);
  file(rel('modes', 'setgid'), 3, 'text', 0o2711);
  const setgidDir = mkdir(rel('modes', 'setgid-dir'), 0o2775);
  mkdir(rel(setgidDir, 'child-dir'), 0o755);
  file(rel(setgidDir, 'child-file'), 9, 'text', 0o640);
  const stickyDir = mkdir(rel('modes', 'sticky-dir'), 0o1777);
  file(rel(stickyDir, 'inside'), 9, 'text');
  const readonlyDir = mkdir(rel('modes', 'readonly-dir'), 0o555);
  file(rel(readonlyDir, 'inside'), 9, 'text', 0o444);
  mkdir(rel('modes', 'private-dir'), 0o700);

  const emptyDir = mkdir(rel('empty-dir'));

  // Special files.
  mkdir(rel('special'));
  const fifo = rel('special', 'fifo');
  await host.mkfifo(abs(fifo), 0o640);
  record({ rel: fifo, kind: 'fifo', perm: 0o640 });
  const socketPath = rel('special', 'socket');
  let socket = false;
  try {
    await makeSocketFile(abs(socketPath));
    record({ rel: socketPath, kind: 'socket', perm: 0o755 });
    socket = true;
  } catch (error) {
    notes.push(`no socket: ${errorCode(error as Error)}`);
  }
  const devices: Buffer[] = [];
  if (isRoot) {
    const wanted: Array<[string, 'char' | 'block', number, number]> = [
      ['char', 'char', 1, 3],
      ['block', 'block', 7, 200],
      // a minor above 255 and a major above 255 use the split encoding of dev_t
      ['char-wide', 'char', 511, 70000],
    ];
    try {
      for (const [name, kind, major, minor] of wanted) {
        const path = rel('special', name);
        await host.mknod(abs(path), kind, 0o660, major, minor);
        devices.push(record({ rel: path, kind, perm: 0o660 }));
      }
    } catch (error) {
      notes.push(`device nodes skipped: ${errorCode(error as Error)}`);
    }
  } else {
    notes.push('device nodes skipped: not running as root');
  }

  // Times beyond the ordinary range.
  mkdir(rel('times'));
  const preEpochFile = file(rel('times', 'pre-epoch'), 5, 'text');
  const farFutureFile = file(rel('times', 'far-future'), 5, 'text');

  // Extended attributes: empty, binary, non-ASCII name, and a 4 KiB value.
  mkdir(rel('xattrs'));
  const xattrFile = file(rel('xattrs', 'file'), 100, 'text');
  const bigXattrFile = file(rel('xattrs', 'big'), 100, 'text');
  const xattrDir = mkdir(rel('xattrs', 'dir'));
  const allBytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  const attr = (name: string | Buffer, value: string | Buffer): Xattr => ({ name: typeof name === 'string' ? Buffer.from(name) : name, value: typeof value === 'string' ? Buffer.from(value) : value });
  let xattrs = false;
  let bigXattrBytes = 0;
  if (!host.capabilities.xattrs) {
    notes.push(`xattrs skipped: ${host.capabilities.reason ?? 'not supported'}`);
  } else {
    const results = await host.writeXattrs([
      { path: abs(xattrFile), xattrs: [attr('user.empty', ''), attr('user.binary', allBytes), attr('user.text', 'hello, world'), attr(Buffer.from('user.caf\xe9', 'latin1'), 'latin-1 name')] },
      { path: abs(xattrDir), xattrs: [attr('user.dir', 'directory attribute'), attr('user.zero', Buffer.from([0]))] },
      { path: abs(nonUtf8[0]), xattrs: [attr('user.on-odd-name', seededBytes(seed, 'xattr-odd', 33))] },
    ]);
    const refused = results.find((result) => result !== null);
    if (refused) {
      notes.push(`xattrs skipped: setting user.* failed with ${errorCode(refused)}`);
    } else {
      xattrs = true;
      // ext4 keeps all of a file's xattrs in one 4 KiB block, so a full 4096-byte value does
      // not fit there; take the largest of these that the filesystem accepts.
      for (const size of [4096, 4000, 3500, 2048]) {
        const [result] = await host.writeXattrs([{ path: abs(bigXattrFile), xattrs: [attr('user.big', seededBytes(seed, 'xattr-big', size))] }]);
        if (result === null) {
          bigXattrBytes = size;
          break;
        }
        if (size === 4096) notes.push(`user.big holds less than 4096 bytes: setting 4096 failed with ${errorCode(result)}`);
      }
    }
  }

  // Owners other than the current user (root only); before chmod, as chown clears set-id bits.
  let foreignOwners = false;
  if (isRoot) {
    mkdir(rel('owners'));
    const owned = file(rel('owners', 'file'), 7, 'text');
    byRel.get(owned.toString('latin1'))!.owner = { uid: 1234, gid: 5678 };
    const ownedDir = mkdir(rel('owners', 'dir'));
    byRel.get(ownedDir.toString('latin1'))!.owner = { uid: 4321, gid: 4321 };
    file(rel(ownedDir, 'root-owned-inside'), 7, 'text');
    const link = symlink(rel('owners', 'symlink'), 'file');
    byRel.get(link.toString('latin1'))!.owner = { uid: 777, gid: 888 };
    byRel.get(setgidDir.toString('latin1'))!.owner = { uid: 0, gid: 4321 };
    for (const entry of created) if (entry.owner) fs.lchownSync(abs(entry.rel), entry.owner.uid, entry.owner.gid);
    foreignOwners = true;
  } else {
    notes.push('other owners skipped: not running as root');
  }

  // Modes, exactly (umask played no part: every mode is set explicitly, after any chown).
  for (const entry of created) if (entry.perm !== undefined && entry.kind !== 'symlink') fs.chmodSync(abs(entry.rel), entry.perm);

  // Times: every inode its own, nanoseconds never a whole microsecond, so truncation shows.
  const stamp = (): Timespec => ({ sec: 1_500_000_000 + random.int(250_000_000), nsec: random.int(1_000_000) * 1000 + 1 + random.int(999) });
  for (const entry of created) if (!hardlinks.slice(1).some((name) => name.equals(entry.rel))) entry.times = { atime: stamp(), mtime: stamp() };
  byRel.get(preEpochFile.toString('latin1'))!.times = { atime: { sec: -1, nsec: 500_000_001 }, mtime: { sec: -315_619_200, nsec: 123_456_789 } };
  byRel.get(farFutureFile.toString('latin1'))!.times = { atime: { sec: 4_102_444_800, nsec: 999_999_999 }, mtime: { sec: 7_258_118_400, nsec: 1 } };
  const depthOf = (path: Buffer) => path.filter((byte) => byte === 0x2f).length;
  const nonDirs = created.filter((entry) => entry.kind !== 'dir' && entry.times);
  const dirs = created.filter((entry) => entry.kind === 'dir').sort((a, b) => depthOf(b.rel) - depthOf(a.rel));
  const rootTimes = { atime: stamp(), mtime: stamp() };
  const items: TimesItem[] = [...nonDirs, ...dirs].map((entry) => ({ path: abs(entry.rel), ...entry.times! }));
  const timeResults = await host.setTimes(items);
  const timeFailure = timeResults.find((result) => result !== null);
  if (timeFailure) throw timeFailure;
  // The root last: everything above changed its mtime.
  const [rootFailure] = await host.setTimes([{ path: root, ...rootTimes }]);
  if (rootFailure) throw rootFailure;
  fs.chmodSync(root, 0o755);
  if (!host.capabilities.nsTimes) notes.push(`times set to the microsecond only: ${host.capabilities.reason ?? ''}`);

  return {
    root: root.toString(),
    seed,
    entries: created.map((entry) => entry.rel),
    paths: {
      emptyFile,
      smallFile,
      textFile,
      randomFile,
      sparseFile,
      hardlinks,
      symlinks,
      xattrFile,
      xattrDir,
      bigXattrFile,
      fifo,
      socket: socketPath,
      devices,
      longName,
      nonUtf8,
      deepFile,
      emptyDir,
      setgidDir,
      stickyDir,
      readonlyDir,
      preEpochFile,
      farFutureFile,
    },
    xattrs,
    bigXattrBytes,
    devices: devices.length > 0,
    foreignOwners,
    socket,
    nsTimes: host.capabilities.nsTimes,
    notes,
  };
}

/** The code of a system error (notes must not name the tree's location: same seed, same notes). */
function errorCode(error: Error): string {
  return (error as Error & { code?: string }).code ?? error.message;
}

/** The parts joined with '/'. */
function joinPath(parts: Buffer[]): Buffer {
  const pieces: Buffer[] = [];
  for (const part of parts) pieces.push(...(pieces.length > 0 ? [Buffer.from('/'), part] : [part]));
  return Buffer.concat(pieces);
}

/** Data at the given offsets and nothing elsewhere; ftruncate makes the tail a hole. */
function writeSparse(path: Buffer, size: number, pieces: Array<[number, Buffer]>): void {
  const fd = fs.openSync(path, 'w');
  try {
    for (const [offset, data] of pieces) fs.writeSync(fd, data, 0, data.length, offset);
    fs.ftruncateSync(fd, size);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * rm -rf that also works for a non-root user on trees with read-only directories (which
 * makeEdgeCaseTree makes): on EACCES it grants itself access to every directory and retries.
 */
export function removeTree(dir: string): void {
  try {
    fs.rmSync(dir, { recursive: true, force: true });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'EACCES' && code !== 'EPERM') throw error;
    const open = (path: Buffer) => {
      const stat = fs.lstatSync(path);
      if (!stat.isDirectory()) return;
      fs.chmodSync(path, 0o700);
      for (const name of fs.readdirSync(path, { encoding: 'buffer' })) open(Buffer.concat([path, Buffer.from('/'), name]));
    };
    open(Buffer.from(dir));
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- snapshotTree

export type NodeKind = 'file' | 'dir' | 'symlink' | 'fifo' | 'socket' | 'char' | 'block';

/** Everything about one entry that a faithful copy preserves (and ctime, which none can). */
export interface NodeRecord {
  /** relative to the snapshot root; empty for the root itself */
  path: Buffer;
  kind: NodeKind;
  /** mode & 0o7777 */
  perm?: number;
  uid?: number;
  gid?: number;
  /** files and symlinks only: directory sizes are filesystem-specific */
  size?: number;
  nlink?: number;
  /** key of the smallest path naming the same inode, when several names in the tree do */
  hardlinkGroup?: string;
  atimeNs?: bigint;
  mtimeNs?: bigint;
  /** recorded for information; never compared (no copy can set it) */
  ctimeNs: bigint;
  rdevMajor?: number;
  rdevMinor?: number;
  /** symlink target bytes */
  target?: Buffer;
  /** hex sha256 of a file's content, or "unreadable: CODE" */
  sha256?: string;
  /** sorted by name; undefined when not read */
  xattrs?: Xattr[];
  /** why xattrs could not be read, e.g. "ENOTSUP" */
  xattrError?: string;
  /** 512-byte units allocated */
  blocks?: number;
  /** files: at least one whole filesystem block of the file is unallocated (a hole) */
  sparse?: boolean;
}

/** Fields diffTrees can compare; 'dirAtime' and 'dirNlink' are the directory cases of atime and nlink, and 'root' the root entry as a whole. */
export type TreeField =
  | 'kind'
  | 'perm'
  | 'uid'
  | 'gid'
  | 'size'
  | 'nlink'
  | 'hardlink'
  | 'atime'
  | 'mtime'
  | 'rdev'
  | 'target'
  | 'content'
  | 'xattrs'
  | 'sparse'
  | 'blocks'
  | 'dirAtime'
  | 'dirNlink'
  | 'root';

/** Not compared unless asked for: directory atimes move on every listing, directory link counts and block counts depend on the filesystem. */
export const DEFAULT_IGNORED: readonly TreeField[] = ['dirAtime', 'dirNlink', 'blocks'];

export interface SnapshotOptions {
  /** for reading xattrs and restoring atimes; one is opened (and closed) when not given */
  host?: HostSyscalls;
  /** fields not to record at all (a field recorded on one side only is not compared) */
  ignore?: TreeField[];
  /**
   * Put back the atime of directories and symlinks that reading moved (relatime updates an
   * atime older than a day on the first read), so the tree stays as it was for the next
   * reader. Default true; only done when the host sets times to the nanosecond.
   */
  restoreAtimes?: boolean;
}

/**
 * Records every entry under `dir` (the root included, as key "."), keyed by pathKey of the
 * relative path, depth first with each directory's entries in byte order. Reads files with O_NOATIME so hashing moves no
 * atime; lstat comes before any read, so recorded times are the times before this call.
 */
export async function snapshotTree(dir: string, options: SnapshotOptions = {}): Promise<Map<string, NodeRecord>> {
  const host = options.host ?? new HostSyscalls();
  try {
    return await takeSnapshot(Buffer.from(nodePath.resolve(dir)), host, new Set(options.ignore ?? []), options.restoreAtimes ?? true);
  } finally {
    if (options.host === undefined) await host.close();
  }
}

async function takeSnapshot(root: Buffer, host: HostSyscalls, ignore: Set<TreeField>, restoreAtimes: boolean): Promise<Map<string, NodeRecord>> {
  const records = new Map<string, NodeRecord>();
  const inodes = new Map<string, Buffer[]>();
  const absolutePaths: Buffer[] = [];
  const restore: TimesItem[] = [];
  const scratch = Buffer.allocUnsafe(1 << 20);
  const abs = (rel: Buffer) => (rel.length === 0 ? root : Buffer.concat([root, Buffer.from('/'), rel]));

  // Depth-first with children in byte order, so the map's order is the byte order of paths.
  const stack: Buffer[] = [Buffer.alloc(0)];
  while (stack.length > 0) {
    const rel = stack.pop()!;
    const path = abs(rel);
    const stat = fs.lstatSync(path, { bigint: true });
    const kind = kindOf(stat);
    const record: NodeRecord = {
      path: rel,
      kind,
      perm: Number(stat.mode & 0o7777n),
      uid: Number(stat.uid),
      gid: Number(stat.gid),
      nlink: Number(stat.nlink),
      atimeNs: stat.atimeNs,
      mtimeNs: stat.mtimeNs,
      ctimeNs: stat.ctimeNs,
      blocks: Number(stat.blocks),
    };
    if (kind === 'file' || kind === 'symlink') record.size = Number(stat.size);
    if (kind === 'file') {
      record.sparse = stat.blocks * 512n + stat.blksize <= stat.size;
      record.sha256 = hashFile(path, scratch);
    }
    if (kind === 'char' || kind === 'block') [record.rdevMajor, record.rdevMinor] = splitDev(stat.rdev);
    if (kind === 'symlink') record.target = fs.readlinkSync(path, { encoding: 'buffer' });
    if (kind !== 'dir' && stat.nlink > 1n) {
      const inode = `${stat.dev}:${stat.ino}`;
      const names = inodes.get(inode);
      if (names) names.push(rel);
      else inodes.set(inode, [rel]);
    }
    if (kind === 'dir') {
      const names = fs.readdirSync(path, { encoding: 'buffer' }).sort(Buffer.compare);
      for (let i = names.length - 1; i >= 0; i--) stack.push(rel.length === 0 ? names[i] : Buffer.concat([rel, Buffer.from('/'), names[i]]));
    }
    if (kind === 'dir' || kind === 'symlink') {
      const after = fs.lstatSync(path, { bigint: true });
      if (after.atimeNs !== stat.atimeNs) restore.push({ path, atime: toTimespec(stat.atimeNs), mtime: toTimespec(stat.mtimeNs) });
    }
    records.set(pathKey(rel), record);
    absolutePaths.push(path);
  }

  for (const names of inodes.values()) {
    if (names.length < 2) continue;
    const group = pathKey(names.reduce((least, name) => (Buffer.compare(name, least) < 0 ? name : least)));
    for (const name of names) records.get(pathKey(name))!.hardlinkGroup = group;
  }

  if (!ignore.has('xattrs') && host.capabilities.xattrs) {
    const lists = await host.readXattrs(absolutePaths);
    let i = 0;
    for (const record of records.values()) {
      const list = lists[i++];
      if (list instanceof Error) record.xattrError = (list as Error & { code?: string }).code ?? list.message;
      else record.xattrs = list;
    }
  }

  if (restoreAtimes && restore.length > 0 && host.capabilities.nsTimes) {
    // Deepest first does not matter here: setting times on an entry leaves its directory alone.
    const failed = (await host.setTimes(restore)).find((result) => result !== null);
    if (failed) throw failed;
  }

  for (const record of records.values()) dropIgnored(record, ignore);
  return records;
}

function kindOf(stat: fs.BigIntStats): NodeKind {
  if (stat.isFile()) return 'file';
  if (stat.isDirectory()) return 'dir';
  if (stat.isSymbolicLink()) return 'symlink';
  if (stat.isFIFO()) return 'fifo';
  if (stat.isSocket()) return 'socket';
  if (stat.isCharacterDevice()) return 'char';
  if (stat.isBlockDevice()) return 'block';
  throw new Error(`unknown file type, mode ${stat.mode.toString(8)}`);
}

/** Linux dev_t: major in bits 8-19 and 32-43, minor in bits 0-7 and 20-31. */
function splitDev(rdev: bigint): [number, number] {
  const major = ((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn);
  const minor = (rdev & 0xffn) | ((rdev >> 12n) & ~0xffn);
  return [Number(major), Number(minor)];
}

function toTimespec(ns: bigint): Timespec {
  let sec = ns / 1_000_000_000n;
  let nsec = ns % 1_000_000_000n;
  if (nsec < 0n) {
    sec -= 1n;
    nsec += 1_000_000_000n;
  }
  return { sec: Number(sec), nsec: Number(nsec) };
}

const O_NOATIME = (fs.constants as Record<string, number>).O_NOATIME ?? 0;

function hashFile(path: Buffer, scratch: Buffer): string {
  let fd: number;
  try {
    fd = fs.openSync(path, fs.constants.O_RDONLY | O_NOATIME);
  } catch (error) {
    // O_NOATIME is refused (EPERM) on files one does not own, unless root.
    if ((error as NodeJS.ErrnoException).code !== 'EPERM' || O_NOATIME === 0) return `unreadable: ${(error as NodeJS.ErrnoException).code}`;
    try {
      fd = fs.openSync(path, fs.constants.O_RDONLY);
    } catch (again) {
      return `unreadable: ${(again as NodeJS.ErrnoException).code}`;
    }
  }
  try {
    const hash = createHash('sha256');
    for (let n = fs.readSync(fd, scratch); n > 0; n = fs.readSync(fd, scratch)) hash.update(scratch.subarray(0, n));
    return hash.digest('hex');
  } finally {
    fs.closeSync(fd);
  }
}

function dropIgnored(record: NodeRecord, ignore: Set<TreeField>): void {
  const isDir = record.kind === 'dir';
  if (ignore.has('perm')) delete record.perm;
  if (ignore.has('uid')) delete record.uid;
  if (ignore.has('gid')) delete record.gid;
  if (ignore.has('size')) delete record.size;
  if (ignore.has('nlink') || (isDir && ignore.has('dirNlink'))) delete record.nlink;
  if (ignore.has('hardlink')) delete record.hardlinkGroup;
  if (ignore.has('atime') || (isDir && ignore.has('dirAtime'))) delete record.atimeNs;
  if (ignore.has('mtime')) delete record.mtimeNs;
  if (ignore.has('rdev')) {
    delete record.rdevMajor;
    delete record.rdevMinor;
  }
  if (ignore.has('target')) delete record.target;
  if (ignore.has('content')) delete record.sha256;
  if (ignore.has('xattrs')) {
    delete record.xattrs;
    delete record.xattrError;
  }
  if (ignore.has('sparse')) delete record.sparse;
  if (ignore.has('blocks')) delete record.blocks;
}

/**
 * The map key for a relative path: printable ASCII as itself (except backslash), every other
 * byte as \xHH, "." for the root. Unambiguous, one line, and readable in a failed assertion.
 */
export function pathKey(rel: Buffer): string {
  if (rel.length === 0) return '.';
  if (rel.every((byte) => byte >= 0x20 && byte < 0x7f && byte !== 0x5c)) return rel.toString('latin1');
  let key = '';
  for (const byte of rel) key += byte >= 0x20 && byte < 0x7f && byte !== 0x5c ? String.fromCharCode(byte) : `\\x${byte.toString(16).padStart(2, '0')}`;
  return key;
}

/**
 * Sets every entry of `dir` that `snapshot` recorded back to the recorded atime and mtime,
 * directories last and deepest first. For tests that read or change a tree (cp reads its
 * source without O_NOATIME) and need it as it was. Entries not present are skipped.
 */
export async function restoreTimes(dir: string, snapshot: Map<string, NodeRecord>, options: { host?: HostSyscalls } = {}): Promise<void> {
  const host = options.host ?? new HostSyscalls();
  try {
    const root = Buffer.from(nodePath.resolve(dir));
    const records = [...snapshot.values()].filter((record) => record.atimeNs !== undefined && record.mtimeNs !== undefined);
    const depth = (record: NodeRecord) => (record.path.length === 0 ? -1 : record.path.filter((byte) => byte === 0x2f).length);
    records.sort((a, b) => Number(a.kind === 'dir') - Number(b.kind === 'dir') || (a.kind === 'dir' ? depth(b) - depth(a) : 0));
    const items: TimesItem[] = records.map((record) => ({
      path: record.path.length === 0 ? root : Buffer.concat([root, Buffer.from('/'), record.path]),
      atime: toTimespec(record.atimeNs!),
      mtime: toTimespec(record.mtimeNs!),
    }));
    const results = await host.setTimes(items);
    const failed = results.find((result) => result !== null && (result as Error & { code?: string }).code !== 'ENOENT');
    if (failed) throw failed;
  } finally {
    if (options.host === undefined) await host.close();
  }
}

// ---------------------------------------------------------------- diffTrees

export interface DiffOptions {
  /** fields not to compare, in addition to DEFAULT_IGNORED */
  ignore?: TreeField[];
  /** fields to compare although DEFAULT_IGNORED lists them */
  include?: TreeField[];
}

/**
 * One human-readable line per difference between two snapshots, e.g.
 * "a/b: mtime 1700000000.123456789 != 1700000000.123456000"; empty when they agree. A field
 * is compared only when both snapshots recorded it.
 */
export function diffTrees(a: Map<string, NodeRecord>, b: Map<string, NodeRecord>, options: DiffOptions = {}): string[] {
  const ignored = new Set<TreeField>([...DEFAULT_IGNORED.filter((field) => !(options.include ?? []).includes(field)), ...(options.ignore ?? [])]);
  const differences: string[] = [];
  const order = new Map<string, Buffer>();
  for (const key of [...a.keys(), ...b.keys()]) if (!order.has(key)) order.set(key, keyBytes(key));
  const keys = [...order.keys()].sort((x, y) => Buffer.compare(order.get(x)!, order.get(y)!));
  for (const key of keys) {
    if (key === '.' && ignored.has('root')) continue;
    const left = a.get(key);
    const right = b.get(key);
    if (!left) {
      differences.push(`${key}: only in second (${right!.kind})`);
      continue;
    }
    if (!right) {
      differences.push(`${key}: only in first (${left.kind})`);
      continue;
    }
    differences.push(...diffRecords(key, left, right, ignored));
  }
  return differences;
}

function keyBytes(key: string): Buffer {
  return key === '.' ? Buffer.alloc(0) : Buffer.from(key.replace(/\\x([0-9a-f]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16))), 'latin1');
}

function diffRecords(key: string, a: NodeRecord, b: NodeRecord, ignored: Set<TreeField>): string[] {
  if (a.kind !== b.kind) return ignored.has('kind') ? [] : [`${key}: kind ${a.kind} != ${b.kind}`];
  const lines: string[] = [];
  const isDir = a.kind === 'dir';
  const compare = <T>(field: TreeField, label: string, x: T | undefined, y: T | undefined, show: (value: T) => string = String) => {
    if (ignored.has(field) || x === undefined || y === undefined) return;
    if (show(x) !== show(y)) lines.push(`${key}: ${label} ${show(x)} != ${show(y)}`);
  };
  compare('perm', 'mode', a.perm, b.perm, (perm) => perm.toString(8).padStart(4, '0'));
  compare('uid', 'uid', a.uid, b.uid);
  compare('gid', 'gid', a.gid, b.gid);
  compare('size', 'size', a.size, b.size);
  if (!(isDir && ignored.has('dirNlink'))) compare('nlink', 'nlink', a.nlink, b.nlink);
  if (!ignored.has('hardlink') && (a.hardlinkGroup ?? '') !== (b.hardlinkGroup ?? '')) {
    lines.push(`${key}: hardlink group ${a.hardlinkGroup ?? '(none)'} != ${b.hardlinkGroup ?? '(none)'}`);
  }
  if (!(isDir && ignored.has('dirAtime'))) compare('atime', 'atime', a.atimeNs, b.atimeNs, formatNs);
  compare('mtime', 'mtime', a.mtimeNs, b.mtimeNs, formatNs);
  if (a.rdevMajor !== undefined) compare('rdev', 'rdev', `${a.rdevMajor}:${a.rdevMinor}`, b.rdevMajor === undefined ? undefined : `${b.rdevMajor}:${b.rdevMinor}`);
  compare('target', 'symlink target', a.target, b.target, displayPath);
  compare('content', 'content sha256', a.sha256, b.sha256, (hash) => (hash.length === 64 ? hash.slice(0, 16) : hash));
  compare('sparse', 'sparse', a.sparse, b.sparse);
  compare('blocks', 'blocks', a.blocks, b.blocks);
  if (!ignored.has('xattrs')) lines.push(...diffXattrs(key, a, b));
  return lines;
}

function diffXattrs(key: string, a: NodeRecord, b: NodeRecord): string[] {
  if (a.xattrError !== undefined || b.xattrError !== undefined) {
    return a.xattrError === b.xattrError ? [] : [`${key}: xattrs unreadable ${a.xattrError ?? '(readable)'} != ${b.xattrError ?? '(readable)'}`];
  }
  if (a.xattrs === undefined || b.xattrs === undefined) return [];
  const lines: string[] = [];
  const right = new Map(b.xattrs.map((x) => [x.name.toString('latin1'), x.value]));
  const left = new Map(a.xattrs.map((x) => [x.name.toString('latin1'), x.value]));
  for (const x of a.xattrs) {
    const other = right.get(x.name.toString('latin1'));
    if (other === undefined) lines.push(`${key}: xattr ${displayPath(x.name)} only in first`);
    else if (!other.equals(x.value)) lines.push(`${key}: xattr ${displayPath(x.name)} value ${showValue(x.value)} != ${showValue(other)}`);
  }
  for (const x of b.xattrs) if (!left.has(x.name.toString('latin1'))) lines.push(`${key}: xattr ${displayPath(x.name)} only in second`);
  return lines;
}

/** Short values in hex; long ones by length and hash prefix, so a line stays a line. */
function showValue(value: Buffer): string {
  if (value.length <= 32) return `0x${value.toString('hex')}`;
  return `(${value.length} bytes, sha256 ${createHash('sha256').update(value).digest('hex').slice(0, 12)})`;
}

/** Nanoseconds since the epoch as exact decimal seconds: "1700000000.123456789", "-0.250000000". */
export function formatNs(ns: bigint): string {
  const magnitude = ns < 0n ? -ns : ns;
  return `${ns < 0n ? '-' : ''}${magnitude / 1_000_000_000n}.${String(magnitude % 1_000_000_000n).padStart(9, '0')}`;
}

/** Every choice of `r` of the numbers 0..n-1, each in ascending order (e.g. which members to lose). */
export function combinations(n: number, r: number): number[][] {
  const out: number[][] = [];
  const pick = (start: number, acc: number[]) => {
    if (acc.length === r) return void out.push(acc);
    for (let i = start; i < n; i++) pick(i + 1, [...acc, i]);
  };
  pick(0, []);
  return out;
}
