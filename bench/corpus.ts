// The tree every job works on. The project's shared generator (test/helpers/corpus.ts) is used
// when it exists so that tests and bench see the same kind of tree; until then this file's own
// generator stands in with the same signature: deterministic for a seed, a realistic mix of many
// small compressible text-like files, some binary ones, a few large ones, ~5% duplicate contents,
// symlinks and hard links, spread over a random directory tree.
import { existsSync, linkSync, mkdirSync, symlinkSync, utimesSync, chmodSync, openSync, writeSync, closeSync, copyFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export interface CorpusOptions {
  /** regular files (distinct inodes, including empty ones and duplicated contents) */
  files: number;
  /** their total size in bytes */
  bytes: number;
  seed: number;
}

/** files and bytes as asked for; generators may report more counts (dirs, hardlinks, symlinks ...) */
export interface CorpusStats {
  files: number;
  bytes: number;
  [count: string]: number;
}

export type MakeCorpus = (dir: string, options: CorpusOptions) => Promise<CorpusStats>;

/** A small, fast, seedable PRNG (mulberry32): the same seed gives the same tree everywhere. */
function makeRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function gaussian(random: () => number): number {
  // Box-Muller; 1 - random() keeps log() away from 0
  return Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

const SYLLABLES = ['al', 'be', 'con', 'de', 'ex', 'fi', 'ga', 'hy', 'in', 'jo', 'ka', 'lo', 'mi', 'no', 'op', 'pre', 'qu', 'ro', 'st', 'tr', 'un', 'va', 'wo', 'xi', 'yo', 'ze', 'buf', 'len', 'ptr', 'node', 'tree', 'key', 'val', 'map', 'set', 'get', 'io', 'fs', 'blk', 'ext'];
const TEXT_EXTENSIONS = ['.ts', '.js', '.c', '.h', '.md', '.json', '.txt', '.py', '.rs', '.html'];
const BINARY_EXTENSIONS = ['.png', '.bin', '.so', '.gz', '.jpg', '.o'];

function makeVocabulary(random: () => number, size: number): string[] {
  const words = new Set<string>();
  while (words.size < size) {
    const syllables = 1 + Math.floor(random() * 3);
    let word = '';
    for (let index = 0; index < syllables; index++) word += SYLLABLES[Math.floor(random() * SYLLABLES.length)];
    words.add(word);
  }
  return [...words];
}

/**
 * A pool of code-like text that text files are cut from. Cutting slices instead of generating
 * per file keeps generation of hundreds of MB to seconds; the word distribution (Zipf-like) gives
 * compression ratios in the range of real source trees.
 */
function makeTextPool(random: () => number, vocabulary: string[], size: number): Buffer {
  const lines: string[] = [];
  let length = 0;
  const pick = (): string => vocabulary[Math.floor(vocabulary.length * random() ** 2.5)]!;
  const punctuation = [' = ', '(', ', ', ');', ' {', '}', '.', ' + ', ' // ', ': ', ' -> '];
  while (length < size) {
    const indent = '  '.repeat(Math.floor(random() * 4));
    const words = 2 + Math.floor(random() * 10);
    let line = indent;
    for (let index = 0; index < words; index++) {
      line += pick();
      line += random() < 0.35 ? punctuation[Math.floor(random() * punctuation.length)] : ' ';
    }
    if (random() < 0.1) line += String(Math.floor(random() * 100000));
    lines.push(line);
    length += line.length + 1;
  }
  return Buffer.from(lines.join('\n') + '\n', 'latin1').subarray(0, size);
}

type EntryKind = 'text' | 'binary' | 'empty' | 'duplicate' | 'hardlink' | 'symlink';

interface PlannedEntry {
  kind: EntryKind;
  path: string;
  /** relative weight of the content size (text, binary) */
  weight: number;
  /** for duplicate, hardlink, symlink: the index of the regular file it refers to */
  target: number;
  size: number;
  executable: boolean;
}

/** Fill `buffer` with binary-looking data: mostly random, with low-entropy stretches like real binaries. */
function fillBinary(buffer: Buffer, random: () => number): void {
  let state = (Math.floor(random() * 0xffffffff) | 1) >>> 0;
  const words = new Uint32Array(buffer.buffer, buffer.byteOffset, buffer.length >>> 2);
  const chunk = 4096 >>> 2;
  for (let start = 0; start < words.length; start += chunk) {
    const end = Math.min(words.length, start + chunk);
    const lowEntropy = random() < 0.3;
    for (let index = start; index < end; index++) {
      // xorshift32: fast enough to produce hundreds of MB per second
      state ^= state << 13;
      state ^= state >>> 17;
      state ^= state << 5;
      words[index] = lowEntropy ? (state & 0x03030303) >>> 0 : state >>> 0;
    }
  }
  for (let index = words.length << 2; index < buffer.length; index++) buffer[index] = Math.floor(random() * 256);
}

/** This file's own generator; same contract as test/helpers/corpus.ts. */
export const makeBenchCorpus: MakeCorpus = async (root, { files, bytes, seed }) => {
  const random = makeRandom(seed);
  const vocabulary = makeVocabulary(random, 3000);
  const pool = makeTextPool(random, vocabulary, Math.min(16 << 20, Math.max(1 << 20, bytes)));

  // directories: a random recursive tree (each new dir under a random earlier one), ~25 entries each
  const directoryCount = Math.max(1, Math.ceil(files / 25));
  const directories = [''];
  for (let index = 1; index < directoryCount; index++) {
    const parent = directories[Math.floor(random() * directories.length)]!;
    directories.push(join(parent, `${vocabulary[Math.floor(random() * vocabulary.length)]}-${index.toString(36)}`));
  }

  // plan every entry first so sizes can be scaled to hit `bytes` exactly
  const entries: PlannedEntry[] = [];
  // originals that duplicates, hard links and symlinks may refer to
  const regular: number[] = [];
  let regularFiles = 0;
  // hard links and symlinks are extra names, on top of `files` regular files
  for (let index = 0; regularFiles < files; index++) {
    const roll = random();
    const canRefer = regular.length > 0;
    let kind: EntryKind;
    if (canRefer && roll < 0.05) kind = 'duplicate';
    else if (canRefer && roll < 0.06) kind = 'hardlink';
    else if (canRefer && roll < 0.075) kind = 'symlink';
    else if (roll < 0.08) kind = 'empty';
    else kind = random() < 0.88 ? 'text' : 'binary';
    const extensions = kind === 'binary' ? BINARY_EXTENSIONS : TEXT_EXTENSIONS;
    const name = `${vocabulary[Math.floor(random() * vocabulary.length)]}${index.toString(36)}${extensions[Math.floor(random() * extensions.length)]}`;
    const directory = directories[Math.floor(random() * directories.length)]!;
    // log-normal sizes: median ~1/3 of the mean, a long tail up to a few hundred times the median
    let weight = Math.exp(1.5 * gaussian(random));
    if (kind === 'binary') weight *= 3;
    const target = canRefer ? regular[Math.floor(random() * regular.length)]! : -1;
    entries.push({ kind, path: join(directory, name), weight, target, size: 0, executable: kind === 'text' && random() < 0.05 });
    if (kind === 'text' || kind === 'binary' || kind === 'empty') regular.push(index);
    if (kind !== 'hardlink' && kind !== 'symlink') regularFiles++;
  }
  // a few large files, as real trees have (logs, archives): together ~8% of the bytes
  const originals = entries.filter((entry) => entry.kind === 'text' || entry.kind === 'binary');
  let baseWeight = 0;
  for (const entry of entries) {
    if (entry.kind === 'text' || entry.kind === 'binary') baseWeight += entry.weight;
    else if (entry.kind === 'duplicate') baseWeight += entries[entry.target]!.weight;
  }
  const largeCount = Math.min(4, originals.length);
  for (let index = 0; index < largeCount; index++) originals[index * Math.floor(originals.length / largeCount)]!.weight += (baseWeight * 0.02);

  let totalWeight = 0;
  for (const entry of entries) {
    if (entry.kind === 'text' || entry.kind === 'binary') totalWeight += entry.weight;
    else if (entry.kind === 'duplicate') totalWeight += entries[entry.target]!.weight;
  }
  const scale = totalWeight > 0 ? bytes / totalWeight : 0;
  let assigned = 0;
  for (const entry of entries) {
    if (entry.kind === 'text' || entry.kind === 'binary') entry.size = Math.round(entry.weight * scale);
  }
  for (const entry of entries) {
    if (entry.kind === 'text' || entry.kind === 'binary') assigned += entry.size;
    else if (entry.kind === 'duplicate') {
      entry.size = entries[entry.target]!.size;
      assigned += entry.size;
    }
  }
  // rounding leaves a few bytes over or under: settle them on the first original nobody copies
  const copied = new Set(entries.filter((entry) => entry.kind === 'duplicate').map((entry) => entry.target));
  const adjustable = entries.find((entry, index) => (entry.kind === 'text' || entry.kind === 'binary') && !copied.has(index) && entry.size + (bytes - assigned) >= 0);
  if (adjustable) {
    adjustable.size += bytes - assigned;
    assigned = bytes;
  }

  for (const directory of directories) mkdirSync(join(root, directory), { recursive: true });
  const scratch = Buffer.allocUnsafe(1 << 20);
  // fixed timestamps keep images and tarballs reproducible between runs
  const baseTime = 1_700_000_000;
  let written = 0;
  const counts = { dirs: directories.length - 1, duplicates: 0, empty: 0, binary: 0, hardlinks: 0, symlinks: 0 };
  for (const [index, entry] of entries.entries()) {
    const path = join(root, entry.path);
    const time = baseTime + Math.floor(random() * 86_400 * 365);
    switch (entry.kind) {
      case 'empty':
      case 'text':
      case 'binary': {
        const fd = openSync(path, 'w', entry.executable ? 0o755 : 0o644);
        try {
          let remaining = entry.size;
          if (entry.kind === 'text') {
            // a per-file header makes every text file distinct, so only the planned duplicates dedupe
            const header = Buffer.from(`// ${entry.path} #${index}\n`, 'latin1').subarray(0, remaining);
            writeSync(fd, header);
            remaining -= header.length;
            while (remaining > 0) {
              const length = Math.min(remaining, pool.length);
              const offset = Math.floor(random() * (pool.length - length + 1));
              writeSync(fd, pool, offset, length);
              remaining -= length;
            }
          } else {
            while (remaining > 0) {
              const length = Math.min(remaining, scratch.length);
              const chunk = scratch.subarray(0, length);
              fillBinary(chunk, random);
              writeSync(fd, chunk);
              remaining -= length;
            }
          }
        } finally {
          closeSync(fd);
        }
        written += entry.size;
        break;
      }
      case 'duplicate':
        copyFileSync(join(root, entries[entry.target]!.path), path);
        written += entry.size;
        break;
      case 'hardlink':
        linkSync(join(root, entries[entry.target]!.path), path);
        break;
      case 'symlink':
        symlinkSync(relative(dirname(path), join(root, entries[entry.target]!.path)), path);
        break;
    }
    if (entry.kind !== 'symlink' && entry.kind !== 'hardlink') {
      if (entry.executable) chmodSync(path, 0o755);
      utimesSync(path, time, time);
    }
    if (entry.kind === 'duplicate') counts.duplicates++;
    else if (entry.kind === 'empty') counts.empty++;
    else if (entry.kind === 'binary') counts.binary++;
    else if (entry.kind === 'hardlink') counts.hardlinks++;
    else if (entry.kind === 'symlink') counts.symlinks++;
  }
  for (const directory of directories) utimesSync(join(root, directory), baseTime, baseTime);
  return { files: regularFiles, bytes: written, ...counts };
};

export interface CorpusSource {
  makeCorpus: MakeCorpus;
  /** where the generator came from, for the report */
  origin: string;
}

/** The shared project generator when it exists and has the expected export, else this file's. */
export async function loadCorpusGenerator(): Promise<CorpusSource> {
  const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
  const shared = join(repoRoot, 'test', 'helpers', 'corpus.ts');
  if (existsSync(shared)) {
    try {
      const module = (await import(pathToFileURL(shared).href)) as { makeCorpus?: unknown };
      if (typeof module.makeCorpus === 'function') {
        return { makeCorpus: module.makeCorpus as MakeCorpus, origin: 'test/helpers/corpus.ts' };
      }
    } catch (error) {
      process.stderr.write(`bench: test/helpers/corpus.ts failed to load (${(error as Error).message.split('\n')[0]}); using bench/corpus.ts\n`);
    }
  }
  return { makeCorpus: makeBenchCorpus, origin: 'bench/corpus.ts' };
}
