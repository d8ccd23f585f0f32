// mkfs: create member files and populate a fresh image in one pass. Data goes to buckets in
// source order as it is read; inodes, dirents, xattrs and extent keys are kept in memory and
// written at the end as bulk-built btrees, then the alloc btree, then the superblocks. The
// superblocks are written last, so an mkfs that fails at any point leaves no image that
// strata would open.
import crypto from 'node:crypto';
import fs from 'node:fs';
import { BucketSpace } from '../format/alloc.js';
import { buildBtree, type BuildContext } from '../format/btree/build.js';
import { writeAllocBtree } from '../format/btree/alloc-build.js';
import { CSUM, loadChecksummer, type Checksummer } from '../format/checksum.js';
import { COMPRESSION, loadCompressor, type Compressor } from '../format/compress.js';
import { InterruptedError, OperationalError, StrataError, UsageError } from '../format/errors.js';
import { FileBlockLayer, type BlockLayer } from '../format/io.js';
import { dataRuns, packChunk } from '../format/extent-write.js';
import { StripeBuilder } from '../format/stripe.js';
import { type ExtentBody, type Key, type Ptr, nameHash, ops } from '../format/keys.js';
import {
  BTREE, BTREE_COUNT, BUCKET_DATA, DT, extentChunkSize, FORMAT_VERSION, INCOMPAT, KEY_TYPE, MEMBER_STATE, NAME_MAX,
  ROOT_INODE, SB_OFFSET, SB_TAIL,
} from '../format/layout.js';
import { encodeSuperblock, type FsInfo, type MemberInfo, type RootInfo } from '../format/superblock.js';
import { KIND_TO_IFMT, type SourceEntry, type Timespec, type Xattr } from './entry.js';
import { displayPath } from '../host/index.js';

export interface MkfsOptions {
  members: string[];
  /** bytes per member; undefined sizes each member to its content plus free room */
  size?: number;
  replicas: number;
  metadataReplicas: number;
  compression: number;
  compressionLevel: number;
  dataChecksum: number;
  metadataChecksum: number;
  blockSize: number;
  bucketSize: number;
  nodeSize: number;
  label: string;
  uuid?: Buffer;
  force: boolean;
  /** store files with identical content once, shared through the reflink btree */
  dedupe?: boolean;
  /** erasure-code data in stripes of k data and m parity buckets */
  ec?: { k: number; m: number };
  /** creation time and the time of directories a tar archive implies; SOURCE_DATE_EPOCH */
  now: number;
  /**
   * SOURCE_DATE_EPOCH when set: every timestamp newer than it is clamped to it (the
   * reproducible-builds convention), so reading the source, which moves atimes, or touching
   * it later, does not change the image.
   */
  clampTime?: number;
}

export interface MkfsProgress {
  phase: 'scan' | 'data' | 'metadata' | 'done';
  files: number;
  filesTotal?: number;
  bytes: number;
  bytesTotal?: number;
}

export interface MkfsHooks {
  onProgress?: (p: MkfsProgress) => void;
  onWarning?: (message: string) => void;
  signal?: AbortSignal;
}

export interface MkfsResult {
  fsUuid: Buffer;
  members: Array<{ path: string; size: number; buckets: number }>;
  inodes: number;
  files: number;
  dataBytes: number;
  storedBytes: number;
  /** bytes not stored again because --dedupe shared them */
  dedupedBytes: number;
}

/** Where file content comes from: an open host file, or a stream of chunks (tar). */
export type ContentSource =
  | { kind: 'fd'; fd: number; hostPath: Buffer }
  | { kind: 'stream'; chunks: AsyncIterable<Buffer> }
  | { kind: 'bytes'; bytes: Buffer };

interface InodeRecord {
  inum: number;
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  size: number;
  atime: Timespec;
  mtime: Timespec;
  ctime: Timespec;
  rdevMajor: number;
  rdevMinor: number;
  parent: number;
  subdirs: number;
  /** dirent offsets in use in this directory, for hash-collision probing */
  direntOffsets?: Set<number>;
  xattrOffsets?: Set<number>;
  /** name -> dirent offset, for replacing duplicate names from archives */
  names?: Map<string, { offset: number; target: number }>;
  dropped?: boolean;
}

/** A shared extent being built: its reflink position and the references counted so far. */
interface IndirectEntry {
  position: number;
  refcount: number;
  body: ExtentBody;
}

/** The first file seen with some content; `shared` is set once a twin shares its data. */
interface DedupeTwin {
  keys: Key[];
  shared?: Array<{ entry: IndirectEntry; end: number; pointer: Buffer }>;
}

/** --dedupe hashes a file in memory before storing it; larger files are stored as they are. */
const DEDUPE_BUFFER_LIMIT = 64 * 1024 * 1024;

const DT_OF: Record<string, number> = { file: DT.file, dir: DT.dir, symlink: DT.symlink, char: DT.char, block: DT.block, fifo: DT.fifo, socket: DT.socket };

/**
 * Coalesces writes that follow each other on one member into large sequential writes.
 * Each piece is padded to the block size, exactly as its allocation was rounded.
 */
class WriteCombiner {
  private member = -1;
  private start = 0;
  private length = 0;
  private readonly buffer: Buffer;

  constructor(private readonly layer: BlockLayer, private readonly blockSize: number, capacity = 4 * 1024 * 1024) {
    this.buffer = Buffer.alloc(capacity);
  }

  write(member: number, offset: number, data: Uint8Array): void {
    const padded = Math.ceil(data.length / this.blockSize) * this.blockSize;
    if (member !== this.member || offset !== this.start + this.length || this.length + padded > this.buffer.length) {
      this.flush();
      if (padded > this.buffer.length) {
        this.layer.write(member, offset, data);
        return;
      }
      this.member = member;
      this.start = offset;
    }
    this.buffer.set(data, this.length);
    this.buffer.fill(0, this.length + data.length, this.length + padded);
    this.length += padded;
  }

  flush(): void {
    if (this.length > 0) this.layer.write(this.member, this.start, this.buffer.subarray(0, this.length));
    this.length = 0;
    this.member = -1;
  }
}

export class ImageBuilder {
  private readonly inodes = new Map<number, InodeRecord>();
  private readonly pathToInode = new Map<string, number>();
  private readonly linkIds = new Map<string, number>();
  private readonly direntKeys: Key[] = [];
  private readonly xattrKeys: Key[] = [];
  private readonly extentKeys: Key[] = [];
  /** --dedupe: content key (size and sha256) -> the first file's data keys and, once shared, its indirect extents */
  private readonly dedupeIndex = new Map<string, DedupeTwin>();
  private readonly indirectKeys: IndirectEntry[] = [];
  private nextReflink = 1;
  dedupedBytes = 0;
  private readonly combiner: WriteCombiner;
  private readonly staging: Buffer;
  private readonly stripes: StripeBuilder | undefined;
  private nextInode = ROOT_INODE;
  readonly inlineMax: number;
  files = 0;
  dataBytes = 0;
  storedBytes = 0;
  private usedZstd = false;

  constructor(
    private readonly opts: MkfsOptions,
    readonly space: BucketSpace,
    layer: BlockLayer,
    private readonly checksums: Checksummer,
    private readonly compressor: Compressor,
  ) {
    this.combiner = new WriteCombiner(layer, opts.blockSize);
    this.staging = Buffer.alloc(extentChunkSize(opts.bucketSize));
    this.inlineMax = Math.min(2048, opts.nodeSize / 8);
    if (opts.ec) {
      const bucketSize = opts.bucketSize;
      this.stripes = new StripeBuilder(opts.ec.k, opts.ec.m, bucketSize, opts.blockSize, opts.dataChecksum || CSUM.crc32c, checksums, {
        takeStripeBuckets: (id, k, m) => {
          // Rotate which members hold parity, so parity load spreads like RAID-5/6.
          const members = space.pickMembers(k + m);
          const rotated = members.map((_, i) => members[(i + id) % members.length]!);
          return rotated.map((member, i) => {
            const bucket = space.takeBuckets(member, i < k ? BUCKET_DATA.user : BUCKET_DATA.parity, 1, i >= k);
            space.setStripe(member, bucket, id);
            return { member, bucket, generation: 0 };
          });
        },
        write: (member, offset, bytes) => this.combiner.write(member, offset, bytes),
      }, 1);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Namespace

  /** The root directory; takes its metadata from the source root when there is one. */
  addRoot(entry?: SourceEntry): void {
    const t = entry?.mtime ?? { sec: this.opts.now, nsec: 0 };
    const rec = this.newInode({
      mode: KIND_TO_IFMT.dir | (entry?.perm ?? 0o755), uid: entry?.uid ?? 0, gid: entry?.gid ?? 0,
      atime: entry?.atime ?? t, mtime: t, ctime: entry?.ctime ?? t,
    });
    rec.parent = rec.inum;
    rec.nlink = 2;
    rec.direntOffsets = new Set();
    rec.names = new Map();
    this.pathToInode.set('', rec.inum);
    if (entry) this.addXattrs(rec, entry.xattrs, entry.path);
  }

  /** Update the root's metadata (archives may carry "./" after other entries). */
  setRootMetadata(entry: SourceEntry): void {
    const root = this.inodes.get(ROOT_INODE)!;
    root.mode = KIND_TO_IFMT.dir | entry.perm;
    root.uid = entry.uid;
    root.gid = entry.gid;
    root.atime = entry.atime;
    root.mtime = entry.mtime;
    root.ctime = entry.ctime;
    this.addXattrs(root, entry.xattrs, entry.path);
  }

  private newInode(init: Pick<InodeRecord, 'mode' | 'uid' | 'gid' | 'atime' | 'mtime' | 'ctime'>): InodeRecord {
    const rec: InodeRecord = { inum: this.nextInode++, nlink: 0, size: 0, rdevMajor: 0, rdevMinor: 0, parent: 0, subdirs: 0, ...init };
    this.inodes.set(rec.inum, rec);
    return rec;
  }

  /**
   * The directory that will hold `path`, creating missing parents (archives may omit them)
   * with mode 0755 and the mkfs time.
   */
  private parentOf(path: Buffer): { dir: InodeRecord; name: Buffer } {
    const slash = path.lastIndexOf(0x2f);
    const parentPath = slash < 0 ? Buffer.alloc(0) : path.subarray(0, slash);
    const name = slash < 0 ? path : path.subarray(slash + 1);
    let inum = this.pathToInode.get(parentPath.toString('latin1'));
    if (inum === undefined) {
      const t = { sec: this.opts.now, nsec: 0 };
      this.addEntry({ path: Buffer.from(parentPath), kind: 'dir', perm: 0o755, uid: 0, gid: 0, size: 0, atime: t, mtime: t, ctime: t, xattrs: [] });
      inum = this.pathToInode.get(parentPath.toString('latin1'))!;
    }
    const dir = this.inodes.get(inum)!;
    if ((dir.mode & 0o170000) !== KIND_TO_IFMT.dir) throw new OperationalError('BAD_SOURCE', `${displayPath(parentPath)}: is not a directory but has entries below it`);
    return { dir, name: Buffer.from(name) };
  }

  /**
   * Add one entry (not the root). Returns the inode number and whether content must follow
   * (regular files and symlinks; the caller then calls writeContent).
   */
  addEntry(entry: SourceEntry, linkId?: string): { inum: number; needsContent: boolean } {
    if (entry.path.length === 0) {
      this.setRootMetadata(entry);
      return { inum: ROOT_INODE, needsContent: false };
    }
    const { dir, name } = this.parentOf(entry.path);
    if (name.length === 0 || name.length > NAME_MAX) throw new OperationalError('BAD_SOURCE', `${displayPath(entry.path)}: name of ${name.length} bytes (1..${NAME_MAX} allowed)`);
    const key = entry.path.toString('latin1');

    // Hardlinks: a later name for an inode already added.
    let target: InodeRecord | undefined;
    if (entry.kind === 'hardlink') {
      const inum = this.pathToInode.get(entry.linkTarget!.toString('latin1'));
      target = inum === undefined ? undefined : this.inodes.get(inum);
      if (!target || (target.mode & 0o170000) === KIND_TO_IFMT.dir) throw new OperationalError('BAD_SOURCE', `${displayPath(entry.path)}: hard link to ${displayPath(entry.linkTarget!)}, which is not an earlier non-directory entry`);
    } else if (linkId !== undefined && this.linkIds.has(linkId)) {
      target = this.inodes.get(this.linkIds.get(linkId)!);
    }

    const existing = dir.names!.get(name.toString('latin1'));
    if (existing) {
      const old = this.inodes.get(existing.target)!;
      // A directory entry repeated in an archive updates the directory; anything else replaces.
      if (entry.kind === 'dir' && (old.mode & 0o170000) === KIND_TO_IFMT.dir) {
        Object.assign(old, { mode: KIND_TO_IFMT.dir | entry.perm, uid: entry.uid, gid: entry.gid, atime: entry.atime, mtime: entry.mtime, ctime: entry.ctime });
        this.addXattrs(old, entry.xattrs, entry.path);
        return { inum: old.inum, needsContent: false };
      }
      this.unlinkName(dir, name, existing);
    }

    if (target) {
      target.nlink++;
      this.addDirent(dir, name, target.inum, DT_OF[kindOfMode(target.mode)]!);
      this.pathToInode.set(key, target.inum);
      return { inum: target.inum, needsContent: false };
    }
    const kind = entry.kind as Exclude<SourceEntry['kind'], 'hardlink'>;
    const rec = this.newInode({ mode: KIND_TO_IFMT[kind] | entry.perm, uid: entry.uid, gid: entry.gid, atime: entry.atime, mtime: entry.mtime, ctime: entry.ctime });
    rec.nlink = kind === 'dir' ? 2 : 1;
    if (kind === 'dir') {
      rec.parent = dir.inum;
      rec.direntOffsets = new Set();
      rec.names = new Map();
      dir.subdirs++;
    }
    if (kind === 'char' || kind === 'block') {
      rec.rdevMajor = entry.rdevMajor ?? 0;
      rec.rdevMinor = entry.rdevMinor ?? 0;
    }
    if (linkId !== undefined) this.linkIds.set(linkId, rec.inum);
    this.addDirent(dir, name, rec.inum, DT_OF[kind]!);
    this.pathToInode.set(key, rec.inum);
    this.addXattrs(rec, entry.xattrs, entry.path);
    if (kind === 'file') this.files++;
    return { inum: rec.inum, needsContent: kind === 'file' || kind === 'symlink' };
  }

  private unlinkName(dir: InodeRecord, name: Buffer, existing: { offset: number; target: number }): void {
    const idx = this.direntKeys.findIndex((k) => k.inode === dir.inum && k.offset === existing.offset);
    if (idx >= 0) this.direntKeys.splice(idx, 1);
    dir.direntOffsets!.delete(existing.offset);
    dir.names!.delete(name.toString('latin1'));
    const old = this.inodes.get(existing.target)!;
    if ((old.mode & 0o170000) === KIND_TO_IFMT.dir) {
      throw new OperationalError('BAD_SOURCE', `${displayPath(name)}: an archive entry replaces a directory with a non-directory`);
    }
    old.nlink--;
    if (old.nlink === 0) old.dropped = true;
  }

  private addDirent(dir: InodeRecord, name: Buffer, target: number, dType: number): void {
    let offset = nameHash(name);
    while (dir.direntOffsets!.has(offset)) offset++;
    dir.direntOffsets!.add(offset);
    dir.names!.set(name.toString('latin1'), { offset, target });
    this.direntKeys.push({ inode: dir.inum, offset, snapshot: 0, type: KEY_TYPE.dirent, value: ops.dirent.encode({ target, dType, name }) });
  }

  private addXattrs(rec: InodeRecord, xattrs: Xattr[], path: Buffer): void {
    for (const x of xattrs) {
      if (x.name.length === 0 || x.name.length > NAME_MAX) throw new OperationalError('BAD_SOURCE', `${displayPath(path)}: xattr name of ${x.name.length} bytes`);
      if (x.value.length > this.opts.nodeSize / 4) {
        throw new OperationalError('BAD_SOURCE', `${displayPath(path)}: xattr ${x.name.toString('latin1')} holds ${x.value.length} bytes; at most ${this.opts.nodeSize / 4} fit with node size ${this.opts.nodeSize}`, 'use a larger --node-size');
      }
      const problem = ops.xattr.validate({ inode: rec.inum, offset: 0, snapshot: 0 }, x);
      if (problem) throw new OperationalError('BAD_SOURCE', `${displayPath(path)}: ${problem}`);
      rec.xattrOffsets ??= new Set();
      let offset = nameHash(x.name);
      while (rec.xattrOffsets.has(offset)) offset++;
      rec.xattrOffsets.add(offset);
      this.xattrKeys.push({ inode: rec.inum, offset, snapshot: 0, type: KEY_TYPE.xattr, value: ops.xattr.encode(x) });
    }
  }

  // -------------------------------------------------------------------------------------------
  // Content

  /**
   * With --dedupe, a file that may have a twin (`candidate`) is hashed first: a twin already
   * stored is shared instead of written again. Otherwise as writeContent.
   */
  async writeFileContent(inum: number, expectedSize: number, source: ContentSource, candidate: boolean): Promise<number> {
    if (!this.opts.dedupe || !candidate || expectedSize <= this.inlineMax || expectedSize > DEDUPE_BUFFER_LIMIT) return this.writeContent(inum, expectedSize, source);
    let bytes: Buffer;
    if (source.kind === 'bytes') bytes = source.bytes;
    else if (source.kind === 'fd') bytes = readWholeFd(source.fd, expectedSize, source.hostPath);
    else {
      const parts: Buffer[] = [];
      for await (const c of source.chunks) parts.push(Buffer.from(c));
      bytes = Buffer.concat(parts);
    }
    const contentKey = `${bytes.length}:${crypto.createHash('sha256').update(bytes).digest('hex')}`;
    const twin = this.dedupeIndex.get(contentKey);
    if (twin) {
      this.shareFrom(twin, inum);
      const rec = this.inodes.get(inum)!;
      rec.size = bytes.length;
      this.dataBytes += bytes.length;
      this.dedupedBytes += bytes.length;
      return bytes.length;
    }
    const first = this.extentKeys.length;
    const n = await this.writeContent(inum, bytes.length, { kind: 'bytes', bytes });
    this.dedupeIndex.set(contentKey, { keys: this.extentKeys.slice(first) });
    return n;
  }

  /** Give `inum` reflink pointers to a twin's data, moving the twin's extents into the reflink btree the first time. */
  private shareFrom(twin: DedupeTwin, inum: number): void {
    if (!twin.shared) {
      twin.shared = [];
      for (const k of twin.keys) {
        if (k.type !== KEY_TYPE.extent) continue;
        const body = ops.extent.decode(k.value);
        const index = this.nextReflink;
        this.nextReflink += body.liveSize;
        const entry: IndirectEntry = { position: index + body.liveSize, refcount: 1, body };
        this.indirectKeys.push(entry);
        const pointer = ops.reflinkPointer.encode({ liveSize: body.liveSize, index });
        // The twin's own key becomes a pointer at the same position.
        k.type = KEY_TYPE.reflinkPointer;
        k.value = pointer;
        twin.shared.push({ entry, end: k.offset, pointer });
      }
    }
    for (const s of twin.shared) {
      s.entry.refcount++;
      this.extentKeys.push({ inode: inum, offset: s.end, snapshot: 0, type: KEY_TYPE.reflinkPointer, value: s.pointer });
    }
  }

  /** Write the content of a file or symlink target; returns the bytes written. */
  async writeContent(inum: number, expectedSize: number, source: ContentSource): Promise<number> {
    const rec = this.inodes.get(inum)!;
    let total = 0;
    if (source.kind === 'bytes' || (expectedSize <= this.inlineMax && source.kind === 'fd')) {
      const bytes = source.kind === 'bytes' ? source.bytes : readWholeFd(source.fd, expectedSize, source.hostPath);
      total = bytes.length;
      if (total > 0 && total <= this.inlineMax) {
        this.extentKeys.push({ inode: inum, offset: total, snapshot: 0, type: KEY_TYPE.inlineData, value: Buffer.from(bytes) });
      } else {
        for (let at = 0; at < total; at += this.staging.length) this.emitChunk(inum, at, bytes.subarray(at, Math.min(total, at + this.staging.length)));
      }
    } else if (source.kind === 'fd') {
      for (;;) {
        const n = readFull(source.fd, this.staging, total, source.hostPath);
        if (n === 0) break;
        this.emitChunk(inum, total, this.staging.subarray(0, n));
        total += n;
        if (n < this.staging.length) break;
      }
    } else {
      // Stream: small files are collected and stored inline; larger ones are staged in
      // chunk-size pieces so the extent boundaries match the directory path exactly.
      let fill = 0;
      const small = expectedSize <= this.inlineMax ? Buffer.alloc(expectedSize) : undefined;
      for await (const chunk of source.chunks) {
        let at = 0;
        while (at < chunk.length) {
          if (small) {
            const n = Math.min(chunk.length - at, small.length - fill);
            if (n <= 0) throw new OperationalError('BAD_SOURCE', `content longer than the declared ${expectedSize} bytes`);
            chunk.copy(small, fill, at, at + n);
            fill += n;
            at += n;
            continue;
          }
          const n = Math.min(chunk.length - at, this.staging.length - fill);
          chunk.copy(this.staging, fill, at, at + n);
          fill += n;
          at += n;
          if (fill === this.staging.length) {
            this.emitChunk(inum, total, this.staging);
            total += fill;
            fill = 0;
          }
        }
      }
      if (small) {
        total = fill;
        if (fill > 0) this.extentKeys.push({ inode: inum, offset: fill, snapshot: 0, type: KEY_TYPE.inlineData, value: small.subarray(0, fill) });
      } else if (fill > 0) {
        this.emitChunk(inum, total, this.staging.subarray(0, fill));
        total += fill;
      }
    }
    rec.size = total;
    this.dataBytes += total;
    return total;
  }

  /** Store one chunk (<= the chunk size) at file offset `start`; all-zero blocks become holes. */
  private emitChunk(inum: number, start: number, data: Buffer): void {
    for (const [a, b] of dataRuns(data, this.opts.blockSize)) this.writeExtent(inum, start + a, data.subarray(a, b));
  }

  private writeExtent(inum: number, fileOffset: number, data: Buffer): void {
    const bs = this.opts.blockSize;
    const { stored, compression, checksum } = packChunk(data, this.opts.compression, this.opts.compressionLevel, this.opts.dataChecksum, bs, this.compressor, this.checksums);
    if (compression === COMPRESSION.zstd) this.usedZstd = true;
    if (this.stripes) {
      const placed = this.stripes.place(stored);
      const blockBytes = Math.ceil(stored.length / bs) * bs;
      this.space.addUsed(placed.pointer.member, Math.floor(placed.pointer.offset / this.space.bucketSize), blockBytes);
      this.storedBytes += blockBytes;
      this.extentKeys.push({
        inode: inum, offset: fileOffset + data.length, snapshot: 0, type: KEY_TYPE.extent,
        value: ops.extent.encode({
          liveSize: data.length, chunkOffset: 0, uncompressedSize: data.length, storedSize: stored.length, checksum,
          checksumType: this.opts.dataChecksum, compression, stripeId: placed.stripeId, stripeBlock: placed.block, pointers: [placed.pointer],
        }),
      });
      return;
    }
    const pointers: Ptr[] = [];
    for (const member of this.space.pickMembers(this.opts.replicas)) {
      const offset = this.space.allocate(member, BUCKET_DATA.user, stored.length);
      this.combiner.write(member, offset, stored);
      pointers.push({ member, generation: 0, offset });
    }
    this.storedBytes += Math.ceil(stored.length / bs) * bs * pointers.length;
    this.extentKeys.push({
      inode: inum, offset: fileOffset + data.length, snapshot: 0, type: KEY_TYPE.extent,
      value: ops.extent.encode({
        liveSize: data.length, chunkOffset: 0, uncompressedSize: data.length, storedSize: stored.length, checksum,
        checksumType: this.opts.dataChecksum, compression, stripeId: 0, stripeBlock: 0, pointers,
      }),
    });
  }

  // -------------------------------------------------------------------------------------------
  // Metadata

  /** Build every btree and return the roots, indexed by btree id. */
  writeMetadata(seq: number, fsMagic: Buffer): RootInfo[] {
    this.combiner.flush();
    const inodeKeys: Key[] = [];
    const dropped = new Set<number>();
    const clampAt = this.opts.clampTime;
    const clamp = (t: Timespec): Timespec => (clampAt !== undefined && (t.sec > clampAt || (t.sec === clampAt && t.nsec > 0)) ? { sec: clampAt, nsec: 0 } : t);
    for (const rec of [...this.inodes.values()].sort((a, b) => a.inum - b.inum)) {
      rec.atime = clamp(rec.atime);
      rec.mtime = clamp(rec.mtime);
      rec.ctime = clamp(rec.ctime);
      if (rec.dropped) {
        dropped.add(rec.inum);
        continue;
      }
      const isDir = (rec.mode & 0o170000) === KIND_TO_IFMT.dir;
      inodeKeys.push({
        inode: rec.inum, offset: 0, snapshot: 0, type: KEY_TYPE.inode,
        value: ops.inode.encode({
          mode: rec.mode, uid: rec.uid, gid: rec.gid, nlink: isDir ? 2 + rec.subdirs : rec.nlink, size: isDir ? 0 : rec.size,
          atime_sec: rec.atime.sec, mtime_sec: rec.mtime.sec, ctime_sec: rec.ctime.sec,
          atime_nsec: rec.atime.nsec, mtime_nsec: rec.mtime.nsec, ctime_nsec: rec.ctime.nsec,
          flags: 0, rdev_major: rec.rdevMajor, rdev_minor: rec.rdevMinor, parent: isDir ? rec.parent : 0, generation: 0, reserved: 0,
        }),
      });
    }
    const live = (k: Key) => !dropped.has(k.inode);
    const byPos = (a: Key, b: Key) => a.inode - b.inode || a.offset - b.offset;
    const ctx: BuildContext = {
      nodeSize: this.opts.nodeSize, checksumType: this.opts.metadataChecksum, fsMagic, seq, checksums: this.checksums, fill: 7 / 8,
      place: (bytes) => this.placeNode(bytes),
    };
    const roots: RootInfo[] = new Array(BTREE_COUNT);
    roots[BTREE.inodes] = buildBtree(BTREE.inodes, inodeKeys, ctx);
    roots[BTREE.dirents] = buildBtree(BTREE.dirents, this.direntKeys.sort(byPos), ctx);
    roots[BTREE.xattrs] = buildBtree(BTREE.xattrs, this.xattrKeys.filter(live).sort(byPos), ctx);
    // Extents of dropped inodes are left out; their data blocks stay allocated but unreferenced
    // (alloc counts only what the extents btree references).
    const extents = this.extentKeys.filter(live).sort(byPos);
    this.discountExtents(this.extentKeys.filter((k) => !live(k)));
    roots[BTREE.extents] = buildBtree(BTREE.extents, extents, ctx);
    const reflinkKeys: Key[] = this.indirectKeys.map((e) => ({ inode: 0, offset: e.position, snapshot: 0, type: KEY_TYPE.indirectExtent, value: ops.indirectExtent.encode({ refcount: e.refcount, body: e.body }) }));
    roots[BTREE.reflink] = buildBtree(BTREE.reflink, reflinkKeys, ctx);
    this.stripes?.seal();
    this.combiner.flush();
    const stripeKeys: Key[] = (this.stripes?.sealed ?? []).map((x) => ({ inode: 0, offset: x.id, snapshot: 0, type: KEY_TYPE.stripe, value: ops.stripe.encode(x.stripe) }));
    roots[BTREE.stripes] = buildBtree(BTREE.stripes, stripeKeys, ctx);
    roots[BTREE.alloc] = this.buildAllocBtree(ctx);
    this.combiner.flush();
    return roots;
  }

  /** Remove the usage of extents that end up unreferenced (replaced archive entries). */
  private discountExtents(keys: Key[]): void {
    for (const k of keys) {
      if (k.type !== KEY_TYPE.extent) continue;
      const e = ops.extent.decode(k.value);
      for (const p of e.pointers) this.space.release(p.member, p.offset, e.storedSize);
    }
  }

  private placeNode(bytes: Buffer): Ptr[] {
    return this.space.pickMembers(this.opts.metadataReplicas).map((member) => {
      const offset = this.space.allocate(member, BUCKET_DATA.btree, bytes.length);
      this.combiner.write(member, offset, bytes);
      return { member, generation: 0, offset };
    });
  }

  private buildAllocBtree(ctx: BuildContext): RootInfo {
    const members = this.space.pickMembers(this.opts.metadataReplicas);
    return writeAllocBtree(this.space, members, this.space.bucketSize, ctx, (member, offset, bytes) => this.combiner.write(member, offset, bytes));
  }

  get inodeCount(): number {
    let n = 0;
    for (const rec of this.inodes.values()) if (!rec.dropped) n++;
    return n;
  }

  get highestInode(): number {
    return this.nextInode;
  }

  get reflinkEnd(): number {
    return this.nextReflink;
  }

  get stripeEnd(): number {
    return this.stripes?.nextStripeId ?? 1;
  }

  get shared(): boolean {
    return this.indirectKeys.length > 0;
  }

  get compressed(): boolean {
    return this.usedZstd;
  }
}

function kindOfMode(mode: number): string {
  const ifmt = mode & 0o170000;
  for (const [k, v] of Object.entries(KIND_TO_IFMT)) if (v === ifmt) return k;
  return 'file';
}

function readFull(fd: number, buf: Buffer, position: number, hostPath: Buffer): number {
  let done = 0;
  while (done < buf.length) {
    let n: number;
    try {
      n = fs.readSync(fd, buf, done, buf.length - done, position + done);
    } catch (err) {
      throw new OperationalError((err as NodeJS.ErrnoException).code ?? 'EIO', `cannot read ${displayPath(hostPath)}: ${(err as NodeJS.ErrnoException).code ?? err}`);
    }
    if (n === 0) break;
    done += n;
  }
  return done;
}

function readWholeFd(fd: number, size: number, hostPath: Buffer): Buffer {
  const buf = Buffer.alloc(size);
  const n = readFull(fd, buf, 0, hostPath);
  return buf.subarray(0, n);
}

// ---------------------------------------------------------------------------------------------
// Creating members and finishing the image

export interface PreparedMembers {
  layer: FileBlockLayer;
  created: boolean[];
  paths: string[];
}

/** Create or truncate every member file; refuses to overwrite a non-empty file without --force. */
export function prepareMembers(opts: MkfsOptions): PreparedMembers {
  const created: boolean[] = [];
  const files = opts.members.map((p) => {
    let exists = false;
    try {
      const st = fs.statSync(p);
      if (st.isDirectory()) throw new UsageError(`${p}: is a directory`);
      exists = true;
      if (st.isFile() && st.size > 0 && !opts.force) throw new UsageError(`${p}: file exists and is not empty`, 'add --force to overwrite it');
    } catch (err) {
      if (err instanceof StrataError || !(err as NodeJS.ErrnoException).code) throw err;
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new OperationalError('EIO', `${p}: ${(err as NodeJS.ErrnoException).code}`);
    }
    let fd: number;
    try {
      fd = fs.openSync(p, exists ? 'r+' : 'wx+');
      // Start from zeros: no old superblock, and no stale bytes in padding, survive.
      fs.ftruncateSync(fd, 0);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
      throw new OperationalError(code, `${p}: cannot create member (${code === 'ENOENT' ? 'No such file or directory' : code})`);
    }
    created.push(!exists);
    return { path: p, fd };
  });
  const layer = new FileBlockLayer(files, true);
  if (opts.size !== undefined) files.forEach((_, i) => layer.resize(i, opts.size!));
  return { layer, created, paths: opts.members };
}

/** Remove what a failed mkfs wrote: created files go, pre-existing ones are truncated to zero. */
export function abandonMembers(prep: PreparedMembers): void {
  try {
    prep.layer.close();
  } catch {
    /* closing is best effort */
  }
  prep.paths.forEach((p, i) => {
    try {
      if (prep.created[i]) fs.unlinkSync(p);
      else fs.truncateSync(p, 0);
    } catch {
      /* nothing more can be done */
    }
  });
}

export function deriveMemberUuid(fsUuid: Buffer, index: number, reproducible: boolean): Buffer {
  if (!reproducible) return crypto.randomBytes(16);
  const h = crypto.createHash('sha256').update(fsUuid).update(`member ${index}`).digest().subarray(0, 16);
  h[6] = (h[6]! & 0x0f) | 0x40;
  h[8] = (h[8]! & 0x3f) | 0x80;
  return Buffer.from(h);
}

export function journalBucketsFor(bucketCount: number | undefined): number {
  if (bucketCount === undefined) return 8;
  return Math.max(2, Math.min(256, Math.floor(bucketCount / 32)));
}

/** Free room left in a member sized to its content: 10% of the used buckets, at least 16. */
export const freeRoom = (used: number) => Math.max(16, Math.ceil(used / 10));

export async function runMkfs(opts: MkfsOptions, populate: (b: ImageBuilder, hooks: MkfsHooks) => Promise<void>, hooks: MkfsHooks = {}): Promise<MkfsResult> {
  if (opts.ec && opts.ec.k + opts.ec.m > opts.members.length) {
    throw new UsageError(`--ec ${opts.ec.k}+${opts.ec.m} needs at least ${opts.ec.k + opts.ec.m} members; ${opts.members.length} given`);
  }
  if (opts.replicas > opts.members.length || opts.metadataReplicas > opts.members.length) {
    throw new UsageError(`${Math.max(opts.replicas, opts.metadataReplicas)} replicas need as many members; ${opts.members.length} given`);
  }
  if (new Set(opts.members.map((p) => fs.existsSync(p) ? fs.realpathSync(p) : p)).size !== opts.members.length) throw new UsageError('a member is named twice');
  const checksums = await loadChecksummer();
  const compressor = await loadCompressor();
  let bucketLimit: number | undefined;
  if (opts.size !== undefined) {
    bucketLimit = Math.floor((opts.size - SB_TAIL) / opts.bucketSize);
    const minimum = 1 + journalBucketsFor(bucketLimit) + 3;
    if (bucketLimit < minimum) {
      throw new OperationalError('ENOSPC', `--size ${opts.size} is too small: it holds ${Math.max(0, bucketLimit)} buckets of ${opts.bucketSize} bytes, at least ${minimum} are needed`, `give at least --size ${minimum * opts.bucketSize + SB_TAIL}`);
    }
  }
  const prep = prepareMembers(opts);
  const onSignal = () => controller.abort();
  const controller = new AbortController();
  hooks.signal?.addEventListener('abort', onSignal);
  try {
    const space = new BucketSpace(opts.bucketSize, opts.blockSize, opts.members.map(() => bucketLimit));
    const journalBuckets = journalBucketsFor(bucketLimit);
    const journalFirst = opts.members.map((_, i) => space.takeBuckets(i, BUCKET_DATA.journal, journalBuckets));
    const builder = new ImageBuilder(opts, space, prep.layer, checksums, compressor);
    await populate(builder, { ...hooks, signal: controller.signal });
    if (controller.signal.aborted) throw new InterruptedError('mkfs interrupted; no image was written');
    hooks.onProgress?.({ phase: 'metadata', files: builder.files, bytes: builder.dataBytes });
    const fsUuid = opts.uuid ?? crypto.randomUUID().replace(/-/g, '');
    const uuid = Buffer.isBuffer(fsUuid) ? fsUuid : Buffer.from(fsUuid, 'hex');
    const seq = 1;
    const roots = builder.writeMetadata(seq, uuid.subarray(0, 8));
    const members: MemberInfo[] = opts.members.map((_, i) => {
      const bucketCount = space.finalBucketCount(i, freeRoom);
      return {
        uuid: deriveMemberUuid(uuid, i, opts.uuid !== undefined), size: opts.size ?? bucketCount * opts.bucketSize + SB_TAIL, bucketCount,
        journalBucket: journalFirst[i]!, journalBuckets, state: MEMBER_STATE.active,
      };
    });
    let incompat = 0;
    if (builder.compressed || opts.compression === COMPRESSION.zstd) incompat |= INCOMPAT.zstd;
    if (opts.dataChecksum === 2 || opts.metadataChecksum === 2) incompat |= INCOMPAT.xxhash64;
    if (builder.shared) incompat |= INCOMPAT.reflink;
    if (opts.ec) incompat |= INCOMPAT.erasureCoding;
    const info: FsInfo = {
      version: FORMAT_VERSION, incompat, roCompat: 0, compat: 0, fsUuid: uuid, blockSize: opts.blockSize,
      bucketSize: opts.bucketSize, nodeSize: opts.nodeSize, flags: 1, seq, journalSeq: 1, created: opts.now,
      nextInode: builder.highestInode, nextReflink: builder.reflinkEnd, nextStripe: builder.stripeEnd, dataChecksum: opts.dataChecksum,
      metadataChecksum: opts.metadataChecksum, compression: opts.compression, compressionLevel: opts.compression ? opts.compressionLevel : 0,
      dataReplicas: opts.replicas, metadataReplicas: opts.metadataReplicas, ecData: opts.ec?.k ?? 0, ecParity: opts.ec?.m ?? 0, label: opts.label, members, roots,
    };
    // Data and nodes must be durable before any superblock names them.
    members.forEach((m, i) => prep.layer.resize(i, m.size));
    prep.layer.flush();
    members.forEach((m, i) => {
      const sb = encodeSuperblock(info, i, checksums.crc32c);
      prep.layer.write(i, SB_OFFSET, sb);
      prep.layer.write(i, m.size - SB_TAIL, sb);
    });
    prep.layer.flush();
    prep.layer.close();
    hooks.onProgress?.({ phase: 'done', files: builder.files, bytes: builder.dataBytes });
    return {
      fsUuid: uuid,
      members: members.map((m, i) => ({ path: opts.members[i]!, size: m.size, buckets: m.bucketCount })),
      inodes: builder.inodeCount, files: builder.files, dataBytes: builder.dataBytes, storedBytes: builder.storedBytes, dedupedBytes: builder.dedupedBytes,
    };
  } catch (err) {
    abandonMembers(prep);
    throw err;
  } finally {
    hooks.signal?.removeEventListener('abort', onSignal);
  }
}
