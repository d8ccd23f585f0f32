// fsck-scale group: how `strata fsck -n` grows with the number of inodes. Three generated trees
// of 10,000, 100,000 and 1,000,000 inodes (directories of 100 files of 20 bytes each, the
// shape that makes metadata, not data, the work) are archived as tar and formatted with
// `strata mkfs --from`, untimed; the timed rows are fsck -n of each. The report fits time and
// peak memory against inodes and states both per million inodes.
//
// Run on its own: node --import tsx bench/run.ts --only fsck-scale
// (invoked with --write-tar, this file writes one tree's archive; the fixtures call it so).
import { spawnSync } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { SourceEntry } from '../fs/entry.js';
import { TarWriter } from '../fs/tar/writer.js';
import { type BenchContext, type ImageRecipe, onImage } from './context.js';
import type { Job, Measurement } from './runner.js';

export const SCALE_INODES = [10_000, 100_000, 1_000_000] as const;
const FILES_PER_DIR = 100;
const FILE_BYTES = 20;

const imageId = (inodes: number) => `scale-${inodes}`;

/** The root, then directories of FILES_PER_DIR files until `inodes` inodes exist. */
export async function writeScaleTar(path: string, inodes: number): Promise<void> {
  const out = createWriteStream(path);
  const sink = (chunk: Buffer) => new Promise<void>((resolve, reject) => out.write(chunk, (err) => (err ? reject(err) : resolve())));
  const tar = new TarWriter(sink);
  const time = { sec: 1_700_000_000, nsec: 0 };
  const entry = (p: string, kind: 'dir' | 'file', size: number): SourceEntry =>
    ({ path: Buffer.from(p), kind, perm: kind === 'dir' ? 0o755 : 0o644, uid: 0, gid: 0, size, atime: time, mtime: time, ctime: time, xattrs: [] });
  let made = 1;
  for (let dir = 0; made < inodes; dir++) {
    const name = `d${String(dir).padStart(5, '0')}`;
    await tar.addEntry(entry(name, 'dir', 0));
    made++;
    for (let f = 0; f < FILES_PER_DIR && made < inodes; f++, made++) {
      const content = Buffer.alloc(FILE_BYTES, 0x61 + (made % 26));
      await tar.addEntry(entry(`${name}/f${String(f).padStart(2, '0')}`, 'file', FILE_BYTES), content);
    }
  }
  await tar.end();
  await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
}

export const SCALE_RECIPES: ImageRecipe[] = SCALE_INODES.map((inodes) => ({
  id: imageId(inodes),
  fileName: `${imageId(inodes)}.img`,
  prepare: (context: BenchContext, path: string) => {
    const tar = `${path}.tar`;
    if (existsSync(tar)) return;
    // A failure here leaves no archive, and the mkfs that follows says so.
    spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--write-tar', tar, String(inodes)], { cwd: context.repoRoot, stdio: 'inherit' });
  },
  invocation: (context: BenchContext, path: string) => context.strata.invocation(['mkfs', '--from', `${path}.tar`, path]),
}));

export function fsckScaleJobs(context: BenchContext): Job[] {
  return [{
    group: 'fsck-scale',
    name: 'fsck -n by inode count',
    description: `read-only check of generated trees (directories of ${FILES_PER_DIR} files of ${FILE_BYTES} bytes)`,
    strata: SCALE_INODES.map((inodes) =>
      onImage(context, `strata fsck -n, ${inodes.toLocaleString('en-US')} inodes`, imageId(inodes), (image) => context.strata.invocation(['fsck', '-n', image]))),
    peers: [],
  }];
}

/** Least-squares slope of y over x. */
function slope(points: Array<[number, number]>): number {
  const n = points.length;
  const mx = points.reduce((s, [x]) => s + x, 0) / n;
  const my = points.reduce((s, [, y]) => s + y, 0) / n;
  const sxy = points.reduce((s, [x, y]) => s + (x - mx) * (y - my), 0);
  const sxx = points.reduce((s, [x]) => s + (x - mx) ** 2, 0);
  return sxx === 0 ? 0 : sxy / sxx;
}

export function fsckScaleReport(rows: Measurement[]): { text: string; data: unknown } {
  const points = rows.flatMap((row, i) => (row.seconds === null ? [] : [{ inodes: SCALE_INODES[i]!, seconds: row.seconds, cpu: row.cpuSeconds, rssMiB: row.peakRssKiB === null ? null : row.peakRssKiB / 1024 }]));
  if (points.length < 2) return { text: 'fsck-scale: fewer than two sizes ran; no fit', data: { points } };
  const perMillion = (ys: Array<[number, number]>) => slope(ys) * 1e6;
  const secondsPerMillion = perMillion(points.map((p) => [p.inodes, p.seconds]));
  const cpuPoints = points.filter((p) => p.cpu !== null).map((p): [number, number] => [p.inodes, p.cpu!]);
  const rssPoints = points.filter((p) => p.rssMiB !== null).map((p): [number, number] => [p.inodes, p.rssMiB!]);
  const cpuPerMillion = cpuPoints.length >= 2 ? perMillion(cpuPoints) : null;
  const rssPerMillion = rssPoints.length >= 2 ? perMillion(rssPoints) : null;
  const lines = [
    'fsck -n growth (least-squares slope over the sizes that ran):',
    `  wall ${secondsPerMillion.toFixed(2)} s per million inodes` +
      (cpuPerMillion === null ? '' : `, CPU ${cpuPerMillion.toFixed(2)} s per million inodes`) +
      (rssPerMillion === null ? '' : `, peak RSS ${rssPerMillion.toFixed(0)} MiB per million inodes`),
  ];
  return { text: lines.join('\n'), data: { points, secondsPerMillion, cpuPerMillion, rssPerMillion } };
}

if (process.argv[2] === '--write-tar') {
  await writeScaleTar(process.argv[3]!, Number(process.argv[4]));
}

