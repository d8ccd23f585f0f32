// Test tools for scrub and degraded reads: build a replicated or erasure-coded image from a
// known tree, find where copies of extents and btree nodes and stripe blocks live (through
// `strata dump`, not through the code under test), damage them, and compare what comes back
// out with the source. Every `scrub --json` document is checked against its schema.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { makeCorpus, seededBytes, SeededRandom } from '../helpers/corpus.js';
import { strata, tempDir } from '../helpers/cli.js';
import { diffTrees, snapshotTree, type DiffOptions, type NodeRecord } from '../helpers/tree.js';
import { validateJson } from '../cli/schemas.js';

export interface Copy {
  member: number;
  offset: number;
}

export interface BuiltImage {
  dir: string;
  src: string;
  /** member file paths, in member-table order */
  members: string[];
  /** all members joined with ":" */
  spec: string;
  snapshot: Map<string, NodeRecord>;
}

export interface TreeOptions {
  /** extra small files (each its own inode), to make btrees deeper with a small node size */
  manyFiles?: number;
  /** also write docs/copy-of-leaf.dat, a second inode with leaf.dat's content (for --dedupe) */
  duplicate?: boolean;
}

/** A tree with data spread over several extents and buckets, plus the usual small cases. */
export function writeTree(src: string, options: TreeOptions = {}): void {
  fs.mkdirSync(path.join(src, 'docs', 'deep', 'er'), { recursive: true });
  fs.mkdirSync(path.join(src, 'bin'));
  fs.writeFileSync(path.join(src, 'big.bin'), seededBytes(1, 'big', 900_000));
  fs.writeFileSync(path.join(src, 'bin', 'tool'), seededBytes(2, 'tool', 300_000));
  fs.writeFileSync(path.join(src, 'docs', 'notes.txt'), 'scrub me gently\n'.repeat(20_000));
  fs.writeFileSync(path.join(src, 'docs', 'deep', 'er', 'leaf.dat'), seededBytes(3, 'leaf', 150_000));
  fs.writeFileSync(path.join(src, 'small.txt'), 'inline data lives in the btree\n');
  fs.writeFileSync(path.join(src, 'empty'), '');
  fs.symlinkSync('docs/notes.txt', path.join(src, 'notes-link'));
  fs.linkSync(path.join(src, 'bin', 'tool'), path.join(src, 'tool-hardlink'));
  if (options.duplicate) fs.writeFileSync(path.join(src, 'docs', 'copy-of-leaf.dat'), seededBytes(3, 'leaf', 150_000));
  for (let i = 0; i < (options.manyFiles ?? 0); i++) {
    fs.writeFileSync(path.join(src, 'docs', `f${String(i).padStart(4, '0')}.bin`), seededBytes(100 + i, 'many', 5000 + (i % 7) * 1000));
  }
}

/** Folders made by buildImage in this test file's process, removed by removeBuiltImages. */
const madeDirs: string[] = [];

/** Remove every folder buildImage made; test files call it from `after`. */
export function removeBuiltImages(): void {
  for (const dir of madeDirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
}

/** mkfs --from a fresh tree over `members` member files with the given extra flags. */
export async function buildImage(members: number, flags: string[], options: TreeOptions = {}): Promise<BuiltImage> {
  const dir = tempDir('strata-scrub-');
  madeDirs.push(dir);
  const src = path.join(dir, 'src');
  writeTree(src, options);
  // Snapshot before anything reads the tree, so atimes are the originals.
  const snapshot = await snapshotTree(src);
  const paths = Array.from({ length: members }, (_, i) => path.join(dir, `m${i}.img`));
  const r = strata(['mkfs', ...flags, '--from', src, ...paths]);
  assert.equal(r.code, 0, r.stderr);
  return { dir, src, members: paths, spec: paths.join(':'), snapshot };
}

export interface CorpusSpec {
  files: number;
  bytes: number;
  seed: number;
}

/** mkfs --from a generated tree (test/helpers/corpus.ts) over `members` member files. */
export async function buildCorpusImage(members: number, flags: string[], corpus: CorpusSpec): Promise<BuiltImage> {
  const dir = tempDir('strata-scrub-');
  madeDirs.push(dir);
  const src = path.join(dir, 'src');
  await makeCorpus(src, corpus);
  const snapshot = await snapshotTree(src);
  const paths = Array.from({ length: members }, (_, i) => path.join(dir, `m${i}.img`));
  const r = strata(['mkfs', ...flags, '--from', src, ...paths]);
  assert.equal(r.code, 0, r.stderr);
  return { dir, src, members: paths, spec: paths.join(':'), snapshot };
}

/** A copy of a built image's member files in a folder of its own, sharing the source tree: one mkfs serves many damage cases. */
export function cloneImage(built: BuiltImage): BuiltImage {
  const dir = tempDir('strata-scrub-clone-');
  madeDirs.push(dir);
  const members = built.members.map((m) => {
    const to = path.join(dir, path.basename(m));
    fs.copyFileSync(m, to);
    return to;
  });
  return { ...built, dir, members, spec: members.join(':') };
}

export interface StripeRow {
  id: number;
  k: number;
  m: number;
  blockSize: number;
  /** data blocks then parity blocks */
  blocks: Copy[];
}

/** Every stripe with the place of each block, from `dump btree stripes`. */
export function stripesOf(image: string): StripeRow[] {
  const r = strata(['dump', 'btree', '--json', image, 'stripes']);
  assert.equal(r.code, 0, r.stderr);
  const items = (JSON.parse(r.stdout).nodes as Array<{ level: number; items: Array<{ pos: string; type: string; text: string }> }>)
    .filter((n) => n.level === 0).flatMap((n) => n.items).filter((i) => i.type === 'stripe');
  return items.map((item) => {
    const shape = /^(\d+)\+(\d+) blocks of (\d+):/.exec(item.text)!;
    return {
      id: Number(item.pos.split(':')[1]), k: Number(shape[1]), m: Number(shape[2]), blockSize: Number(shape[3]),
      blocks: [...item.text.matchAll(/m(\d+)@(\d+)/g)].map((x) => ({ member: Number(x[1]), offset: Number(x[2]) })),
    };
  });
}

export interface ExtentRow {
  start: number;
  end: number;
  storedSize: number;
  pointers: Copy[];
}

/** The extents of a file, with the place of every copy. */
export function extentsOf(image: string, file: string): ExtentRow[] {
  const r = strata(['dump', 'extents', '--json', image, file]);
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout).extents as Array<ExtentRow & { kind: string }>).filter((e) => e.kind === 'extent');
}

export interface NodeRow {
  btree: string;
  level: number;
  /** child max key of an interior pointer, or "root" */
  key: string;
  copies: Copy[];
}

/** Every btree node's copies: roots from `dump super`, the rest from interior nodes' pointer keys. */
export function nodesOf(image: string, btree?: string): NodeRow[] {
  const sup = strata(['dump', 'super', '--json', image]);
  assert.equal(sup.code, 0, sup.stderr);
  const rows: NodeRow[] = [];
  for (const root of JSON.parse(sup.stdout).roots as Array<{ btree: string; level: number; pointers: Copy[] }>) {
    if (btree && root.btree !== btree) continue;
    rows.push({ btree: root.btree, level: root.level, key: 'root', copies: root.pointers.map((p) => ({ member: p.member, offset: p.offset })) });
  }
  const dump = strata(['dump', 'btree', '--json', image, ...(btree ? [btree] : [])]);
  assert.equal(dump.code, 0, dump.stderr);
  for (const node of JSON.parse(dump.stdout).nodes as Array<{ btree: string; level: number; items: Array<{ pos: string; type: string; text: string }> }>) {
    for (const item of node.items) {
      if (item.type !== 'btreePointer') continue;
      const copies = [...item.text.matchAll(/m(\d+)@(\d+)g\d+/g)].map((m) => ({ member: Number(m[1]), offset: Number(m[2]) }));
      rows.push({ btree: node.btree, level: node.level - 1, key: item.pos, copies });
    }
  }
  return rows;
}

export function flipBits(file: string, offset: number, length: number, flips: number, seed: number): void {
  const random = new SeededRandom(seed);
  const fd = fs.openSync(file, 'r+');
  try {
    const byte = Buffer.alloc(1);
    for (let i = 0; i < flips; i++) {
      const at = offset + random.int(length);
      fs.readSync(fd, byte, 0, 1, at);
      byte[0]! ^= 1 << random.int(8);
      fs.writeSync(fd, byte, 0, 1, at);
    }
  } finally {
    fs.closeSync(fd);
  }
}

export function zeroRange(file: string, offset: number, length: number): void {
  const fd = fs.openSync(file, 'r+');
  try {
    fs.writeSync(fd, Buffer.alloc(length), 0, length, offset);
  } finally {
    fs.closeSync(fd);
  }
}

export function readRange(file: string, offset: number, length: number): Buffer {
  const fd = fs.openSync(file, 'r');
  try {
    const out = Buffer.alloc(length);
    fs.readSync(fd, out, 0, length, offset);
    return out;
  } finally {
    fs.closeSync(fd);
  }
}

export function hashes(files: string[]): string[] {
  return files.map((f) => (fs.existsSync(f) ? crypto.createHash('sha256').update(fs.readFileSync(f)).digest('hex') : 'missing'));
}

/** Extract the whole image and compare with the source snapshot: contents, kinds, modes, times, links. */
export async function assertExtractsIntact(built: BuiltImage, image = built.spec, diff: DiffOptions = {}): Promise<void> {
  const out = path.join(built.dir, `out-${crypto.randomBytes(4).toString('hex')}`);
  const r = strata(['dump', 'extract', image, '/', out]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(diffTrees(built.snapshot, await snapshotTree(out), diff), []);
  fs.rmSync(out, { recursive: true, force: true });
}

export interface ScrubRun {
  code: number;
  stderr: string;
  stdout: string;
  doc: any;
}

/** `strata scrub --json` with extra flags; the parsed document, checked against docs/schemas/scrub.schema.json. */
export function scrubJson(image: string, flags: string[] = []): ScrubRun {
  const r = strata(['scrub', '--json', ...flags, image]);
  let doc: unknown;
  try {
    doc = JSON.parse(r.stdout);
  } catch {
    assert.fail(`scrub printed no JSON document (exit ${r.code}): ${r.stderr}`);
  }
  const problems = validateJson('scrub', doc);
  assert.deepEqual(problems, [], `scrub --json does not match its schema:\n${problems.join('\n')}`);
  return { code: r.code, stderr: r.stderr, stdout: r.stdout, doc };
}
