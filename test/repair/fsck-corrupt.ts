// Building damaged images for fsck tests and the golden cases (golden-images/f_*/build.ts):
// deterministic base images made by the real `strata mkfs` from a tar archive written
// in-process (fixed UUID, SOURCE_DATE_EPOCH), and a workbench that damages them with the
// format codecs only: edit the keys or header of a btree node and, when asked, recompute its
// checksum and every checksum above it up to all superblock copies, so the damage reaches the
// deep checks instead of stopping at "checksum mismatch".
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { decodeNode, type DecodedNode, encodeNode, type NodeContent } from '../../format/btree/node.js';
import { openImage, type Image } from '../../format/image.js';
import { comparePos, type DecodedInode, decodeBtreePointer, type Dirent, encodeBtreePointer, type Key, nameHash, ops, type Pos, POS_MAX, POS_MIN, type Ptr } from '../../format/keys.js';
import type { JournalItem } from '../../format/journal.js';
import { BTREE, BUCKET_DATA, DT, INCOMPAT, KEY_TYPE, SB_MAX_SIZE, SB_OFFSET, SB_TAIL } from '../../format/layout.js';
import { decodeSuperblock, encodeSuperblock, type FsInfo } from '../../format/superblock.js';
import { Volume } from '../../format/volume.js';
import { FsReader } from '../../fs/reader.js';
import type { SourceEntry } from '../../fs/entry.js';
import { TarWriter } from '../../fs/tar/writer.js';
import { STRATA } from '../helpers/cli.js';

export const SOURCE_DATE_EPOCH = '1700000000';

export type BaseName = 'single' | 'mirror' | 'deep';

const BASES: Record<BaseName, { members: number; args: string[]; wide: boolean }> = {
  single: { members: 1, args: ['--size', '4M', '--bucket-size', '64K', '--node-size', '4K', '--uuid', 'f5c40001-0000-4000-8000-000000000001'], wide: false },
  mirror: { members: 2, args: ['--size', '4M', '--bucket-size', '64K', '--node-size', '4K', '--replicas', '2', '--uuid', 'f5c40002-0000-4000-8000-000000000002'], wide: false },
  deep: { members: 1, args: ['--size', '4M', '--bucket-size', '64K', '--node-size', '4K', '--uuid', 'f5c40003-0000-4000-8000-000000000003'], wide: true },
};

const T = { sec: 1_650_000_000, nsec: 5 };

function entry(p: string, kind: SourceEntry['kind'], extra: Partial<SourceEntry> = {}): SourceEntry {
  return { path: Buffer.from(p), kind, perm: kind === 'dir' ? 0o755 : 0o644, uid: 1000, gid: 1000, size: 0, atime: T, mtime: T, ctime: T, xattrs: [], ...extra };
}

/** Deterministic bytes that do not compress to nothing. */
export function pattern(seed: string, size: number): Buffer {
  const out = Buffer.alloc(size);
  let block = crypto.createHash('sha256').update(seed).digest();
  for (let at = 0; at < size; at += block.length) {
    block.copy(out, at);
    block = crypto.createHash('sha256').update(block).digest();
  }
  return out;
}

/**
 * The tree every base holds. Paths the cases name: /docs/readme.txt (inline, hard-linked as
 * /docs/hard), /docs/big.bin (five 64 KiB extents), /docs/empty, /docs/link (symlink),
 * /src/a/b/deep.txt, /src/tool (one extent), /dev/fifo, /dev/null, and xattrs on /docs and
 * /src/tool. The deep base adds /many/f000../many/f239 (two-level btrees at 4 KiB nodes).
 */
function treeEntries(wide: boolean): Array<[SourceEntry, Buffer?]> {
  const out: Array<[SourceEntry, Buffer?]> = [
    [entry('', 'dir')],
    [entry('docs', 'dir', { xattrs: [{ name: Buffer.from('user.topic'), value: Buffer.from('manuals') }] })],
    [entry('docs/readme.txt', 'file', { size: 120 }), pattern('readme', 120)],
    [entry('docs/big.bin', 'file', { size: 300_000 }), pattern('big', 300_000)],
    [entry('docs/empty', 'file')],
    [entry('docs/link', 'symlink', { perm: 0o777, linkTarget: Buffer.from('readme.txt') })],
    [entry('docs/hard', 'hardlink', { linkTarget: Buffer.from('docs/readme.txt') })],
    [entry('src', 'dir')],
    [entry('src/a', 'dir')],
    [entry('src/a/b', 'dir')],
    [entry('src/a/b/deep.txt', 'file', { size: 40 }), pattern('deep', 40)],
    [entry('src/tool', 'file', { size: 20_000, xattrs: [{ name: Buffer.from('user.version'), value: Buffer.from('1.0') }] }), pattern('tool', 20_000)],
    [entry('dev', 'dir')],
    [entry('dev/fifo', 'fifo')],
    [entry('dev/null', 'char', { perm: 0o666, rdevMajor: 1, rdevMinor: 3 })],
  ];
  if (wide) {
    out.push([entry('many', 'dir')]);
    for (let i = 0; i < 240; i++) out.push([entry(`many/f${String(i).padStart(3, '0')}`, 'file', { size: 24 }), pattern(`many${i}`, 24)]);
  }
  return out;
}

async function treeTar(wide: boolean): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const w = new TarWriter((c) => void chunks.push(Buffer.from(c)), { recordSize: 512 });
  for (const [e, c] of treeEntries(wide)) await w.addEntry(e, c);
  await w.end();
  return Buffer.concat(chunks);
}

/** A golden case (golden-images/f_<what>/build.ts): the base it starts from and the damage done to it. */
export interface CaseDef {
  base: BaseName;
  /** one line: what is damaged */
  description: string;
  damage(w: Workbench): Promise<void>;
}

export function defineCase(def: CaseDef): CaseDef {
  return def;
}

/** Member file names of a base in a case folder. */
export function memberNames(base: BaseName): string[] {
  return Array.from({ length: BASES[base].members }, (_, i) => `m${i}.img`);
}

/**
 * Make base `base` in `dir` (m0.img, m1.img ...) with the real CLI; returns the image spec
 * relative to `dir` ("m0.img" or "m0.img:m1.img").
 */
export async function makeBase(dir: string, base: BaseName): Promise<string> {
  fs.mkdirSync(dir, { recursive: true });
  const b = BASES[base];
  const tar = path.join(dir, 'tree.tar');
  fs.writeFileSync(tar, await treeTar(b.wide));
  const names = memberNames(base);
  for (const n of names) fs.rmSync(path.join(dir, n), { force: true });
  const r = spawnSync(process.execPath, [STRATA, 'mkfs', ...b.args, '--from', 'tree.tar', ...names], { cwd: dir, env: { ...process.env, SOURCE_DATE_EPOCH } });
  if (r.status !== 0) throw new Error(`mkfs of base ${base} failed: ${r.stderr.toString()}`);
  fs.rmSync(tar);
  return names.join(':');
}

/** One step down a btree: the node and how its parent points to it. */
interface Frame {
  node: DecodedNode;
  pointers: Ptr[];
  /** index of the key in the parent that points here (-1 for the root) */
  keyInParent: number;
}

/** Damage an image in place, one operation at a time (each opens and closes the image). */
export class Workbench {
  readonly spec: string;

  constructor(readonly dir: string, spec: string) {
    this.spec = spec.split(':').map((m) => path.join(dir, m)).join(':');
  }

  private async withImage<R>(fn: (img: Image) => R | Promise<R>): Promise<R> {
    const img = await openImage(this.spec, { writable: true });
    try {
      return await fn(img);
    } finally {
      img.close();
    }
  }

  /** Inode number of an image path. */
  async inum(p: string): Promise<number> {
    return this.withImage((img) => new FsReader(img).lookup(p).inum);
  }

  async inode(p: string | number): Promise<DecodedInode> {
    const inum = typeof p === 'number' ? p : await this.inum(p);
    return this.withImage((img) => new FsReader(img).inode(inum)!);
  }

  /** Every key of a btree in order. */
  async keys(btreeId: number, from: Pos = POS_MIN, to: Pos = POS_MAX): Promise<Key[]> {
    return this.withImage((img) => [...img.btrees[btreeId]!.range(from, to)].map((k) => ({ ...k, value: Buffer.from(k.value) })));
  }

  /** Keys of one inode in a btree (extents, xattrs, dirents of a directory). */
  async keysOf(btreeId: number, inum: number): Promise<Key[]> {
    return this.keys(btreeId, { inode: inum, offset: 0, snapshot: 0 }, { inode: inum, offset: POS_MAX.offset, snapshot: POS_MAX.snapshot });
  }

  /** Where the node at `level` holding position `at` lives: its copies and content. */
  async node(btreeId: number, at: Pos, level = 0): Promise<{ pointers: Ptr[]; node: DecodedNode }> {
    return this.withImage((img) => {
      const path = pathTo(img, btreeId, at, level);
      const f = path[path.length - 1]!;
      return { pointers: f.pointers, node: f.node };
    });
  }

  /**
   * Edit the node at `level` holding `at`: `edit` changes its content (keys, min, max, level,
   * btree id) and may return raw bytes to write instead of the encoding. With `fixup`, every
   * checksum above it is made to agree, up to the superblock copies.
   */
  async editNode(btreeId: number, at: Pos, level: number, edit: (content: NodeContent & { checksumType: number }) => Buffer | void, options: { fixup?: boolean; copies?: number[] } = {}): Promise<void> {
    await this.withImage((img) => {
      const path = pathTo(img, btreeId, at, level);
      const target = path[path.length - 1]!;
      const content = { ...contentOf(target.node), checksumType: img.fs.metadataChecksum };
      const raw = edit(content);
      const encoded = encodeNode(content, img.fs.nodeSize, content.checksumType, img.fsMagic, img.checksums);
      const bytes = raw ?? encoded.bytes;
      target.pointers.forEach((p, i) => {
        if (!options.copies || options.copies.includes(i)) img.layer.write(p.member, p.offset, bytes);
      });
      if (options.fixup ?? true) fixParents(img, btreeId, path, raw ? decodeChecksum(raw) : encoded.checksum);
      img.layer.flush();
    });
  }

  /** Replace the keys of the leaf holding `at` (sorted or not, as `edit` returns them). */
  async editKeys(btreeId: number, at: Pos, edit: (keys: Key[]) => Key[], options: { fixup?: boolean } = {}): Promise<void> {
    await this.editNode(btreeId, at, 0, (c) => {
      c.keys = edit(c.keys.map((k) => ({ ...k, value: Buffer.from(k.value) })));
    }, options);
  }

  /** Change one key in place (same position unless `change` moves it; the leaf is re-sorted). */
  async editKey(btreeId: number, at: Pos, change: (k: Key) => Key | undefined, options: { fixup?: boolean; keepOrder?: boolean } = {}): Promise<void> {
    await this.editKeys(btreeId, at, (keys) => {
      const i = keys.findIndex((k) => comparePos(k, at) === 0);
      if (i < 0) throw new Error(`no key at ${at.inode}:${at.offset} in btree ${btreeId}`);
      const next = change(keys[i]!);
      const out = keys.slice();
      if (next) out[i] = next;
      else out.splice(i, 1);
      return options.keepOrder ? out : out.sort(comparePos);
    }, options);
  }

  /** Add a key to the leaf whose range holds it. */
  async addKey(btreeId: number, key: Key): Promise<void> {
    await this.editKeys(btreeId, key, (keys) => [...keys, key].sort(comparePos));
  }

  async editInode(p: string | number, change: Partial<DecodedInode>): Promise<void> {
    const inum = typeof p === 'number' ? p : await this.inum(p);
    await this.editKey(BTREE.inodes, { inode: inum, offset: 0, snapshot: 0 }, (k) => ({ ...k, value: ops.inode.encode({ ...ops.inode.decode(k.value), ...change }) }));
  }

  /** Edit one superblock copy (re-encoded with a valid checksum unless `raw` bytes are returned). */
  async editSuperblock(member: number, copy: 0 | 1, edit: (fs: FsInfo) => FsInfo | Buffer): Promise<void> {
    await this.withImage((img) => {
      const offset = copy === 0 ? SB_OFFSET : img.layer.size(member) - SB_TAIL;
      const bytes = img.layer.read(member, offset, Math.min(SB_MAX_SIZE, img.layer.size(member) - offset));
      const sb = decodeSuperblock(bytes, img.checksums.crc32c, { member: `m${member}`, offset });
      const next = edit(cloneFs(sb.fs));
      img.layer.write(member, offset, Buffer.isBuffer(next) ? next : encodeSuperblock(next, sb.memberIndex, img.checksums.crc32c));
      img.layer.flush();
    });
  }

  /** Every superblock copy of every member edited alike (a change the copies agree on). */
  async editAllSuperblocks(edit: (fs: FsInfo) => FsInfo): Promise<void> {
    const count = this.spec.split(':').length;
    for (let m = 0; m < count; m++) for (const c of [0, 1] as const) await this.editSuperblock(m, c, edit);
  }

  async read(member: number, offset: number, length: number): Promise<Buffer> {
    return this.withImage((img) => img.layer.read(member, offset, length));
  }

  async write(member: number, offset: number, bytes: Buffer): Promise<void> {
    await this.withImage((img) => {
      img.layer.write(member, offset, bytes);
      img.layer.flush();
    });
  }

  /** Flip bit `bit` of the byte at `offset`. */
  async flip(member: number, offset: number, bit = 0): Promise<void> {
    const b = await this.read(member, offset, 1);
    b[0]! ^= 1 << bit;
    await this.write(member, offset, b);
  }

  /** Run `fn` on the volume opened for writing; checkpoint at the end, or leave the journal as a crash would. */
  async volume(fn: (vol: Volume) => void | Promise<void>, options: { checkpoint: boolean } = { checkpoint: true }): Promise<void> {
    const vol = await Volume.open(this.spec, { writable: true });
    try {
      await fn(vol);
    } finally {
      if (options.checkpoint) vol.close();
      else vol.abandon();
    }
  }

  memberPath(member: number): string {
    return this.spec.split(':')[member]!;
  }

  /** Byte offset of member `member`'s journal ring, and the lengths of the entries at its start. */
  async journal(member = 0): Promise<{ ring: number; entries: Array<{ offset: number; length: number }> }> {
    return this.withImage((img) => {
      const m = img.fs.members[member]!;
      const ring = m.journalBucket * img.fs.bucketSize;
      const entries: Array<{ offset: number; length: number }> = [];
      for (let at = ring; at < ring + m.journalBuckets * img.fs.bucketSize;) {
        const head = img.layer.read(member, at, 72);
        if (head.readUInt32LE(0) !== 0x4c4e4a53) break;
        const length = head.readUInt32LE(40);
        entries.push({ offset: at, length });
        at += length;
      }
      return { ring, entries };
    });
  }

  /** The image's geometry and counters, as the superblock in use says. */
  async info(): Promise<FsInfo> {
    return this.withImage((img) => cloneFs(img.fs));
  }

  /** The dirent naming `name` in directory `dir`. */
  async dirent(dir: string, name: string): Promise<Key> {
    const keys = await this.keysOf(BTREE.dirents, await this.inum(dir));
    const k = keys.find((x) => ops.dirent.decode(x.value).name.equals(Buffer.from(name)));
    if (!k) throw new Error(`no entry ${name} in ${dir}`);
    return k;
  }

  /** Change the dirent naming `name` in `dir` (undefined deletes it). */
  async editDirent(dir: string, name: string, change: (d: Dirent, k: Key) => Key | undefined): Promise<void> {
    const k = await this.dirent(dir, name);
    await this.editKey(BTREE.dirents, k, (key) => change(ops.dirent.decode(key.value), key));
  }

  /**
   * New regular files in directory `dir` sharing one indirect extent of `size` bytes through
   * reflink pointers (refcount = number of files), committed and checkpointed: a consistent
   * image to damage. Returns the files' inode numbers and the indirect extent's key position.
   */
  async addReflinked(dir: string, names: string[], size: number): Promise<{ inodes: number[]; indirect: Pos }> {
    const dirInum = await this.inum(dir);
    let out: { inodes: number[]; indirect: Pos } | undefined;
    await this.volume((vol) => {
      const data = pattern(`shared:${names.join(',')}`, size);
      const pointers = vol.writeData(data, vol.fs.dataReplicas);
      const start = vol.allocateReflink(size);
      const body = { liveSize: size, chunkOffset: 0, uncompressedSize: size, storedSize: size, checksum: vol.img.checksums.compute(vol.fs.dataChecksum, data), checksumType: vol.fs.dataChecksum, compression: 0, stripeId: 0, stripeBlock: 0, pointers };
      const indirect: Key = { inode: 0, offset: start + size, snapshot: 0, type: KEY_TYPE.indirectExtent, value: ops.indirectExtent.encode({ refcount: names.length, body }) };
      const items: JournalItem[] = [{ btreeId: BTREE.reflink, key: indirect }];
      const inodes: number[] = [];
      const taken = new Set<number>();
      for (const name of names) {
        const inum = vol.allocateInode();
        inodes.push(inum);
        items.push({ btreeId: BTREE.inodes, key: { inode: inum, offset: 0, snapshot: 0, type: KEY_TYPE.inode, value: ops.inode.encode(fileInode(size)) } });
        items.push({ btreeId: BTREE.extents, key: { inode: inum, offset: size, snapshot: 0, type: KEY_TYPE.reflinkPointer, value: ops.reflinkPointer.encode({ liveSize: size, index: start }) } });
        items.push({ btreeId: BTREE.dirents, key: freeDirent(vol, dirInum, Buffer.from(name), inum, DT.file, taken) });
      }
      vol.commit(items);
      out = { inodes, indirect: { inode: 0, offset: start + size, snapshot: 0 } };
    });
    return out!;
  }

  /**
   * A stripe of one data block (the bucket of the member-0 copy of /src/tool's extent) and one
   * parity block (free bucket `parityBucket` of member 1: stripe blocks live on distinct
   * members), with the alloc btree, counters and feature bit agreeing; the extent names it
   * when `referenced`. Needs the mirror base.
   */
  async addStripe(options: { referenced: boolean; parityBucket: number }): Promise<number> {
    const tool = await this.inum('/src/tool');
    const [extent] = await this.keysOf(BTREE.extents, tool);
    const body = ops.extent.decode(extent!.value);
    const ptr = body.pointers.find((p) => p.member === 0)!;
    const info = await this.info();
    const id = info.nextStripe;
    const bucketSize = info.bucketSize;
    const dataBucket = Math.floor(ptr.offset / bucketSize);
    const blocks = [{ member: 0, generation: 0, offset: dataBucket * bucketSize }, { member: 1, generation: 0, offset: options.parityBucket * bucketSize }];
    const data = await this.read(0, blocks[0]!.offset, bucketSize);
    // One data block: its parity is the block itself.
    await this.write(1, blocks[1]!.offset, data);
    const sum = (await this.withImage((img) => img.checksums)).compute(1, data);
    const stripe = { algorithm: 1, dataBlocks: 1, parityBlocks: 1, checksumType: 1, checksumGranularityBits: Math.log2(bucketSize), blockSize: bucketSize, pointers: blocks, checksums: [[sum], [sum]] };
    await this.addKey(BTREE.stripes, { inode: 0, offset: id, snapshot: 0, type: KEY_TYPE.stripe, value: ops.stripe.encode(stripe) });
    await this.editKey(BTREE.alloc, { inode: 0, offset: dataBucket, snapshot: 0 }, (k) => ({ ...k, value: ops.alloc.encode({ ...ops.alloc.decode(k.value), stripeId: id }) }));
    await this.addKey(BTREE.alloc, { inode: 1, offset: options.parityBucket, snapshot: 0, type: KEY_TYPE.alloc, value: ops.alloc.encode({ generation: 0, dataType: BUCKET_DATA.parity, usedBytes: bucketSize, stripeId: id }) });
    if (options.referenced) await this.editKey(BTREE.extents, extent!, (k) => ({ ...k, value: ops.extent.encode({ ...body, pointers: [ptr, ...body.pointers.filter((p) => p !== ptr)], stripeId: id, stripeBlock: 0 }) }));
    await this.editAllSuperblocks((fs) => ({ ...fs, nextStripe: id + 1, incompat: fs.incompat | INCOMPAT.erasureCoding }));
    return id;
  }
}

/** A regular file inode with fixed times. */
export function fileInode(size: number, nlink = 1): DecodedInode {
  return {
    mode: 0o100644, uid: 1000, gid: 1000, nlink, size, atime_sec: T.sec, mtime_sec: T.sec, ctime_sec: T.sec, atime_nsec: 0, mtime_nsec: 0, ctime_nsec: 0,
    flags: 0, rdev_major: 0, rdev_minor: 0, parent: 0, generation: 0, reserved: 0,
  };
}

/** A dirent key at the first free offset from the name's hash in `dir` (also skipping `taken`). */
function freeDirent(vol: Volume, dir: number, name: Buffer, target: number, dType: number, taken: Set<number>): Key {
  let offset = nameHash(name);
  while (taken.has(offset) || vol.trees[BTREE.dirents]!.get({ inode: dir, offset, snapshot: 0 })) offset++;
  taken.add(offset);
  return { inode: dir, offset, snapshot: 0, type: KEY_TYPE.dirent, value: ops.dirent.encode({ target, dType, name }) };
}

function cloneFs(fs: FsInfo): FsInfo {
  return {
    ...fs, fsUuid: Buffer.from(fs.fsUuid), members: fs.members.map((m) => ({ ...m, uuid: Buffer.from(m.uuid) })),
    roots: fs.roots.map((r) => ({ ...r, pointers: r.pointers.map((p) => ({ ...p })) })),
  };
}

function contentOf(n: DecodedNode): NodeContent {
  return { btreeId: n.btreeId, level: n.level, seq: n.seq, min: n.min, max: n.max, keys: n.keys.map((k) => ({ ...k, value: Buffer.from(k.value) })) };
}

function decodeChecksum(bytes: Buffer): bigint {
  return bytes.readBigUInt64LE(8);
}

function pathTo(img: Image, btreeId: number, at: Pos, level: number): Frame[] {
  const root = img.fs.roots[btreeId]!;
  const read = (pointers: Ptr[], expect: { level: number; checksum: bigint; seq: number; min: Pos; max: Pos }) =>
    decodeNode(img.layer.read(pointers[0]!.member, pointers[0]!.offset, img.fs.nodeSize), { btreeId, fsMagic: img.fsMagic, ...expect }, img.checksums);
  const frames: Frame[] = [{ node: read(root.pointers, { level: root.level, checksum: root.checksum, seq: root.seq, min: POS_MIN, max: POS_MAX }), pointers: root.pointers, keyInParent: -1 }];
  for (;;) {
    const { node } = frames[frames.length - 1]!;
    if (node.level <= level) return frames;
    let i = node.keys.findIndex((k) => comparePos(k, at) >= 0);
    if (i < 0) i = node.keys.length - 1;
    const k = node.keys[i]!;
    const ptr = decodeBtreePointer(k.value);
    frames.push({ node: read(ptr.pointers, { level: node.level - 1, checksum: ptr.checksum, seq: ptr.seq, min: ptr.min, max: { inode: k.inode, offset: k.offset, snapshot: k.snapshot } }), pointers: ptr.pointers, keyInParent: i });
  }
}

/** Store `checksum` as the child's in each parent up the path, re-encoding each, then in the superblocks. */
function fixParents(img: Image, btreeId: number, path: Frame[], checksum: bigint): void {
  for (let j = path.length - 2; j >= 0; j--) {
    const parent = contentOf(path[j]!.node);
    const i = path[j + 1]!.keyInParent;
    const key = parent.keys[i]!;
    parent.keys[i] = { ...key, value: encodeBtreePointer({ ...decodeBtreePointer(key.value), checksum }) };
    const encoded = encodeNode(parent, img.fs.nodeSize, img.fs.metadataChecksum, img.fsMagic, img.checksums);
    for (const p of path[j]!.pointers) img.layer.write(p.member, p.offset, encoded.bytes);
    checksum = encoded.checksum;
  }
  img.fs.roots[btreeId] = { ...img.fs.roots[btreeId]!, checksum };
  img.fs.members.forEach((m, i) => {
    if (!img.layer.present(i)) return;
    const sb = encodeSuperblock(img.fs, i, img.checksums.crc32c);
    img.layer.write(i, SB_OFFSET, sb);
    img.layer.write(i, img.layer.size(i) - SB_TAIL, sb);
  });
}

export const at = (inode: number, offset = 0): Pos => ({ inode, offset, snapshot: 0 });

export { BTREE, BUCKET_DATA, DT, KEY_TYPE, ops };

/** Commit one transaction adding a small regular file `name` (inline content) to directory `dir`. */
export function addFileItems(vol: Volume, name: string, dir = 1): number {
  const inum = vol.allocateInode();
  const data = Buffer.from(`${name}\n`);
  vol.commit([
    { btreeId: BTREE.inodes, key: { inode: inum, offset: 0, snapshot: 0, type: KEY_TYPE.inode, value: ops.inode.encode(fileInode(data.length)) } },
    { btreeId: BTREE.extents, key: { inode: inum, offset: data.length, snapshot: 0, type: KEY_TYPE.inlineData, value: data } },
    { btreeId: BTREE.dirents, key: freeDirent(vol, dir, Buffer.from(name), inum, DT.file, new Set()) },
  ], `add ${name}`);
  return inum;
}
