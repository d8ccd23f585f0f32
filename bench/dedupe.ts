// dedupe group: how much space `strata mkfs --dedupe` saves, beside what the peers' images of the
// same tree occupy. Two inputs: the bench corpus (natural duplicates, ~5% of its files) and a
// synthetic tree of one 1 MiB file copied 100 times (distinct inodes, identical contents).
//
// The timed rows are the image builds not made elsewhere; the sizes table after them reads every
// image: allocated bytes (what the image occupies on disk), apparent size, and for strata what
// `dump usage --json` reports (totals.usedBytes, reflink.savedBytes). Corpus images the mkfs group
// built are reused; missing ones are built untimed.
import { spawnSync } from 'node:child_process';
import { closeSync, copyFileSync, existsSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { createCipheriv } from 'node:crypto';
import { join } from 'node:path';
import { type BenchContext, type ImageRecipe, peerInvocation, sparseFile } from './context.js';
import { imageBuildRun } from './mkfs.js';
import { type Job, diskUsage, formatMB, renderTable } from './runner.js';

const COPIES = 100;
const COPY_BYTES = 1024 * 1024;
// mkfs.btrfs wants a sized file; the copies are 100 MiB, and btrfs refuses much below ~110 MiB
const COPIES_BTRFS_BYTES = 512 * 1024 * 1024;

const SQUASHFS_UNCOMPRESSED = ['-noI', '-noD', '-noF', '-noX', '-noappend', '-processors', '2', '-no-progress'];

let copiesDir: string | null = null;

/** The synthetic tree, made once (untimed) on first use: copy-000.bin ... copy-099.bin. */
function ensureCopies(context: BenchContext): string {
  if (copiesDir !== null && existsSync(copiesDir)) return copiesDir;
  const dir = join(context.workDir, 'copies');
  mkdirSync(dir, { recursive: true });
  const key = Buffer.alloc(16);
  key.write('strata-dedupe');
  const bytes = createCipheriv('aes-128-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(COPY_BYTES));
  const first = join(dir, 'copy-000.bin');
  const fd = openSync(first, 'w');
  try {
    writeSync(fd, bytes);
  } finally {
    closeSync(fd);
  }
  for (let index = 1; index < COPIES; index++) copyFileSync(first, join(dir, `copy-${String(index).padStart(3, '0')}.bin`));
  copiesDir = dir;
  return dir;
}

export const DEDUPE_RECIPES: ImageRecipe[] = [
  {
    id: 'strata-dedupe',
    fileName: 'strata-dedupe.img',
    invocation: (context, path) => context.strata.invocation(['mkfs', '--dedupe', '--from', context.corpus.dir, path]),
  },
  {
    // squashfs without compression: its whole-file dedupe alone, comparable with strata uncompressed
    id: 'squashfs-plain',
    fileName: 'squashfs-plain.img',
    invocation: (context, path) => peerInvocation(context, 'mksquashfs', [context.corpus.dir, path, ...SQUASHFS_UNCOMPRESSED]),
  },
  {
    id: 'copies-strata-dedupe',
    fileName: 'copies-strata-dedupe.img',
    invocation: (context, path) => context.strata.invocation(['mkfs', '--dedupe', '--from', ensureCopies(context), path]),
  },
  {
    id: 'copies-strata',
    fileName: 'copies-strata.img',
    invocation: (context, path) => context.strata.invocation(['mkfs', '--from', ensureCopies(context), path]),
  },
  {
    id: 'copies-erofs',
    fileName: 'copies-erofs.img',
    invocation: (context, path) => peerInvocation(context, 'mkfs.erofs', [path, ensureCopies(context)]),
  },
  {
    id: 'copies-squashfs',
    fileName: 'copies-squashfs.img',
    invocation: (context, path) => peerInvocation(context, 'mksquashfs', [ensureCopies(context), path, ...SQUASHFS_UNCOMPRESSED]),
  },
  {
    id: 'copies-btrfs',
    fileName: 'copies-btrfs.img',
    invocation: (context, path) => peerInvocation(context, 'mkfs.btrfs', ['--rootdir', ensureCopies(context), path]),
    prepare: (_context, path) => sparseFile(path, COPIES_BTRFS_BYTES),
  },
];

const STRATA_DEDUPE = 'strata mkfs --dedupe --from DIR';
const COPIES_DEDUPE = 'strata mkfs --dedupe --from COPIES';

export function dedupeJobs(context: BenchContext): Job[] {
  return [
    {
      group: 'dedupe',
      name: 'dedupe corpus',
      description: 'build a deduplicated image of the corpus (sizes below)',
      strata: [imageBuildRun(context, 'strata-dedupe', STRATA_DEDUPE)],
      peers: [],
    },
    {
      group: 'dedupe',
      name: `dedupe ${COPIES} copies`,
      description: `build images of one 1 MiB file copied ${COPIES} times`,
      strata: [
        imageBuildRun(context, 'copies-strata-dedupe', COPIES_DEDUPE),
        imageBuildRun(context, 'copies-strata', 'strata mkfs --from COPIES'),
      ],
      peers: [
        imageBuildRun(context, 'copies-erofs', 'mkfs.erofs'),
        imageBuildRun(context, 'copies-squashfs', 'mksquashfs -noI -noD -noF -noX'),
        imageBuildRun(context, 'copies-btrfs', 'mkfs.btrfs --rootdir'),
      ],
    },
  ];
}

interface SizeEntry {
  input: 'corpus' | 'copies';
  label: string;
  fixture: string;
  strata: boolean;
  /** what the tool shares: "no", "whole files", "extents" ... */
  dedupes: string;
  /** the row every other row of the same input is compared with */
  base?: boolean;
}

const SIZE_ENTRIES: SizeEntry[] = [
  { input: 'corpus', label: 'strata mkfs --dedupe', fixture: 'strata-dedupe', strata: true, dedupes: 'identical files (reflink)', base: true },
  { input: 'corpus', label: 'strata mkfs', fixture: 'strata', strata: true, dedupes: 'no' },
  { input: 'corpus', label: 'mkfs.erofs', fixture: 'erofs', strata: false, dedupes: 'no' },
  { input: 'corpus', label: 'mkfs.btrfs --rootdir', fixture: 'btrfs', strata: false, dedupes: 'no' },
  { input: 'corpus', label: 'mksquashfs (uncompressed)', fixture: 'squashfs-plain', strata: false, dedupes: 'whole files' },
  { input: 'corpus', label: 'mksquashfs -comp zstd', fixture: 'squashfs-zstd', strata: false, dedupes: 'whole files (+ zstd)' },
  { input: 'copies', label: 'strata mkfs --dedupe', fixture: 'copies-strata-dedupe', strata: true, dedupes: 'identical files (reflink)', base: true },
  { input: 'copies', label: 'strata mkfs', fixture: 'copies-strata', strata: true, dedupes: 'no' },
  { input: 'copies', label: 'mkfs.erofs', fixture: 'copies-erofs', strata: false, dedupes: 'no' },
  { input: 'copies', label: 'mkfs.btrfs --rootdir', fixture: 'copies-btrfs', strata: false, dedupes: 'no' },
  { input: 'copies', label: 'mksquashfs (uncompressed)', fixture: 'copies-squashfs', strata: false, dedupes: 'whole files' },
];

export interface SizeRow {
  input: string;
  image: string;
  dedupes: string;
  /** bytes the image file occupies (allocated blocks) */
  allocatedBytes: number | null;
  /** st_size of the image file */
  apparentBytes: number | null;
  /** strata only: dump usage --json totals.usedBytes */
  usedBytes: number | null;
  /** strata only: dump usage --json reflink.savedBytes */
  savedBytes: number | null;
  /** strata only: dump usage --json reflink.sharedBytes */
  sharedBytes: number | null;
  /** allocated bytes / the same input's strata --dedupe allocated bytes: above 1 means strata is smaller */
  ratio: number | null;
  error: string | null;
}

function strataUsage(context: BenchContext, image: string): { used: number | null; saved: number | null; shared: number | null; error: string | null } {
  const invocation = context.strata.invocation(['dump', 'usage', '--json', image]);
  if ('unavailable' in invocation) return { used: null, saved: null, shared: null, error: invocation.unavailable };
  const result = spawnSync(invocation.argv[0]!, invocation.argv.slice(1), { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, timeout: context.timeoutSeconds * 1000 });
  if (result.status !== 0) return { used: null, saved: null, shared: null, error: `dump usage: exit ${result.status}: ${(result.stderr ?? '').trim().split('\n')[0]}` };
  try {
    const usage = JSON.parse(result.stdout) as { totals?: { usedBytes?: number }; reflink?: { savedBytes?: number; sharedBytes?: number } };
    return { used: usage.totals?.usedBytes ?? null, saved: usage.reflink?.savedBytes ?? null, shared: usage.reflink?.sharedBytes ?? null, error: null };
  } catch (error) {
    return { used: null, saved: null, shared: null, error: `dump usage --json: ${(error as Error).message}` };
  }
}

/** The sizes table: every image of both inputs (built untimed when no timed run made it). */
export function dedupeReport(context: BenchContext): { text: string; data: SizeRow[] } {
  const rows: SizeRow[] = SIZE_ENTRIES.map((entry) => {
    const row: SizeRow = {
      input: entry.input === 'corpus' ? 'corpus' : `${COPIES} x 1 MiB`,
      image: entry.label,
      dedupes: entry.dedupes,
      allocatedBytes: null,
      apparentBytes: null,
      usedBytes: null,
      savedBytes: null,
      sharedBytes: null,
      ratio: null,
      error: null,
    };
    const image = context.fixtures.ensure(entry.fixture);
    if (typeof image !== 'string') return { ...row, error: image.unavailable };
    const usage = diskUsage(image);
    row.allocatedBytes = usage?.allocated ?? null;
    row.apparentBytes = usage?.apparent ?? null;
    if (entry.strata) {
      const strata = strataUsage(context, image);
      row.usedBytes = strata.used;
      row.savedBytes = strata.saved;
      row.sharedBytes = strata.shared;
      row.error = strata.error;
    }
    return row;
  });
  for (const [index, entry] of SIZE_ENTRIES.entries()) {
    const baseIndex = SIZE_ENTRIES.findIndex((other) => other.input === entry.input && other.base);
    const base = rows[baseIndex]!;
    const row = rows[index]!;
    if (index !== baseIndex && row.allocatedBytes !== null && base.allocatedBytes) row.ratio = row.allocatedBytes / base.allocatedBytes;
  }
  const table = renderTable(
    ['input', 'image', 'dedupes', 'image MB', 'apparent MB', 'used MB', 'saved MB', 'vs --dedupe', 'note'],
    rows.map((row) => [
      row.input,
      row.image,
      row.dedupes,
      formatMB(row.allocatedBytes),
      formatMB(row.apparentBytes),
      formatMB(row.usedBytes),
      formatMB(row.savedBytes),
      row.ratio === null ? '' : `${row.ratio.toFixed(2)}x`,
      row.error ?? '',
    ]),
    new Set([3, 4, 5, 6, 7]),
  );
  const lines = [
    'sizes: image MB = allocated blocks of the image file; used MB and saved MB from strata dump usage --json',
    '  (totals.usedBytes, reflink.savedBytes); "vs --dedupe" = image MB / strata --dedupe image MB of the same input: above 1 means strata is smaller',
    table,
  ];
  for (const input of ['corpus', `${COPIES} x 1 MiB`]) {
    const dedupe = rows.find((row) => row.input === input && row.image === 'strata mkfs --dedupe');
    const plain = rows.find((row) => row.input === input && row.image === 'strata mkfs');
    if (dedupe?.allocatedBytes && plain?.allocatedBytes) {
      const saved = plain.allocatedBytes - dedupe.allocatedBytes;
      lines.push(`${input}: --dedupe image ${formatMB(saved)} MB smaller than without (${((100 * saved) / plain.allocatedBytes).toFixed(1)}%)` +
        (dedupe.savedBytes !== null ? `; dump usage reports ${formatMB(dedupe.savedBytes)} MB saved` : ''));
    }
  }
  return { text: lines.join('\n'), data: rows };
}
