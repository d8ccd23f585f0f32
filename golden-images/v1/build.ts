// Builds the format-1 golden image deterministically: a tar archive written by strata's own
// tar writer from the fixed entries below (every file kind, xattrs, nanosecond times,
// non-UTF-8 and 255-byte names, a hole), then `strata mkfs` with a fixed UUID and
// SOURCE_DATE_EPOCH. Usage: node --import tsx golden-images/v1/build.ts <out-dir>
// Writes <out-dir>/tree.tar and <out-dir>/v1.img.
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { TarWriter } from '../../fs/tar/writer.js';
import type { SourceEntry } from '../../fs/entry.js';

export const GOLDEN_UUID = '5715a7a0-0001-4000-8000-676f6c64656e';
export const GOLDEN_EPOCH = '1700000000';
export const GOLDEN_MKFS_ARGS = ['--uuid', GOLDEN_UUID, '--bucket-size', '64K', '--node-size', '4K', '--compression', 'zstd:3', '--label', 'golden-v1'];

const t = (sec: number, nsec = 0) => ({ sec, nsec });
function entry(p: string | Buffer, kind: SourceEntry['kind'], extra: Partial<SourceEntry> = {}): SourceEntry {
  return { path: Buffer.isBuffer(p) ? p : Buffer.from(p), kind, perm: kind === 'dir' ? 0o755 : 0o644, uid: 1000, gid: 1000, size: 0, atime: t(1690000000, 111), mtime: t(1690000001, 222222222), ctime: t(1690000002, 333), xattrs: [], ...extra };
}

function text(n: number): Buffer {
  const words = ['strata', 'bucket', 'extent', 'journal', 'stripe', 'replica', 'btree', 'inode'];
  let s = '';
  for (let i = 0; s.length < n; i++) s += words[(i * 7 + (i >> 3)) % words.length] + (i % 11 === 10 ? '\n' : ' ');
  return Buffer.from(s.slice(0, n));
}

export async function buildGolden(outDir: string): Promise<{ tar: string; image: string }> {
  fs.mkdirSync(outDir, { recursive: true });
  const tarPath = path.join(outDir, 'tree.tar');
  const chunks: Buffer[] = [];
  const w = new TarWriter((c) => void chunks.push(Buffer.from(c)));
  const sparse = Buffer.alloc(300_000);
  text(5000).copy(sparse, 0);
  text(5000).copy(sparse, 200_000);
  const files: Array<[SourceEntry, Buffer?]> = [
    [entry('', 'dir', { perm: 0o755, uid: 0, gid: 0 })],
    [entry('docs', 'dir')],
    [entry('docs/readme.txt', 'file', { size: 120 }), text(120)],
    [entry('docs/big.txt', 'file', { size: 400_000, xattrs: [{ name: Buffer.from('user.kind'), value: Buffer.from('text') }] }), text(400_000)],
    [entry('docs/empty', 'file', { size: 0 }), Buffer.alloc(0)],
    [entry('docs/sparse.bin', 'file', { size: sparse.length }), sparse],
    [entry('docs/hardlink', 'hardlink', { linkTarget: Buffer.from('docs/readme.txt') })],
    [entry('docs/link', 'symlink', { perm: 0o777, linkTarget: Buffer.from('readme.txt') })],
    [entry('special', 'dir', { perm: 0o1777 })],
    [entry('special/fifo', 'fifo', { perm: 0o600 })],
    [entry('special/null', 'char', { perm: 0o666, uid: 0, gid: 0, rdevMajor: 1, rdevMinor: 3 })],
    [entry('special/disk', 'block', { perm: 0o660, uid: 0, gid: 6, rdevMajor: 8, rdevMinor: 0 })],
    [entry('names', 'dir', { xattrs: [{ name: Buffer.from('user.dir'), value: Buffer.from([0, 1, 2, 255]) }] })],
    [entry(Buffer.concat([Buffer.from('names/'), Buffer.from([0x6c, 0xe9, 0xff])]), 'file', { size: 3 }), Buffer.from('bin')],
    [entry(`names/${'n'.repeat(255)}`, 'file', { size: 4 }), Buffer.from('long')],
    [entry('names/setuid', 'file', { perm: 0o4755, size: 2 }), Buffer.from('#!')],
  ];
  for (const [e, content] of files) await w.addEntry(e, content);
  await w.end();
  fs.writeFileSync(tarPath, Buffer.concat(chunks));
  const image = path.join(outDir, 'v1.img');
  fs.rmSync(image, { force: true });
  const strata = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'strata');
  const r = spawnSync(process.execPath, [strata, 'mkfs', ...GOLDEN_MKFS_ARGS, '--from', tarPath, image], { env: { ...process.env, SOURCE_DATE_EPOCH: GOLDEN_EPOCH } });
  if (r.status !== 0) throw new Error(`mkfs failed: ${r.stderr.toString()}`);
  return { tar: tarPath, image };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const out = process.argv[2];
  if (!out) {
    console.error('usage: build.ts <out-dir>');
    process.exit(16);
  }
  const r = await buildGolden(out);
  console.log(r.image);
}
