// put group: copy host files into an existing, empty image. Two inputs, generated once (untimed)
// and deterministic: a directory of many small files (sizes 0..4 KiB) and one large file of
// random bytes. Every attempt starts from a freshly made empty image (untimed): strata's
// `mkfs --size`, an ext4 image from mke2fs (written by e2cp from e2tools, which copies file by
// file), a FAT image from mkfs.fat (written by mcopy from mtools). The floor is `tar x` of a
// tarball of the same files into an empty host directory.
//
// Environment: STRATA_BENCH_PUT_FILES (small files, default 10000), STRATA_BENCH_PUT_BYTES
// (size of the large file, default 1000000000), STRATA_BENCH_PUT_IMAGE (image size, default 4G).
import { spawnSync } from 'node:child_process';
import { createCipheriv } from 'node:crypto';
import { closeSync, mkdirSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { type BenchContext, peerInvocation, runUntimed } from './context.js';
import type { Invocation, Job, ToolRun, Unavailable } from './runner.js';
import { isUnavailable } from './runner.js';

const DEFAULT_SMALL_FILES = 10_000;
const SMALL_FILE_MAX_BYTES = 4096;
const DEFAULT_LARGE_BYTES = 1_000_000_000;
const DEFAULT_IMAGE_SIZE = '4G';

export const SMALL_DIR_NAME = 'small';
export const LARGE_FILE_NAME = 'large.bin';

function envInteger(name: string, fallback: number): number {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a positive integer, got "${text}"`);
  return value;
}

/** "4G", "512M" or a byte count, to bytes. */
function parseSize(text: string): number {
  const match = /^(\d+)([KMGT]?)$/i.exec(text.trim());
  if (!match) throw new Error(`STRATA_BENCH_PUT_IMAGE must look like 4G or 512M, got "${text}"`);
  const units: Record<string, number> = { '': 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 };
  return Number(match[1]) * units[match[2]!.toUpperCase()]!;
}

/** A deterministic random byte stream (AES-128-CTR of zeros under a key from the seed). */
function randomStream(seed: number): (length: number) => Buffer {
  const key = Buffer.alloc(16);
  key.writeUInt32LE(seed >>> 0, 0);
  key.write('strata-put', 4);
  const cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  return (length) => cipher.update(Buffer.alloc(length));
}

export interface PutInputs {
  /** directory holding the small files (a flat directory named "small") */
  smallDir: string;
  smallFiles: number;
  smallBytes: number;
  smallTar: string;
  largeFile: string;
  largeBytes: number;
  largeTar: string;
}

let inputs: PutInputs | Unavailable | null = null;

/** Generate the inputs and their tarballs once, untimed; later calls return the same paths. */
export function ensurePutInputs(context: BenchContext): PutInputs | Unavailable {
  if (inputs !== null) return inputs;
  try {
    const root = join(context.workDir, 'put-input');
    rmSync(root, { recursive: true, force: true });
    const smallRoot = join(root, 'small-root');
    const largeRoot = join(root, 'large-root');
    const smallDir = join(smallRoot, SMALL_DIR_NAME);
    mkdirSync(smallDir, { recursive: true });
    mkdirSync(largeRoot, { recursive: true });
    const smallFiles = envInteger('STRATA_BENCH_PUT_FILES', DEFAULT_SMALL_FILES);
    const largeBytes = envInteger('STRATA_BENCH_PUT_BYTES', DEFAULT_LARGE_BYTES);
    process.stderr.write(`put: generating ${smallFiles} small files and one ${(largeBytes / 1e9).toFixed(2)} GB file (untimed)\n`);

    // sizes uniform in 0..4096 from the random stream itself; names are 8.3-compatible so that
    // FAT needs no long-name entries (which would measure name mangling, not copying)
    const random = randomStream(0x5eed);
    let smallBytes = 0;
    for (let index = 0; index < smallFiles; index++) {
      const size = random(4).readUInt32LE(0) % (SMALL_FILE_MAX_BYTES + 1);
      const fd = openSync(join(smallDir, `f${String(index).padStart(5, '0')}.dat`), 'w');
      try {
        if (size > 0) writeSync(fd, random(size));
      } finally {
        closeSync(fd);
      }
      smallBytes += size;
    }

    const largeFile = join(largeRoot, LARGE_FILE_NAME);
    const largeRandom = randomStream(0x1a26e);
    const fd = openSync(largeFile, 'w');
    try {
      const chunk = 4 * 1024 * 1024;
      for (let written = 0; written < largeBytes; written += chunk) writeSync(fd, largeRandom(Math.min(chunk, largeBytes - written)));
    } finally {
      closeSync(fd);
    }

    const smallTar = join(root, 'small.tar');
    const largeTar = join(root, 'large.tar');
    for (const [tarball, dir, member] of [[smallTar, smallRoot, SMALL_DIR_NAME], [largeTar, largeRoot, LARGE_FILE_NAME]] as const) {
      const error = runUntimed({ argv: ['tar', 'cf', tarball, '-C', dir, member] }, context.scratchDir, context.timeoutSeconds);
      if (error !== null) throw new Error(`tar cf ${tarball}: ${error}`);
    }
    // warm the page cache: every tool then reads its input from memory
    spawnSync('sh', ['-c', 'cat "$@" > /dev/null', 'sh', smallTar, largeTar, largeFile], { stdio: 'ignore' });
    spawnSync('sh', ['-c', 'tar cf - -C "$1" . | cat > /dev/null', 'sh', smallDir], { stdio: 'ignore' });
    inputs = { smallDir, smallFiles, smallBytes, smallTar, largeFile, largeBytes, largeTar };
  } catch (error) {
    inputs = { unavailable: `put inputs: ${(error as Error).message}` };
  }
  return inputs;
}

/** Run an untimed setup command, throwing its error (the runner reports it on the row). */
function setup(context: BenchContext, invocation: Invocation | Unavailable): void {
  if (isUnavailable(invocation)) throw new Error(invocation.unavailable);
  const error = runUntimed(invocation, context.scratchDir, context.timeoutSeconds);
  if (error !== null) throw new Error(`setup ${invocation.argv.slice(0, 2).join(' ')}: ${error}`);
}

type Target = 'strata' | 'ext4' | 'fat' | 'tar';

/**
 * One row: `beforeEach` makes the empty target (untimed), `plan` the timed copy. Images are
 * flushed (`sync IMAGE`) inside the timed window, as in the mkfs group: strata and e2cp flush
 * their own writes and mcopy does not.
 */
function putRun(
  context: BenchContext,
  tool: string,
  target: Target,
  what: 'small' | 'large',
  command: (input: PutInputs, output: string) => Invocation | Unavailable,
): ToolRun {
  const imageBytes = parseSize(process.env.STRATA_BENCH_PUT_IMAGE ?? DEFAULT_IMAGE_SIZE);
  const output = target === 'tar'
    ? join(context.extractDir, `put-${what}`)
    : join(context.imagesDir, `put-${what}-${target}.img`);
  return {
    tool,
    output,
    flushOutput: target !== 'tar',
    plan: () => {
      const input = ensurePutInputs(context);
      return 'unavailable' in input ? input : command(input, output);
    },
    beforeEach: () => {
      rmSync(output, { recursive: true, force: true });
      switch (target) {
        case 'strata':
          setup(context, context.strata.invocation(['mkfs', '--size', String(imageBytes), output]));
          break;
        case 'ext4':
          setup(context, peerInvocation(context, 'mke2fs', ['-q', '-t', 'ext4', '-F', output, `${imageBytes / 1024}K`]));
          break;
        case 'fat':
          // -C creates the file; the size is in KiB
          setup(context, peerInvocation(context, 'mkfs.fat', ['-C', output, String(imageBytes / 1024)]));
          break;
        case 'tar':
          mkdirSync(output, { recursive: true });
          break;
      }
    },
    afterAll: () => rmSync(output, { recursive: true, force: true }),
  };
}

/** e2cp copies file by file; xargs hands it as many names per invocation as fit (default limits). */
function e2cpSmall(context: BenchContext, input: PutInputs, image: string): Invocation | Unavailable {
  for (const tool of ['e2cp', 'e2mkdir', 'xargs', 'find']) {
    if (context.tool(tool) === null) return { unavailable: `${tool} is not installed` };
  }
  const script = 'e2mkdir "$1:/$3" && cd "$2" && find . -maxdepth 1 -type f -print0 | xargs -0 e2cp -p -d "$1:/$3"';
  return { argv: ['sh', '-c', script, 'sh', image, input.smallDir, SMALL_DIR_NAME] };
}

const MTOOLS_ENV = { ...process.env, MTOOLS_SKIP_CHECK: '1' };

export function putJobs(context: BenchContext): Job[] {
  const strataPut = (source: string, image: string): Invocation | Unavailable => context.strata.invocation(['put', image, source, '/']);
  return [
    {
      group: 'put',
      name: 'put small files',
      description: 'copy a directory of small files (0..4 KiB each) into an existing empty image',
      strata: [putRun(context, 'strata put IMG small /', 'strata', 'small', (input, image) => strataPut(input.smallDir, image))],
      peers: [
        putRun(context, 'e2cp -p (ext4 image, via xargs)', 'ext4', 'small', (input, image) => e2cpSmall(context, input, image)),
        putRun(context, 'mcopy -s -m (FAT image)', 'fat', 'small', (input, image) =>
          peerInvocation(context, 'mcopy', ['-s', '-m', '-i', image, input.smallDir, '::/'], { env: MTOOLS_ENV })),
      ],
      references: [
        putRun(context, 'tar xf small.tar', 'tar', 'small', (input, destination) =>
          peerInvocation(context, 'tar', ['xf', input.smallTar, '-C', destination])),
      ],
    },
    {
      group: 'put',
      name: 'put one large file',
      description: 'copy one large file of random bytes into an existing empty image',
      strata: [putRun(context, 'strata put IMG large.bin /', 'strata', 'large', (input, image) => strataPut(input.largeFile, image))],
      peers: [
        putRun(context, 'e2cp -p (ext4 image)', 'ext4', 'large', (input, image) =>
          peerInvocation(context, 'e2cp', ['-p', '-d', `${image}:/`, input.largeFile])),
        putRun(context, 'mcopy -m (FAT image)', 'fat', 'large', (input, image) =>
          peerInvocation(context, 'mcopy', ['-m', '-i', image, input.largeFile, '::/'], { env: MTOOLS_ENV })),
      ],
      references: [
        putRun(context, 'tar xf large.tar', 'tar', 'large', (input, destination) =>
          peerInvocation(context, 'tar', ['xf', input.largeTar, '-C', destination])),
      ],
    },
  ];
}

/** Work-dir bytes the group needs: the large file, its tarball and one copy in an image or folder. */
export function putSpaceNeeded(): number {
  const smallFiles = envInteger('STRATA_BENCH_PUT_FILES', DEFAULT_SMALL_FILES);
  const largeBytes = envInteger('STRATA_BENCH_PUT_BYTES', DEFAULT_LARGE_BYTES);
  // small files: 4 KiB blocks each, in the folder, its tarball and one copy
  return 3 * largeBytes + 3 * smallFiles * (SMALL_FILE_MAX_BYTES + 512);
}

/** A line describing the inputs, printed under the group's table. */
export function describePutInputs(context: BenchContext): { text: string; data: unknown } {
  const input = ensurePutInputs(context);
  if ('unavailable' in input) return { text: `put inputs: ${input.unavailable}`, data: input };
  const imageSize = process.env.STRATA_BENCH_PUT_IMAGE ?? DEFAULT_IMAGE_SIZE;
  return {
    text: `put inputs: ${input.smallFiles} small files, ${(input.smallBytes / 1e6).toFixed(1)} MB, in one directory; ` +
      `one file of ${(input.largeBytes / 1e6).toFixed(0)} MB of random bytes; every image is ${imageSize}, made empty before each attempt (untimed)`,
    data: { smallFiles: input.smallFiles, smallBytes: input.smallBytes, largeBytes: input.largeBytes, imageSize },
  };
}
