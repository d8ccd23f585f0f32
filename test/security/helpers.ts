// Hand-made hostile images and archives. An image is built honestly (a tar archive written
// in-process, then `strata mkfs --from`), then one btree is rewritten through the codecs:
// decode the root leaf, edit its keys, encode it again with a correct checksum, and rewrite
// every superblock copy with the new root checksum. The result passes every checksum, so what
// is tested is the meaning checks and the extraction rules, not the checksum gate.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import type { SourceEntry } from '../../fs/entry.js';
import { TarWriter } from '../../fs/tar/writer.js';
import { loadChecksummer } from '../../format/checksum.js';
import { decodeNode, encodeNode } from '../../format/btree/node.js';
import { comparePos, type Key, nameHash, ops, POS_MAX, POS_MIN } from '../../format/keys.js';
import { DirentValue, KEY_TYPE, SB_OFFSET, SB_TAIL } from '../../format/layout.js';
import { decodeSuperblock, encodeSuperblock, type FsInfo } from '../../format/superblock.js';
import { strata, tempDir } from '../helpers/cli.js';

export const T = { sec: 1_600_000_000, nsec: 0 };

export function entry(p: string | Buffer, kind: SourceEntry['kind'], extra: Partial<SourceEntry> = {}): SourceEntry {
  return {
    path: typeof p === 'string' ? Buffer.from(p) : p, kind, perm: kind === 'dir' ? 0o755 : 0o644, uid: 0, gid: 0, size: 0,
    atime: T, mtime: T, ctime: T, xattrs: [], ...extra,
  };
}

export function file(p: string, content: string | Buffer, extra: Partial<SourceEntry> = {}): [SourceEntry, Buffer] {
  const bytes = Buffer.isBuffer(content) ? content : Buffer.from(content);
  return [entry(p, 'file', { size: bytes.length, ...extra }), bytes];
}

export async function tarOf(entries: Array<[SourceEntry, Buffer?] | SourceEntry>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const writer = new TarWriter((c) => void chunks.push(Buffer.from(c)), { recordSize: 512 });
  for (const e of entries) {
    const [meta, content] = Array.isArray(e) ? e : [e, undefined];
    await writer.addEntry(meta, content);
  }
  await writer.end();
  return Buffer.concat(chunks);
}

/** An image (one member, default geometry: every btree is a single leaf) holding `entries`. */
export async function imageOf(dir: string, entries: Array<[SourceEntry, Buffer?] | SourceEntry>, name = 'img', mkfsArgs: string[] = []): Promise<string> {
  const tarPath = path.join(dir, `${name}.tar`);
  fs.writeFileSync(tarPath, await tarOf([entry('', 'dir'), ...entries]));
  const img = path.join(dir, `${name}.img`);
  const r = strata(['mkfs', '--uuid', '0badc0de-0000-4000-8000-000000000001', ...mkfsArgs, '--from', tarPath, img], { env: { SOURCE_DATE_EPOCH: '1700000000' } });
  if (r.code !== 0) throw new Error(`mkfs failed: ${r.stderr}`);
  return img;
}

export interface ImageKeys {
  fs: FsInfo;
  keys: Key[];
}

/** Read the keys of a single-leaf btree of a one-member image. */
export async function readKeys(img: string, btreeId: number): Promise<ImageKeys> {
  const checksums = await loadChecksummer();
  const bytes = fs.readFileSync(img);
  const { fs: info } = decodeSuperblock(bytes.subarray(SB_OFFSET), checksums.crc32c, { member: img, offset: SB_OFFSET });
  const root = info.roots[btreeId]!;
  if (root.level !== 0) throw new Error(`btree ${btreeId} of the test image is ${root.level + 1} levels deep; keep test images small`);
  const p = root.pointers[0]!;
  const node = decodeNode(bytes.subarray(p.offset, p.offset + info.nodeSize), { btreeId, level: 0, fsMagic: info.fsUuid.subarray(0, 8) }, checksums);
  return { fs: info, keys: node.keys.map((k) => ({ ...k, value: Buffer.from(k.value) })) };
}

/**
 * Replace the keys of a single-leaf btree; the node and every superblock copy get correct
 * checksums. Keys are sorted here; positions must be distinct.
 */
export async function rewriteKeys(img: string, btreeId: number, edit: (keys: Key[], info: FsInfo) => Key[]): Promise<void> {
  const checksums = await loadChecksummer();
  const { fs: info, keys } = await readKeys(img, btreeId);
  const next = edit(keys, info).sort(comparePos);
  const root = info.roots[btreeId]!;
  const { bytes, checksum } = encodeNode({ btreeId, level: 0, seq: root.seq, min: POS_MIN, max: POS_MAX, keys: next }, info.nodeSize, info.metadataChecksum, info.fsUuid.subarray(0, 8), checksums);
  const fd = fs.openSync(img, 'r+');
  try {
    for (const p of root.pointers) fs.writeSync(fd, bytes, 0, bytes.length, p.offset);
    info.roots[btreeId] = { ...root, checksum };
    const sb = encodeSuperblock(info, 0, checksums.crc32c);
    const size = fs.fstatSync(fd).size;
    fs.writeSync(fd, sb, 0, sb.length, SB_OFFSET);
    fs.writeSync(fd, sb, 0, sb.length, size - SB_TAIL);
  } finally {
    fs.closeSync(fd);
  }
}

/** Rewrite every superblock copy after editing the decoded superblock. */
export async function rewriteSuperblock(img: string, edit: (info: FsInfo) => void): Promise<void> {
  const checksums = await loadChecksummer();
  const bytes = fs.readFileSync(img);
  const { fs: info } = decodeSuperblock(bytes.subarray(SB_OFFSET), checksums.crc32c, { member: img, offset: SB_OFFSET });
  edit(info);
  const sb = encodeSuperblock(info, 0, checksums.crc32c);
  const fd = fs.openSync(img, 'r+');
  try {
    fs.writeSync(fd, sb, 0, sb.length, SB_OFFSET);
    fs.writeSync(fd, sb, 0, sb.length, bytes.length - SB_TAIL);
  } finally {
    fs.closeSync(fd);
  }
}

/** A dirent key; `probe` moves it past the name's hash position (as a hash collision would). */
export function direntKey(dir: number, name: Buffer, target: number, dType: number, probe = 0): Key {
  return { inode: dir, offset: nameHash(name) + probe, snapshot: 0, type: KEY_TYPE.dirent, value: ops.dirent.encode({ target, dType, name }) };
}

/** A dirent whose name_length byte says `declared` while `name` follows (256-byte names wrap to 0). */
export function rawDirentKey(dir: number, offset: number, name: Buffer, target: number, dType: number, declared: number): Key {
  const value = Buffer.alloc(DirentValue.size + name.length);
  value.writeUInt32LE(target, 0);
  value[8] = dType;
  value[9] = declared & 0xff;
  name.copy(value, DirentValue.size);
  return { inode: dir, offset, snapshot: 0, type: KEY_TYPE.dirent, value };
}

/** The inode number an image path names, from the dirents (root is 1). */
export function inumOf(keys: Key[], dir: number, name: string): number {
  for (const k of keys) {
    if (k.inode !== dir || k.type !== KEY_TYPE.dirent) continue;
    const d = ops.dirent.decode(k.value);
    if (d.name.toString() === name) return d.target;
  }
  throw new Error(`no dirent ${name} in ${dir}`);
}

// ---------------------------------------------------------------------------------------------
// The extraction sandbox: <dir>/out is the destination, <dir>/sentinel must never change.

export interface Sandbox {
  dir: string;
  out: string;
  sentinel: string;
}

export function sandbox(prefix = 'strata-security-'): Sandbox {
  const dir = tempDir(prefix);
  const sentinel = path.join(dir, 'sentinel');
  fs.mkdirSync(sentinel);
  fs.writeFileSync(path.join(sentinel, 'keep'), 'sentinel\n');
  return { dir, out: path.join(dir, 'out'), sentinel };
}

/** Everything under the sandbox except `out`: names, types, modes, content hashes. */
export function snapshotOutside(box: Sandbox): string {
  const lines: string[] = [];
  const walk = (d: string, rel: string) => {
    for (const name of fs.readdirSync(d).sort()) {
      if (rel === '' && name === 'out') continue;
      const p = path.join(d, name);
      const st = fs.lstatSync(p);
      lines.push(`${rel}/${name} ${st.mode.toString(8)} ${st.isFile() ? crypto.createHash('sha256').update(fs.readFileSync(p)).digest('hex') : ''}`);
      if (st.isDirectory()) walk(p, `${rel}/${name}`);
    }
  };
  walk(box.dir, '');
  return lines.join('\n');
}

/** Relative paths of everything under `out`, with a type letter. */
export function listOut(box: Sandbox): string[] {
  const out: string[] = [];
  const walk = (d: string, rel: string) => {
    for (const name of fs.readdirSync(d).sort()) {
      const p = path.join(d, name);
      const st = fs.lstatSync(p);
      const r = rel ? `${rel}/${name}` : name;
      out.push(`${st.isDirectory() ? 'd' : st.isSymbolicLink() ? 'l' : st.isFile() ? 'f' : 'o'} ${r}`);
      if (st.isDirectory()) walk(p, r);
    }
  };
  if (fs.existsSync(box.out)) walk(box.out, '');
  return out;
}

/** setpriv to run as nobody, when this process is root and setpriv exists. */
export function nobodyPrefix(): string[] | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'true']);
  return r.status === 0 ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'] : undefined;
}

/**
 * Patch the raw bytes of a single-leaf btree's root node, then fix its checksum and the root
 * checksum in every superblock copy: for header fields the key codec cannot express
 * (key_count, used_bytes).
 */
export async function patchLeafBytes(img: string, btreeId: number, patch: (node: Buffer) => void): Promise<void> {
  const checksums = await loadChecksummer();
  const bytes = fs.readFileSync(img);
  const { fs: info } = decodeSuperblock(bytes.subarray(SB_OFFSET), checksums.crc32c, { member: img, offset: SB_OFFSET });
  const root = info.roots[btreeId]!;
  const p = root.pointers[0]!;
  const node = Buffer.from(bytes.subarray(p.offset, p.offset + info.nodeSize));
  patch(node);
  const used = Math.min(Math.max(node.readUInt32LE(76), 16), node.length);
  const checksum = checksums.compute(node[4]!, node.subarray(16, used));
  node.writeBigUInt64LE(checksum, 8);
  const fd = fs.openSync(img, 'r+');
  try {
    for (const q of root.pointers) fs.writeSync(fd, node, 0, node.length, q.offset);
  } finally {
    fs.closeSync(fd);
  }
  await rewriteSuperblock(img, (fsInfo) => {
    fsInfo.roots[btreeId] = { ...fsInfo.roots[btreeId]!, checksum };
  });
}

/**
 * Choose the 4 bytes at `at` of `data` so that crc32c(data) becomes `target`. crc32c is affine
 * over GF(2), and any 32 consecutive message bits reach every CRC value: solve the 32x32 system
 * by Gaussian elimination. (How an attacker makes a node carry its own checksum.)
 */
export function forgeCrc32c(data: Buffer, at: number, target: number, crc32c: (d: Uint8Array) => number): void {
  data.fill(0, at, at + 4);
  const base = crc32c(data) >>> 0;
  const columns: number[] = [];
  for (let bit = 0; bit < 32; bit++) {
    data[at + (bit >> 3)]! ^= 1 << (bit & 7);
    columns.push((crc32c(data) ^ base) >>> 0);
    data[at + (bit >> 3)]! ^= 1 << (bit & 7);
  }
  // Rows of the augmented system: row r says sum over bits b of (column_b bit r) * y_b = want bit r.
  const want = (target ^ base) >>> 0;
  const rows = Array.from({ length: 32 }, (_, r) => {
    let mask = 0;
    for (let b = 0; b < 32; b++) if ((columns[b]! >>> r) & 1) mask |= 1 << b;
    return { mask: mask >>> 0, rhs: (want >>> r) & 1 };
  });
  for (let col = 0; col < 32; col++) {
    const pivot = rows.findIndex((row, i) => i >= col && ((row.mask >>> col) & 1) === 1);
    if (pivot < 0) throw new Error('crc32c system is singular at these bytes');
    [rows[col], rows[pivot]] = [rows[pivot]!, rows[col]!];
    for (let i = 0; i < 32; i++) {
      if (i !== col && ((rows[i]!.mask >>> col) & 1) === 1) {
        rows[i] = { mask: (rows[i]!.mask ^ rows[col]!.mask) >>> 0, rhs: rows[i]!.rhs ^ rows[col]!.rhs };
      }
    }
  }
  let y = 0;
  for (let b = 0; b < 32; b++) if (rows[b]!.rhs) y |= 1 << b;
  data.writeUInt32LE(y >>> 0, at);
}
