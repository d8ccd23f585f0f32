// What `strata dump` shows, as plain data: the same objects feed the human printer and --json.
import type { Image } from '../format/image.js';
import { formatUuid } from '../format/codec.js';
import { COMPRESSION_NAMES } from '../format/compress.js';
import { CSUM_NAMES } from '../format/checksum.js';
import { decodeValue, escapeName, KEY_OPS, type Key, posToText, ops, checkKey } from '../format/keys.js';
import { BTREE, BTREE_NAMES, BUCKET_DATA_NAMES, INCOMPAT, KEY_TYPE, KEY_TYPE_NAMES, Superblock, SYMLINK_MAX } from '../format/layout.js';
import { UsageError } from '../format/errors.js';
import { FsReader, S_IFDIR } from './reader.js';
import { S_IFMT } from './entry.js';

export function superInfo(img: Image) {
  const f = img.fs;
  const features = Object.entries(INCOMPAT).filter(([, bit]) => f.incompat & bit).map(([name]) => name);
  return {
    uuid: formatUuid(f.fsUuid),
    label: f.label,
    version: f.version,
    features,
    seq: f.seq,
    journalSeq: f.journalSeq,
    created: f.created,
    clean: Boolean(f.flags & 1),
    blockSize: f.blockSize,
    bucketSize: f.bucketSize,
    nodeSize: f.nodeSize,
    dataChecksum: CSUM_NAMES[f.dataChecksum],
    metadataChecksum: CSUM_NAMES[f.metadataChecksum],
    compression: f.compression ? `${COMPRESSION_NAMES[f.compression]}:${f.compressionLevel}` : 'none',
    dataReplicas: f.dataReplicas,
    metadataReplicas: f.metadataReplicas,
    erasureCoding: f.ecData ? `${f.ecData}+${f.ecParity}` : null,
    nextInode: f.nextInode,
    members: f.members.map((m, i) => ({
      index: i,
      path: img.members[i]!.path,
      present: img.members[i]!.present,
      uuid: formatUuid(m.uuid),
      size: m.size,
      buckets: m.bucketCount,
      journal: { firstBucket: m.journalBucket, buckets: m.journalBuckets },
      superblocks: img.members[i]!.copies.map((c) => ({ copy: c.copy, offset: c.offset, valid: Boolean(c.result), seq: c.result?.fs.seq ?? null, error: c.error ?? null })),
    })),
    roots: f.roots.map((r) => ({ btree: BTREE_NAMES[r.btreeId], level: r.level, seq: r.seq, checksum: `0x${r.checksum.toString(16)}`, pointers: r.pointers })),
    superblockFields: Superblock.fields.map((x) => x.name),
  };
}

export interface UsageInfo {
  members: Array<{ index: number; path: string; size: number; buckets: number; bucketSize: number; byType: Record<string, { buckets: number; usedBytes: number }>; freeBuckets: number }>;
  totals: { size: number; usedBytes: number; freeBytes: number };
  files: { inodes: number; logicalBytes: number; inlineBytes: number; extentBytes: number; storedBytes: number; compressedExtents: number; extents: number };
  /** shared data: indirect extents, the bytes they hold, the pointers to them, and what sharing saved */
  reflink: { indirectExtents: number; sharedBytes: number; references: number; savedBytes: number };
}

export function usageInfo(img: Image): UsageInfo {
  const f = img.fs;
  const members = f.members.map((m, i) => ({ index: i, path: img.members[i]!.path, size: m.size, buckets: m.bucketCount, bucketSize: f.bucketSize, byType: {} as Record<string, { buckets: number; usedBytes: number }>, freeBuckets: m.bucketCount }));
  for (const k of img.btrees[BTREE.alloc]!.range()) {
    if (k.type !== KEY_TYPE.alloc) continue;
    const a = decodeValue(ops.alloc, k, BTREE.alloc);
    const m = members[k.inode];
    if (!m) continue;
    const t = BUCKET_DATA_NAMES[a.dataType] ?? String(a.dataType);
    const row = (m.byType[t] ??= { buckets: 0, usedBytes: 0 });
    row.buckets++;
    row.usedBytes += a.usedBytes;
    if (k.offset > 0) m.freeBuckets--;
  }
  let inodes = 0;
  let logicalBytes = 0;
  for (const k of img.btrees[BTREE.inodes]!.range()) {
    if (k.type !== KEY_TYPE.inode) continue;
    inodes++;
    const ino = decodeValue(ops.inode, k, BTREE.inodes);
    if ((ino.mode & S_IFMT) !== S_IFDIR) logicalBytes += ino.size;
  }
  let inlineBytes = 0, extentBytes = 0, storedBytes = 0, compressedExtents = 0, extents = 0;
  for (const k of img.btrees[BTREE.extents]!.range()) {
    if (k.type === KEY_TYPE.inlineData) inlineBytes += k.value.length;
    else if (k.type === KEY_TYPE.extent) {
      const e = decodeValue(ops.extent, k, BTREE.extents);
      extents++;
      extentBytes += e.liveSize;
      storedBytes += Math.ceil(e.storedSize / f.blockSize) * f.blockSize * e.pointers.length;
      if (e.compression) compressedExtents++;
    }
  }
  const reflink = { indirectExtents: 0, sharedBytes: 0, references: 0, savedBytes: 0 };
  for (const k of img.btrees[BTREE.reflink]!.range()) {
    if (k.type !== KEY_TYPE.indirectExtent) continue;
    const ind = decodeValue(ops.indirectExtent, k, BTREE.reflink);
    reflink.indirectExtents++;
    reflink.sharedBytes += ind.body.liveSize;
    reflink.references += ind.refcount;
    reflink.savedBytes += ind.body.liveSize * Math.max(0, ind.refcount - 1);
    storedBytes += Math.ceil(ind.body.storedSize / f.blockSize) * f.blockSize * ind.body.pointers.length;
  }
  const size = members.reduce((n, m) => n + m.size, 0);
  const usedBytes = members.reduce((n, m) => n + Object.values(m.byType).reduce((a, t) => a + t.usedBytes, 0), 0);
  return { members, totals: { size, usedBytes, freeBytes: members.reduce((n, m) => n + m.freeBuckets * f.bucketSize, 0) }, files: { inodes, logicalBytes, inlineBytes, extentBytes, storedBytes, compressedExtents, extents }, reflink };
}

export function btreeId(name: string): number {
  const id = BTREE_NAMES.indexOf(name);
  if (id < 0) throw new UsageError(`unknown btree "${name}" (one of: ${BTREE_NAMES.join(', ')})`);
  return id;
}

export interface BtreeNodeRow {
  btree: string;
  level: number;
  depth: number;
  min: string;
  max: string;
  seq: number;
  keys: number;
  usedBytes: number;
  checksum: string;
  items: Array<{ pos: string; type: string; text: string; problem?: string }>;
}

/** Every node of a btree, depth-first, with its keys printed by their type's toText. */
export function* btreeNodes(img: Image, id: number): Generator<BtreeNodeRow> {
  for (const { node, depth } of img.btrees[id]!.nodes()) {
    yield {
      btree: BTREE_NAMES[id]!, level: node.level, depth, min: posToText(node.min), max: posToText(node.max), seq: node.seq,
      keys: node.keys.length, usedBytes: node.usedBytes, checksum: `0x${node.checksum.toString(16)}`,
      items: node.keys.map((k) => keyRow(k)),
    };
  }
}

function keyRow(k: Key) {
  const table = KEY_OPS[k.type];
  const problem = checkKey(k);
  let text = '';
  if (table && !problem) text = table.toText(table.decode(k.value));
  return { pos: posToText(k), type: KEY_TYPE_NAMES[k.type] ?? `type ${k.type}`, text, ...(problem ? { problem } : {}) };
}

export function modeString(mode: number): string {
  const types: Record<number, string> = { 0o040000: 'd', 0o100000: '-', 0o120000: 'l', 0o020000: 'c', 0o060000: 'b', 0o010000: 'p', 0o140000: 's' };
  const t = types[mode & S_IFMT] ?? '?';
  const rwx = (bits: number, special: number, ch: string) => `${bits & 4 ? 'r' : '-'}${bits & 2 ? 'w' : '-'}${special ? (bits & 1 ? ch : ch.toUpperCase()) : bits & 1 ? 'x' : '-'}`;
  return t + rwx((mode >> 6) & 7, mode & 0o4000, 's') + rwx((mode >> 3) & 7, mode & 0o2000, 's') + rwx(mode & 7, mode & 0o1000, 't');
}

export function statInfo(reader: FsReader, path: string) {
  const { inum, inode } = reader.lookup(path);
  const isLink = (inode.mode & S_IFMT) === 0o120000;
  return {
    path, inode: inum, type: modeString(inode.mode)[0], mode: `0${(inode.mode & 0o7777).toString(8)}`, modeString: modeString(inode.mode),
    uid: inode.uid, gid: inode.gid, nlink: inode.nlink, size: inode.size,
    atime: `${inode.atime_sec}.${String(inode.atime_nsec).padStart(9, '0')}`,
    mtime: `${inode.mtime_sec}.${String(inode.mtime_nsec).padStart(9, '0')}`,
    ctime: `${inode.ctime_sec}.${String(inode.ctime_nsec).padStart(9, '0')}`,
    rdev: inode.rdev_major || inode.rdev_minor ? { major: inode.rdev_major, minor: inode.rdev_minor } : null,
    parent: inode.parent || null,
    target: isLink ? symlinkText(reader, inum, inode.size, path) : null,
    xattrs: reader.xattrs(inum).map((x) => ({ name: escapeName(x.name), size: x.value.length, value: x.value.toString('base64') })),
  };
}

export interface LsRow {
  path: string;
  name: string;
  inode: number;
  mode: string;
  nlink: number;
  uid: number;
  gid: number;
  size: number;
  mtime: string;
  target?: string;
}

/** Directory listing; with recursive, depth-first with sorted names (like ls -R). */
export function* listTree(reader: FsReader, path: string, recursive: boolean): Generator<LsRow> {
  const start = reader.lookup(path);
  const base = path === '/' || path === '' ? '' : path.replace(/\/+$/, '');
  if ((start.inode.mode & S_IFMT) !== S_IFDIR) {
    yield row(reader, base, base.split('/').pop() ?? base, start.inum, start.inode);
    return;
  }
  const stack: Array<{ dir: number; prefix: string; depth: number }> = [{ dir: start.inum, prefix: base, depth: 0 }];
  // A damaged image can name a directory twice (a loop or a hard-linked directory): list each once.
  const listed = new Set<number>([start.inum]);
  while (stack.length) {
    const { dir, prefix, depth } = stack.pop()!;
    const entries = reader.readdir(dir);
    const subdirs: Array<{ dir: number; prefix: string; depth: number }> = [];
    for (const d of entries) {
      const ino = reader.inode(d.target);
      const name = escapeName(d.name);
      const p = `${prefix}/${name}`;
      if (!ino) {
        yield { path: p, name, inode: d.target, mode: '?---------', nlink: 0, uid: 0, gid: 0, size: 0, mtime: '' };
        continue;
      }
      yield row(reader, p, name, d.target, ino);
      if (recursive && (ino.mode & S_IFMT) === S_IFDIR && depth < 4096 && !listed.has(d.target)) {
        listed.add(d.target);
        subdirs.push({ dir: d.target, prefix: p, depth: depth + 1 });
      }
    }
    for (let i = subdirs.length - 1; i >= 0; i--) stack.push(subdirs[i]!);
  }
}

function row(reader: FsReader, p: string, name: string, inum: number, ino: ReturnType<FsReader['inode']> & object): LsRow {
  const r: LsRow = { path: p || '/', name, inode: inum, mode: modeString(ino.mode), nlink: ino.nlink, uid: ino.uid, gid: ino.gid, size: ino.size, mtime: `${ino.mtime_sec}.${String(ino.mtime_nsec).padStart(9, '0')}` };
  if ((ino.mode & S_IFMT) === 0o120000) r.target = symlinkText(reader, inum, ino.size, p);
  return r;
}

/** A symlink target for display; an absurd size from a damaged inode is shown, not read. */
function symlinkText(reader: FsReader, inum: number, size: number, p: string): string {
  if (size === 0 || size > SYMLINK_MAX) return `<target of ${size} bytes: invalid>`;
  return escapeName(reader.readAll(inum, size, `symlink ${p}`));
}

export function extentRows(reader: FsReader, path: string) {
  const { inum } = reader.lookup(path);
  return reader.extents(inum).map((e) => {
    const base = { start: e.start, end: e.end, length: e.end - e.start, kind: e.kind };
    if (e.kind === 'extent') {
      const b = decodeValue(ops.extent, e.key, BTREE.extents);
      return { ...base, storedSize: b.storedSize, uncompressedSize: b.uncompressedSize, chunkOffset: b.chunkOffset, compression: COMPRESSION_NAMES[b.compression], checksum: `${CSUM_NAMES[b.checksumType]}:${b.checksum.toString(16)}`, pointers: b.pointers, stripe: b.stripeId ? { id: b.stripeId, block: b.stripeBlock } : null, shared: false };
    }
    if (e.kind === 'reflink') {
      const r = decodeValue(ops.reflinkPointer, e.key, BTREE.extents);
      return { ...base, reflinkIndex: r.index, shared: true };
    }
    return { ...base, shared: false };
  });
}
