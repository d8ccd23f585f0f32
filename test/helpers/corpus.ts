// Deterministic content for tests and benchmarks: a seeded PRNG for decisions, AES-CTR for bulk
// random bytes (crypto.randomBytes cannot be seeded; AES runs at gigabytes per second), text
// built from a word list for compressible content, and makeCorpus, a realistic tree of many
// files for scale tests. The same seed always gives the same bytes, names and tree.
import { createCipheriv, createHash, type Cipher } from 'node:crypto';
import * as fs from 'node:fs';
import * as nodePath from 'node:path';
import { HostSyscalls, type TimesItem } from '../../host/index.js';

/** sfc32 seeded through splitmix32: fast, small, and good enough for test decisions. */
export class SeededRandom {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    let state = seed >>> 0;
    const splitmix = () => {
      state = (state + 0x9e3779b9) >>> 0;
      let z = state;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = splitmix();
    this.b = splitmix();
    this.c = splitmix();
    this.d = splitmix();
    for (let i = 0; i < 12; i++) this.uint32();
  }

  uint32(): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0;
    this.d = (this.d + 1) >>> 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) >>> 0;
    this.c = ((this.c << 21) | (this.c >>> 11)) >>> 0;
    this.c = (this.c + t) >>> 0;
    return t;
  }

  /** uniform in [0, 1) */
  float(): number {
    return this.uint32() / 4294967296;
  }

  /** uniform integer in [0, n) */
  int(n: number): number {
    return Math.floor(this.float() * n);
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }

  chance(probability: number): boolean {
    return this.float() < probability;
  }

  /** standard normal (Box-Muller) */
  normal(): number {
    const u = 1 - this.float();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.float());
  }
}

/** A stream of seeded pseudo-random bytes: AES-128-CTR over zeros, keyed by (seed, label). */
export class RandomBytes {
  private readonly cipher: Cipher;
  private zeros = Buffer.alloc(0);

  constructor(seed: number, label: string) {
    const key = createHash('sha256').update(`strata-test:${seed}:${label}`).digest();
    this.cipher = createCipheriv('aes-128-ctr', key.subarray(0, 16), key.subarray(16, 32));
  }

  /** The next `length` bytes of the stream. */
  take(length: number): Buffer {
    if (this.zeros.length < length) this.zeros = Buffer.alloc(length);
    return this.cipher.update(this.zeros.subarray(0, length));
  }
}

/** The whole of a seeded random buffer, for when a stream is not needed. */
export function seededBytes(seed: number, label: string, length: number): Buffer {
  return new RandomBytes(seed, label).take(length);
}

export const WORDS: readonly string[] = (
  'the of and to in is was that for it with as his on be at by had are but from or have an they which ' +
  'one you were all her she there would their we him been has when who will more no if out so said what ' +
  'up its about into than them can only other new some could time these two may then do first any my now ' +
  'such like our over man me even most made after also did many before must through back years where much ' +
  'your way well down should because each just those people how too little state good very make world still ' +
  'own see men work long get here between both life being under never day same another know while last might ' +
  'us great old year off come since against go came right used take three block tree node extent inode journal ' +
  'superblock checksum device member image snapshot subvolume allocator bucket btree key value offset length ' +
  'sector replica stripe compression encryption metadata directory symlink hardlink attribute permission owner ' +
  'group mode time second nanosecond buffer cache write read flush commit transaction recovery scrub repair'
).split(' ');

/**
 * Phrases of a few words, built once per seed; text is a seeded sequence of them. Copying
 * whole phrases rather than words keeps generation at hundreds of MB/s, and the phrase table
 * is large enough that text compresses like prose (a few to one) rather than like a repeat.
 */
export class PhraseTable {
  readonly phrases: Buffer[];

  constructor(seed: number, count = 8192) {
    const random = new SeededRandom(seed ^ 0x7e57);
    const endings = [' ', ' ', ' ', ' ', ', ', '. ', '.\n', ';\n', '\n\n'];
    this.phrases = [];
    for (let i = 0; i < count; i++) {
      const words: string[] = [];
      const length = 1 + random.int(6);
      for (let w = 0; w < length; w++) words.push(random.pick(WORDS));
      if (random.chance(0.15)) words[0] = words[0][0].toUpperCase() + words[0].slice(1);
      this.phrases.push(Buffer.from(words.join(' ') + random.pick(endings)));
    }
  }
}

/** A text stream: phrases picked by a seeded index stream; fill() continues where it stopped. */
export class TextStream {
  private readonly indices: RandomBytes;
  private window: Uint16Array<ArrayBufferLike> = new Uint16Array(0);
  private next = 0;
  private carry: Buffer | undefined;

  constructor(
    private readonly table: PhraseTable,
    seed: number,
    label: string,
  ) {
    this.indices = new RandomBytes(seed, `text:${label}`);
  }

  fill(target: Buffer): void {
    const phrases = this.table.phrases;
    const mask = phrases.length - 1;
    let at = 0;
    if (this.carry !== undefined) {
      const n = Math.min(this.carry.length, target.length);
      target.set(this.carry.subarray(0, n), 0);
      this.carry = n < this.carry.length ? this.carry.subarray(n) : undefined;
      at = n;
    }
    while (at < target.length) {
      if (this.next >= this.window.length) {
        // Enough indices for what is left (a phrase is at least 3 bytes), capped: small files
        // then cost a little AES output rather than a fixed 64 KiB.
        let bytes = this.indices.take(Math.min(1 << 16, 2 * Math.ceil((target.length - at) / 3)));
        if (bytes.byteOffset % 2 !== 0) bytes = Buffer.from(bytes);
        this.window = new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.length >>> 1);
        this.next = 0;
      }
      const phrase = phrases[this.window[this.next++] & mask];
      const n = Math.min(phrase.length, target.length - at);
      target.set(n === phrase.length ? phrase : phrase.subarray(0, n), at);
      if (n < phrase.length) this.carry = phrase.subarray(n);
      at += n;
    }
  }
}

/** Writes `size` bytes from `fill` to a new file, in large chunks. */
export function writeGenerated(path: string | Buffer, size: number, fill: (chunk: Buffer) => void, scratch: Buffer): void {
  const fd = fs.openSync(path, 'w');
  try {
    let left = size;
    while (left > 0) {
      const chunk = scratch.subarray(0, Math.min(left, scratch.length));
      fill(chunk);
      let written = 0;
      while (written < chunk.length) written += fs.writeSync(fd, chunk, written, chunk.length - written);
      left -= chunk.length;
    }
  } finally {
    fs.closeSync(fd);
  }
}

export interface CorpusOptions {
  /** regular files (distinct inodes, including empty ones and duplicated contents) */
  files: number;
  /** their total size in bytes; met exactly */
  bytes: number;
  seed: number;
  /** set deterministic atime/mtime on every entry (default true) */
  times?: boolean;
  /** host shim for exact times; one is opened (and closed) when not given */
  host?: HostSyscalls;
}

export interface CorpusInfo {
  files: number;
  bytes: number;
  dirs: number;
  /** files whose content is byte-identical to an earlier file's */
  duplicates: number;
  empty: number;
  binary: number;
  /** extra names for existing files (not counted in `files`) */
  hardlinks: number;
  symlinks: number;
}

type Content = 'empty' | 'text' | 'binary';

interface FilePlan {
  dir: number;
  name: string;
  /** the file whose content this one repeats, or its own index */
  recipe: number;
  content: Content;
  size: number;
}

const TEXT_EXTENSIONS = ['.txt', '.md', '.c', '.h', '.ts', '.json', '.log', '.csv', '.xml', '.html', '.py', '.rs'];
const BINARY_EXTENSIONS = ['.bin', '.dat', '.png', '.jpg', '.gz', '.so', '.o', '.db'];

/**
 * A deterministic tree that looks like real data: directories of varied depth and fan-out;
 * file sizes log-normally distributed (many small, a few of several MB) scaled so the total is
 * exactly `bytes`; mostly compressible text, some random binary, ~2% empty, ~5% duplicates of
 * other files' content, ~1% extra hardlinks and ~1% symlinks.
 */
export async function makeCorpus(root: string, options: CorpusOptions): Promise<CorpusInfo> {
  const { files, bytes, seed } = options;
  if (!Number.isSafeInteger(files) || files < 0 || !Number.isSafeInteger(bytes) || bytes < 0) throw new RangeError('files and bytes must be non-negative integers');
  if (bytes > 0 && files === 0) throw new RangeError('bytes without files');
  const random = new SeededRandom(seed);
  fs.mkdirSync(root, { recursive: true });

  // Directories: each attaches to the previous one (making depth) or to a random earlier one
  // (making fan-out), never deeper than 12.
  const dirCount = Math.max(1, Math.round(files / 24));
  const dirPaths: string[] = [''];
  const depth: number[] = [0];
  const namesIn: Array<Set<string>> = [new Set()];
  const uniqueName = (dir: number, base: string, extension = '') => {
    let name = base + extension;
    for (let n = 2; namesIn[dir].has(name); n++) name = `${base}-${n}${extension}`;
    namesIn[dir].add(name);
    return name;
  };
  for (let i = 1; i < dirCount; i++) {
    let parent = random.chance(0.35) ? i - 1 : random.int(i);
    if (depth[parent] >= 12) parent = 0;
    const name = uniqueName(parent, random.chance(0.3) ? `${random.pick(WORDS)}_${random.pick(WORDS)}` : random.pick(WORDS));
    dirPaths.push(dirPaths[parent] === '' ? name : `${dirPaths[parent]}/${name}`);
    depth.push(depth[parent] + 1);
    namesIn.push(new Set());
  }

  // Files: sizes first (log-normal around a few KB), then scaled to the byte budget.
  const plans: FilePlan[] = [];
  const weights: number[] = [];
  for (let i = 0; i < files; i++) {
    // Skewed placement: a few directories hold many files.
    const dir = Math.min(dirCount - 1, Math.floor(dirCount * Math.pow(random.float(), 1.7)));
    const roll = random.float();
    const duplicateOf = i > 10 && roll < 0.05 ? findDuplicable(plans, random) : -1;
    if (duplicateOf >= 0) {
      const original = plans[duplicateOf];
      const extension = nodePath.extname(original.name);
      plans.push({ dir, name: uniqueName(dir, random.pick(WORDS), extension), recipe: duplicateOf, content: original.content, size: 0 });
      weights.push(0);
      continue;
    }
    if (roll < 0.07) {
      plans.push({ dir, name: uniqueName(dir, random.pick(WORDS), random.pick(TEXT_EXTENSIONS)), recipe: i, content: 'empty', size: 0 });
      weights.push(0);
      continue;
    }
    const weight = Math.exp(1.8 * random.normal());
    const content: Content = random.chance(weight > 30 ? 0.4 : 0.12) ? 'binary' : 'text';
    const extension = random.pick(content === 'binary' ? BINARY_EXTENSIONS : TEXT_EXTENSIONS);
    plans.push({ dir, name: uniqueName(dir, random.chance(0.4) ? `${random.pick(WORDS)}-${random.pick(WORDS)}` : random.pick(WORDS), extension), recipe: i, content, size: 0 });
    weights.push(weight);
  }
  assignSizes(plans, weights, bytes);

  for (let i = 1; i < dirPaths.length; i++) fs.mkdirSync(nodePath.join(root, dirPaths[i]));
  const table = new PhraseTable(seed);
  const scratch = Buffer.allocUnsafe(1 << 20);
  const info: CorpusInfo = { files, bytes: 0, dirs: dirPaths.length - 1, duplicates: 0, empty: 0, binary: 0, hardlinks: 0, symlinks: 0 };
  const filePath = (plan: FilePlan) => nodePath.join(root, dirPaths[plan.dir], plan.name);
  for (let index = 0; index < plans.length; index++) {
    const plan = plans[index];
    if (plan.recipe !== index) info.duplicates++;
    if (plan.size === 0) info.empty++;
    if (plan.content === 'binary') info.binary++;
    info.bytes += plan.size;
    // Content depends only on the recipe, so duplicates regenerate identical bytes.
    if (plan.content === 'binary') {
      const stream = new RandomBytes(seed, `file:${plan.recipe}`);
      writeGenerated(filePath(plan), plan.size, (chunk) => stream.take(chunk.length).copy(chunk), scratch);
    } else {
      const stream = new TextStream(table, seed, `file:${plan.recipe}`);
      writeGenerated(filePath(plan), plan.size, (chunk) => stream.fill(chunk), scratch);
    }
  }

  // Links: a hardlink to ~1% of files from another directory, and ~1% relative symlinks.
  const linkCount = Math.floor(files / 100);
  const links: string[] = [];
  for (let i = 0; i < linkCount; i++) {
    const target = plans[random.int(plans.length)];
    const dir = random.int(dirCount);
    const linkPath = nodePath.join(root, dirPaths[dir], uniqueName(dir, `link-${random.pick(WORDS)}`));
    fs.linkSync(filePath(target), linkPath);
    links.push(linkPath);
    info.hardlinks++;
  }
  for (let i = 0; i < linkCount; i++) {
    const target = plans[random.int(plans.length)];
    const dir = random.int(dirCount);
    const linkPath = nodePath.join(root, dirPaths[dir], uniqueName(dir, `symlink-${random.pick(WORDS)}`));
    fs.symlinkSync(nodePath.relative(nodePath.dirname(linkPath), filePath(target)), linkPath);
    links.push(linkPath);
    info.symlinks++;
  }

  if (options.times ?? true) {
    const host = options.host ?? new HostSyscalls();
    try {
      const base = 1_500_000_000;
      const stamp = (): TimesItem['atime'] => ({ sec: base + random.int(200_000_000), nsec: random.int(1_000_000_000) });
      const items: TimesItem[] = [];
      for (const plan of plans) items.push({ path: Buffer.from(filePath(plan)), atime: stamp(), mtime: stamp() });
      for (const link of links) items.push({ path: Buffer.from(link), atime: stamp(), mtime: stamp() });
      // Directories last and deepest first: creating or timing their contents would move them.
      const dirsDeepestFirst = dirPaths.map((_, i) => i).sort((x, y) => depth[y] - depth[x] || x - y);
      for (const i of dirsDeepestFirst) items.push({ path: Buffer.from(nodePath.join(root, dirPaths[i])), atime: stamp(), mtime: stamp() });
      const failures = (await host.setTimes(items)).filter((result) => result !== null);
      if (failures.length > 0) throw failures[0];
    } finally {
      if (options.host === undefined) await host.close();
    }
  }
  return info;
}

/** A file with content to copy, or -1: prefers small and medium files, as duplicates are in life. */
function findDuplicable(plans: FilePlan[], random: SeededRandom): number {
  for (let attempt = 0; attempt < 4; attempt++) {
    const candidate = random.int(plans.length);
    if (plans[candidate].recipe === candidate && plans[candidate].content !== 'empty') return candidate;
  }
  return -1;
}

/** Sizes proportional to the weights (duplicates repeat their original), summing to `total`. */
function assignSizes(plans: FilePlan[], weights: number[], total: number): void {
  const copies = new Map<number, number>();
  for (const plan of plans) if (plan.content !== 'empty') copies.set(plan.recipe, (copies.get(plan.recipe) ?? 0) + 1);
  let weightSum = 0;
  for (const [recipe, count] of copies) weightSum += weights[recipe] * count;
  if (weightSum === 0) {
    if (total > 0) throw new RangeError('no file can hold bytes: too few files');
    return;
  }
  const scale = total / weightSum;
  let assigned = 0;
  for (const [recipe, count] of copies) {
    plans[recipe].size = Math.floor(weights[recipe] * scale);
    assigned += plans[recipe].size * count;
  }
  // The rounding remainder goes to the largest file nobody duplicates, so the total is exact.
  let sink = -1;
  for (const [recipe, count] of copies) if (count === 1 && (sink < 0 || plans[recipe].size > plans[sink].size)) sink = recipe;
  if (sink < 0) throw new RangeError('cannot meet the byte budget exactly: every file is duplicated');
  plans[sink].size += total - assigned;
  for (let index = 0; index < plans.length; index++) {
    const plan = plans[index];
    if (plan.recipe !== index) plan.size = plans[plan.recipe].size;
  }
}
