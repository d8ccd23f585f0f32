// The images the fuzzer mutates. Each variant is built from a tar archive written in-process
// (so uids, devices, xattrs and times do not depend on the host) by the real CLI,
// `strata mkfs --from seed.tar`, with SOURCE_DATE_EPOCH and --uuid: the bytes are the same on
// every machine and every run, which is what lets a regression be stored as a mutation recipe
// instead of an image.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { SourceEntry } from '../../fs/entry.js';
import { TarWriter } from '../../fs/tar/writer.js';
import { loadChecksummer } from '../../format/checksum.js';
import { decodeSuperblock } from '../../format/superblock.js';
import { JournalEntryHeader, JournalItemHeader, JOURNAL_MAGIC, KeyHeader, BTREE, KEY_TYPE, SB_OFFSET, DT } from '../../format/layout.js';
import { nameHash, ops } from '../../format/keys.js';
import { strata } from './cli-snapshot.js';
import { Rng } from './random.js';

export const SOURCE_DATE_EPOCH = '1700000000';
const T = { sec: 1_600_000_000, nsec: 123_456_789 };

export interface VariantSpec {
  name: string;
  /** relative weight when the fuzzer picks a variant */
  weight: number;
  members: number;
  mkfsArgs: string[];
  tree: 'standard' | 'wide';
}

export const VARIANTS: readonly VariantSpec[] = [
  {
    name: 'small', weight: 5, members: 1, tree: 'standard',
    mkfsArgs: ['--size', '1M', '--bucket-size', '64K', '--node-size', '4K', '--uuid', '5eed0001-0000-4000-8000-000000000001'],
  },
  {
    name: 'replicated', weight: 3, members: 2, tree: 'standard',
    mkfsArgs: ['--size', '1M', '--bucket-size', '64K', '--node-size', '4K', '--replicas', '2', '--compression', 'zstd', '--checksum', 'xxhash64', '--uuid', '5eed0002-0000-4000-8000-000000000002'],
  },
  {
    name: 'deep', weight: 1, members: 1, tree: 'wide',
    mkfsArgs: ['--size', '1M', '--bucket-size', '64K', '--node-size', '4K', '--uuid', '5eed0003-0000-4000-8000-000000000003'],
  },
];

export interface BuiltVariant {
  spec: VariantSpec;
  /** original bytes of each member */
  members: Buffer[];
  /** sha256 over all members: a stored regression is replayed only against the same bytes */
  sha256: string;
}

/**
 * Relative symlink targets that climb out of an extraction root into a sibling "sentinel"
 * folder; the fuzzer and the security tests check that sentinel never changes.
 */
export const ESCAPING_LINKS: ReadonlyArray<[string, string]> = [
  ['up', '../sentinel/x'],
  ['d0/up2', '../../sentinel/y'],
  ['abs', '/tmp/strata-fuzz-sentinel-never-written/z'],
];

function entry(p: string | Buffer, kind: SourceEntry['kind'], extra: Partial<SourceEntry> = {}): SourceEntry {
  return {
    path: typeof p === 'string' ? Buffer.from(p) : p, kind, perm: kind === 'dir' ? 0o755 : 0o644, uid: 1000, gid: 100, size: 0,
    atime: T, mtime: T, ctime: T, xattrs: [], ...extra,
  };
}

/** Content that is part text (compresses) and part noise (does not), deterministic. */
function content(rng: Rng, size: number): Buffer {
  const out = Buffer.alloc(size);
  const words = ['strata ', 'bucket ', 'extent ', 'node ', 'journal ', 'stripe '];
  let at = 0;
  while (at < size) {
    if (rng.chance(0.2)) {
      const noise = rng.bytes(Math.min(size - at, 64));
      noise.copy(out, at);
      at += noise.length;
    } else {
      at += out.write(rng.pick(words), at, 'latin1');
    }
  }
  return out;
}

/** Entries of a tree with every kind of file and the awkward cases, small enough for 1 MiB. */
function standardTree(): Array<[SourceEntry, Buffer?]> {
  const rng = new Rng(1234);
  const out: Array<[SourceEntry, Buffer?]> = [[entry('', 'dir'), undefined]];
  const file = (p: string | Buffer, size: number, extra: Partial<SourceEntry> = {}) => {
    const c = content(rng, size);
    out.push([entry(p, 'file', { size, ...extra }), c]);
  };
  for (const d of ['d0', 'd1', 'd2', 'deep', 'deep/a', 'deep/a/b', 'deep/a/b/c', 'sticky']) {
    out.push([entry(d, 'dir', d === 'sticky' ? { perm: 0o1777 } : {})]);
  }
  for (const size of [0, 1, 100, 511, 512, 513, 4096, 5000, 20_000, 60_000]) file(`f${size}`, size);
  // Enough names that the dirents and inodes btrees need more than one leaf at 4 KiB nodes.
  for (let i = 0; i < 90; i++) file(`d1/n${String(i).padStart(3, '0')}`, i % 7 === 0 ? 700 : i % 50);
  file('deep/a/b/c/leaf', 300);
  file(Buffer.from([0x6e, 0xff, 0xfe, 0x0a, 0x41]), 10); // non-UTF-8 bytes and a newline
  file('L'.repeat(255), 20);
  file('setuid', 50, { perm: 0o4755 });
  file('d0/xattrs', 30, {
    xattrs: [
      { name: Buffer.from('user.small'), value: Buffer.from('v') },
      { name: Buffer.from('user.big'), value: Buffer.alloc(900, 0x78) },
      { name: Buffer.from('security.selinux'), value: Buffer.from('system_u:object_r:tmp_t:s0\0') },
    ],
  });
  // Zero blocks in the middle become a hole: two extents.
  const sparse = Buffer.concat([content(rng, 8192), Buffer.alloc(16384), content(rng, 4096)]);
  out.push([entry('d0/sparse', 'file', { size: sparse.length }), sparse]);
  out.push([entry('d0/hard', 'hardlink', { linkTarget: Buffer.from('f5000') })]);
  out.push([entry('d2/hard2', 'hardlink', { linkTarget: Buffer.from('f5000') })]);
  out.push([entry('link', 'symlink', { linkTarget: Buffer.from('f100') })]);
  out.push([entry('longlink', 'symlink', { linkTarget: Buffer.from('t/'.repeat(400)) })]);
  for (const [p, target] of ESCAPING_LINKS) out.push([entry(p, 'symlink', { linkTarget: Buffer.from(target) })]);
  out.push([entry('fifo', 'fifo')]);
  out.push([entry('null', 'char', { rdevMajor: 1, rdevMinor: 3 })]);
  out.push([entry('disk', 'block', { rdevMajor: 8, rdevMinor: 0 })]);
  return out;
}

/** Many small entries: btrees two levels deep at 4 KiB nodes. */
function wideTree(): Array<[SourceEntry, Buffer?]> {
  const out: Array<[SourceEntry, Buffer?]> = [[entry('', 'dir'), undefined]];
  for (let d = 0; d < 4; d++) {
    out.push([entry(`w${d}`, 'dir')]);
    for (let i = 0; i < 330; i++) out.push([entry(`w${d}/e${String(i).padStart(4, '0')}`, 'file', { size: i % 40 === 0 ? 3 : 0 }), i % 40 === 0 ? Buffer.from('abc') : Buffer.alloc(0)]);
  }
  out.push([entry('up', 'symlink', { linkTarget: Buffer.from('../sentinel/x') })]);
  return out;
}

export async function seedTar(tree: VariantSpec['tree']): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const writer = new TarWriter((c) => void chunks.push(Buffer.from(c)), { recordSize: 512 });
  for (const [e, c] of tree === 'standard' ? standardTree() : wideTree()) await writer.addEntry(e, c);
  await writer.end();
  return Buffer.concat(chunks);
}

/**
 * Write one journal entry with seq 0 into member 0's journal ring. It is older than the
 * superblock's journal_seq (1), so a correct replay ignores it; a mutation of its seq makes
 * it replayable. mkfs leaves the ring empty, and without an entry there are no journal fields
 * to mutate.
 */
export async function addStaleJournalEntry(member0: Buffer): Promise<void> {
  const checksums = await loadChecksummer();
  const { fs: info } = decodeSuperblock(member0.subarray(SB_OFFSET), checksums.crc32c, { member: 'seed', offset: SB_OFFSET });
  const m = info.members[0]!;
  if (m.journalBuckets === 0) return;
  const name = Buffer.from('from-journal');
  const value = ops.dirent.encode({ target: 2, dType: DT.file, name });
  const keyBytes = Buffer.alloc(KeyHeader.size + ((value.length + 7) & ~7));
  KeyHeader.encode({ inode: 1, offset: nameHash(name), snapshot: 0, type: KEY_TYPE.dirent, flags: 0, value_size: value.length }, keyBytes);
  value.copy(keyBytes, KeyHeader.size);
  const item = Buffer.concat([JournalItemHeader.encode({ btree_id: BTREE.dirents, reserved: Buffer.alloc(0) }), keyBytes]);
  const used = JournalEntryHeader.size + item.length;
  const length = Math.ceil(used / info.blockSize) * info.blockSize;
  const bytes = Buffer.alloc(length);
  JournalEntryHeader.encode({
    magic: JOURNAL_MAGIC, checksum_type: info.metadataChecksum, reserved: Buffer.alloc(0), checksum: 0n,
    fs_magic: info.fsUuid.subarray(0, 8), seq: 0, last_seq: 0, length, item_count: 1,
    next_inode: info.nextInode, next_reflink: info.nextReflink, next_stripe: info.nextStripe,
  }, bytes);
  item.copy(bytes, JournalEntryHeader.size);
  bytes.writeBigUInt64LE(checksums.compute(info.metadataChecksum, bytes.subarray(16, length)), 8);
  bytes.copy(member0, m.journalBucket * info.bucketSize);
}

/**
 * Build every variant under `dir` with the real CLI (bin/strata, or the copy at `cli`);
 * returns their bytes.
 */
export async function buildVariants(dir: string, specs: readonly VariantSpec[] = VARIANTS, cli?: string): Promise<BuiltVariant[]> {
  fs.mkdirSync(dir, { recursive: true });
  const out: BuiltVariant[] = [];
  for (const spec of specs) {
    const tarPath = path.join(dir, `${spec.name}.tar`);
    fs.writeFileSync(tarPath, await seedTar(spec.tree));
    const memberPaths = Array.from({ length: spec.members }, (_, i) => path.join(dir, `${spec.name}.m${i}.img`));
    for (const p of memberPaths) fs.rmSync(p, { force: true });
    const r = strata(['mkfs', ...spec.mkfsArgs, '--from', tarPath, ...memberPaths], { env: { SOURCE_DATE_EPOCH }, cli });
    if (r.code !== 0) throw new Error(`mkfs of fuzz seed ${spec.name} failed (${r.code}): ${r.stderr}`);
    const members = memberPaths.map((p) => fs.readFileSync(p));
    await addStaleJournalEntry(members[0]!);
    fs.writeFileSync(memberPaths[0]!, members[0]!);
    const hash = crypto.createHash('sha256');
    for (const m of members) hash.update(m);
    out.push({ spec, members, sha256: hash.digest('hex') });
  }
  return out;
}

/** Read variants built earlier by buildVariants into `dir` (worker processes share them). */
export async function loadBuiltVariants(dir: string, specs: readonly VariantSpec[] = VARIANTS): Promise<BuiltVariant[]> {
  return specs.map((spec) => {
    const members = Array.from({ length: spec.members }, (_, i) => fs.readFileSync(path.join(dir, `${spec.name}.m${i}.img`)));
    const hash = crypto.createHash('sha256');
    for (const m of members) hash.update(m);
    return { spec, members, sha256: hash.digest('hex') };
  });
}
