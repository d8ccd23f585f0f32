// What every job group gets: where things are (corpus, tarball, work dir), which tools exist, how
// to invoke strata, and the image fixtures. Fixtures are built on first use (untimed) unless a
// timed mkfs run already produced them, so any subset of groups can run on its own.
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, truncateSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { firstLine, type Invocation, type ToolRun, type Unavailable, isUnavailable } from './runner.js';

export interface CorpusInfo {
  dir: string;
  tarball: string;
  /** regular files (hard links and symlinks come on top) */
  files: number;
  /** regular-file bytes, each inode once */
  bytes: number;
  /** bytes the tree occupies on the host file system (du), used to size fixed-size images */
  allocatedBytes: number;
  /** which generator made it */
  origin: string;
  /** whatever else the generator counted: dirs, duplicates, hardlinks, symlinks ... */
  counts: Record<string, number>;
}

export interface BenchContext {
  repoRoot: string;
  workDir: string;
  imagesDir: string;
  extractDir: string;
  scratchDir: string;
  corpus: CorpusInfo;
  /** limit for any one command, timed or not */
  timeoutSeconds: number;
  /** resolved executable path, or null when the tool is not installed */
  tool(name: string): string | null;
  strata: StrataCli;
  fixtures: Fixtures;
}

/**
 * How to run the strata CLI: `node <repo>/bin/strata ...`, as long as bin/strata exists.
 * STRATA_BENCH_CLI points at another entry script, e.g. an installed or older build to compare.
 */
export class StrataCli {
  readonly entry: string;
  /** short name for messages: "bin/strata" unless overridden */
  readonly displayName: string;
  constructor(repoRoot: string) {
    const override = process.env.STRATA_BENCH_CLI;
    this.entry = override ? resolve(override) : join(repoRoot, 'bin', 'strata');
    this.displayName = override ? this.entry : 'bin/strata';
  }
  get available(): boolean {
    return existsSync(this.entry);
  }
  invocation(args: string[]): Invocation | Unavailable {
    if (!this.available) return { unavailable: `not yet implemented: ${this.displayName} is missing` };
    return { argv: [process.execPath, this.entry, ...args] };
  }
}

/** Build a peer invocation when all its executables exist; otherwise say which is missing. */
export function peerInvocation(context: BenchContext, executable: string, args: string[], extra: Partial<Invocation> = {}): Invocation | Unavailable {
  const resolved = context.tool(executable);
  if (resolved === null) return { unavailable: `${executable} is not installed` };
  return { ...extra, argv: [resolved, ...args] };
}

/** A recipe for an image file that several groups use (mkfs times it, fsck/scrub/extract read it). */
export interface ImageRecipe {
  id: string;
  /** file name under the images directory */
  fileName: string;
  /** the command building it at `path` */
  invocation(context: BenchContext, path: string): Invocation | Unavailable;
  /** untimed preparation before building, e.g. sizing the file for tools that need a size */
  prepare?(context: BenchContext, path: string): void;
}

/** A fixed image size for tools that need one (btrfs, ext4): room for the tree twice over. */
export function fixedImageBytes(corpus: CorpusInfo): number {
  // ext4's default bytes-per-inode for large file systems is 16 KiB; leave room for every entry
  const forInodes = Math.ceil(corpus.files * 16384 * 1.25);
  const size = Math.max(2 * corpus.allocatedBytes, forInodes) + 64 * 1024 * 1024;
  // whole MiB, so mke2fs can take it as "<n>M"
  return Math.ceil(size / (1024 * 1024)) * 1024 * 1024;
}

/** Create (or recreate) a sparse file of the given size. */
export function sparseFile(path: string, bytes: number): void {
  rmSync(path, { force: true });
  closeSync(openSync(path, 'w'));
  truncateSync(path, bytes);
}

type FixtureState = { state: 'built' } | { state: 'failed'; error: string };

export class Fixtures {
  private readonly recipes = new Map<string, ImageRecipe>();
  private readonly states = new Map<string, FixtureState>();
  constructor(private readonly contextRef: () => BenchContext) {}

  register(recipe: ImageRecipe): void {
    this.recipes.set(recipe.id, recipe);
  }

  recipe(id: string): ImageRecipe {
    const recipe = this.recipes.get(id);
    if (!recipe) throw new Error(`bench bug: no image recipe "${id}"`);
    return recipe;
  }

  path(id: string): string {
    return join(this.contextRef().imagesDir, this.recipe(id).fileName);
  }

  markBuilt(id: string): void {
    this.states.set(id, { state: 'built' });
  }

  markFailed(id: string, error: string): void {
    this.states.set(id, { state: 'failed', error });
  }

  /** The image's path, building it untimed first if no timed run produced it; or why it cannot exist. */
  ensure(id: string): string | Unavailable {
    const path = this.path(id);
    const known = this.states.get(id);
    if (known?.state === 'built' && existsSync(path)) return path;
    if (known?.state === 'failed') return { unavailable: `no ${id} image: ${known.error}` };
    const context = this.contextRef();
    const recipe = this.recipe(id);
    const invocation = recipe.invocation(context, path);
    if (isUnavailable(invocation)) {
      this.markFailed(id, invocation.unavailable);
      return { unavailable: `no ${id} image: ${invocation.unavailable}` };
    }
    rmSync(path, { force: true, recursive: true });
    recipe.prepare?.(context, path);
    process.stderr.write(`  (building ${id} image untimed)\n`);
    const error = runUntimed(invocation, context.scratchDir, context.timeoutSeconds);
    if (error !== null) {
      this.markFailed(id, error);
      return { unavailable: `no ${id} image: ${error}` };
    }
    this.markBuilt(id);
    return path;
  }
}

/** Run a setup command; null on success, else the first line of what went wrong. */
export function runUntimed(invocation: Invocation, scratchDir: string, timeoutSeconds: number): string | null {
  mkdirSync(scratchDir, { recursive: true });
  const stderrPath = join(scratchDir, `setup-stderr-${process.pid}.txt`);
  const stderrFd = openSync(stderrPath, 'w');
  let result;
  try {
    result = spawnSync(invocation.argv[0]!, invocation.argv.slice(1), {
      cwd: invocation.cwd,
      env: invocation.env ?? process.env,
      stdio: ['ignore', 'ignore', stderrFd],
      timeout: timeoutSeconds * 1000,
      killSignal: 'SIGKILL',
    });
  } finally {
    closeSync(stderrFd);
  }
  const stderr = readFileSync(stderrPath, 'utf8');
  rmSync(stderrPath, { force: true });
  if (result.error) {
    return (result.error as NodeJS.ErrnoException).code === 'ETIMEDOUT' ? `timed out after ${timeoutSeconds} s` : result.error.message;
  }
  if (!(invocation.okExitCodes ?? [0]).includes(result.status ?? -1)) {
    const detail = firstLine(stderr);
    return `exit ${result.status ?? result.signal}${detail ? `: ${detail}` : ''}`;
  }
  return null;
}

/** A run on an image fixture: the fixture is built (untimed) when the run is planned. */
export function onImage(
  context: BenchContext,
  tool: string,
  imageId: string,
  command: (image: string) => Invocation | Unavailable,
  extra: Partial<ToolRun> = {},
): ToolRun {
  return {
    tool,
    ...extra,
    plan: () => {
      const image = context.fixtures.ensure(imageId);
      return typeof image === 'string' ? command(image) : image;
    },
  };
}
