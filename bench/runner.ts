// The shared machinery every job group plugs into: a Job is a set of strata runs and peer runs of
// the same work on the same input; the runner times each run (best of N, wall clock), keeps the
// failure text instead of throwing, measures peak RSS when GNU time is available, and the report
// code turns the measurements into ratios against the strata run each peer is compared with.
import { spawnSync } from 'node:child_process';
import { closeSync, lstatSync, openSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';

/** What to execute for one attempt. */
export interface Invocation {
  argv: string[];
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** exit statuses that count as success; [0] unless told */
  okExitCodes?: number[];
}

/** A reason a run cannot happen at all (tool missing, fixture failed); printed as "n/a (...)". */
export interface Unavailable {
  unavailable: string;
}

/**
 * strata: the strata rows a job compares against; peer: a competing tool; reference: a floor
 * (cat, tar, node -e 0); variant: strata itself under another condition (e.g. with members
 * missing), compared with the strata row it names, like a peer.
 */
export type Side = 'strata' | 'peer' | 'reference' | 'variant';

export interface ToolRun {
  /** label in the table, e.g. "mkfs.erofs -zlz4hc" */
  tool: string;
  /**
   * Resolve the command lazily: fixtures (images to check, a tarball) are built on first use so
   * that `--only fsck` works without the mkfs group having run first.
   */
  plan(): Invocation | Unavailable;
  /** untimed work before every attempt, e.g. removing the previous image or extraction dir */
  beforeEach?(): void;
  /** untimed work once after the last attempt, e.g. removing an extraction dir */
  afterAll?(): void;
  /** file or directory whose size is reported as the run's output size */
  output?: string;
  /**
   * Count flushing the output file to disk (`sync FILE`) in the timed window. mke2fs and
   * mkfs.btrfs fsync their image and mkfs.erofs and mksquashfs do not; without this, the tools
   * that leave dirty pages behind would look faster by the cost of writeback.
   */
  flushOutput?: boolean;
  /**
   * Files to flush (`sync FILE...`) in the timed window instead of `output`, for outputs made of
   * several files (the members of a multi-member image). Implies flushing.
   */
  flushFiles?: string[];
  /** the tool label of the strata run this row is compared with; the job's first strata run if unset */
  versus?: string;
  /** attempts override (startup uses best of 10 regardless of --repeat) */
  attempts?: number;
  /** called after a successful final attempt (e.g. to register a built image as a fixture) */
  onSuccess?(): void;
  /** called with the error text when the run failed */
  onFailure?(error: string): void;
}

export interface Job {
  /** group it belongs to: mkfs, fsck, scrub, extract, startup, put, ec, dedupe */
  group: string;
  name: string;
  /** one line explaining what is measured */
  description: string;
  strata: ToolRun[];
  peers: ToolRun[];
  /** floors and references (cat, tar, node -e 0): shown, compared, never a target */
  references?: ToolRun[];
  /** strata under another condition (degraded image ...), each compared with its `versus` strata row */
  variants?: ToolRun[];
}

export interface Measurement {
  group: string;
  job: string;
  tool: string;
  side: Side;
  command: string[] | null;
  /** best wall-clock seconds over the attempts; null when the run did not happen or failed */
  seconds: number | null;
  attemptSeconds: number[];
  /** of the best attempt: seconds of the tool alone, without the output flush (equal when not flushed) */
  toolSeconds: number | null;
  /** 1-minute load average when the run started: a hint of how busy the shared machine was */
  loadAverage: number;
  /** peer seconds / strata seconds: >1 means strata is faster; null when either side is missing */
  ratio: number | null;
  /** the same ratio on CPU seconds: steadier than wall time when the machine is shared */
  cpuRatio: number | null;
  versus: string | null;
  /** bytes actually allocated on disk by the output (sparse images count what is written) */
  outputAllocatedBytes: number | null;
  /** apparent size (st_size, summed for a directory) */
  outputApparentBytes: number | null;
  /**
   * of the best attempt: user + system CPU seconds of the tool and its children (GNU time). Less
   * sensitive than wall time to other load on a shared machine; above wall time for parallel tools.
   */
  cpuSeconds: number | null;
  /** largest peak resident set over the attempts, KiB; null when it could not be measured */
  peakRssKiB: number | null;
  /** first line of the failure, or why the run was not possible */
  error: string | null;
}

export interface RunnerOptions {
  /** best of N for every run that does not override it */
  attempts: number;
  /** GNU time executable for peak RSS, or null when absent */
  gnuTime: string | null;
  /** coreutils timeout, to enforce timeoutSeconds on the tool itself; null when absent */
  timeoutCommand: string | null;
  /** directory for stderr captures and time(1) output */
  scratchDir: string;
  /** kill a single attempt after this many seconds */
  timeoutSeconds: number;
  /** run `sync` (untimed) before every attempt, so no run pays for writeback an earlier one left */
  syncBeforeAttempt: boolean;
  /** progress lines (to stderr) */
  log(line: string): void;
}

interface AttemptResult {
  seconds: number;
  toolSeconds: number;
  cpuSeconds: number | null;
  peakRssKiB: number | null;
  error: string | null;
}

let captureCounter = 0;

/** Lines of a tool's stderr as a user would see them: progress redraws and colour codes removed. */
function visibleLines(text: string): string[] {
  // progress bars redraw with \r and ANSI erase codes; keep only the last redraw of a line
  return text
    .split('\n')
    .map((line) => line.split('\r').pop()!.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '').trim())
    .filter((line) => line !== '');
}

/**
 * The one line of a tool's stderr worth printing in a table cell: for an uncaught Node exception
 * (whose first lines are a source location and a code excerpt) the "Error: ..." line; otherwise
 * the first line that reads like a failure, since tools print banners and progress before it;
 * otherwise the first line.
 */
export function firstLine(text: string): string {
  const lines = visibleLines(text);
  const first = lines[0] ?? '';
  if (/^(node:|file:\/\/|\/).*:\d+$/.test(first)) {
    const thrown = lines.find((line) => /^([A-Z][A-Za-z]*)?Error\b/.test(line));
    if (thrown) return thrown;
  }
  const failure = lines.find((line) => /error|fail|cannot|can't|unable|missing|not supported|invalid|denied|no such|unknown/i.test(line));
  return failure ?? first;
}

function attempt(invocation: Invocation, flushPaths: string[] | null, options: RunnerOptions): AttemptResult {
  const id = `${process.pid}-${captureCounter++}`;
  const stderrPath = join(options.scratchDir, `stderr-${id}.txt`);
  const timePath = join(options.scratchDir, `time-${id}.txt`);
  // stderr goes to a file, not a pipe: some tools (btrfs, mksquashfs) write a lot, and a pipe
  // buffer limit would kill them mid-run and turn a measurement into a false failure
  const stderrFd = openSync(stderrPath, 'w');
  // The time limit is enforced by `timeout` around the tool rather than by spawnSync alone: with
  // GNU time in between, spawnSync would kill only GNU time and leave the tool running, disturbing
  // every later measurement. --foreground keeps the tool in our process group so ^C reaches it.
  const limited = options.timeoutCommand
    ? [options.timeoutCommand, '--foreground', '-k', '10', String(options.timeoutSeconds), ...invocation.argv]
    : invocation.argv;
  const argv = options.gnuTime ? [options.gnuTime, '-f', '%M %U %S', '-o', timePath, '--', ...limited] : limited;
  let seconds = 0;
  let toolSeconds = 0;
  let flushError: string | null = null;
  let result: ReturnType<typeof spawnSync>;
  try {
    const started = process.hrtime.bigint();
    result = spawnSync(argv[0]!, argv.slice(1), {
      cwd: invocation.cwd,
      env: invocation.env ?? process.env,
      stdio: ['ignore', 'ignore', stderrFd],
      // backstop only, for when `timeout` is missing or itself hangs
      timeout: (options.timeoutSeconds + 60) * 1000,
      killSignal: 'SIGKILL',
    });
    toolSeconds = Number(process.hrtime.bigint() - started) / 1e9;
    if (flushPaths !== null && flushPaths.length > 0 && !result.error && result.status !== null && (invocation.okExitCodes ?? [0]).includes(result.status)) {
      // coreutils `sync FILE` fsyncs just that file, not every dirty page of the machine
      const flush = spawnSync('sync', flushPaths, { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
      if (flush.error || flush.status !== 0) flushError = `sync ${flushPaths.join(' ')} failed: ${firstLine(flush.stderr ?? flush.error?.message ?? '')}`;
    }
    seconds = Number(process.hrtime.bigint() - started) / 1e9;
  } finally {
    closeSync(stderrFd);
  }
  const stderr = readFileSync(stderrPath, 'utf8');
  rmSync(stderrPath, { force: true });
  let peakRssKiB: number | null = null;
  let cpuSeconds: number | null = null;
  if (options.gnuTime) {
    try {
      const timeOutput = readFileSync(timePath, 'utf8').trim().split('\n');
      // with a non-zero exit GNU time adds "Command exited with non-zero status N" first
      const [rss, user, system] = (timeOutput[timeOutput.length - 1] ?? '').split(' ').map(Number);
      if (Number.isFinite(rss)) peakRssKiB = rss!;
      // rounded to the centiseconds GNU time reports, so sums carry no float noise
      if (Number.isFinite(user) && Number.isFinite(system)) cpuSeconds = Math.round((user! + system!) * 100) / 100;
    } catch {
      // no time output (spawn failed): leave RSS unknown
    }
    rmSync(timePath, { force: true });
  }
  const okExitCodes = invocation.okExitCodes ?? [0];
  let error: string | null = null;
  if (result.error) {
    const code = (result.error as NodeJS.ErrnoException).code;
    error = code === 'ETIMEDOUT' ? `timed out after ${options.timeoutSeconds} s` : result.error.message;
  } else if (result.signal) {
    error = `killed by ${result.signal}${stderr ? `: ${firstLine(stderr)}` : ''}`;
  } else if (options.timeoutCommand && (result.status === 124 || result.status === 137) && seconds >= options.timeoutSeconds) {
    error = `timed out after ${options.timeoutSeconds} s`;
  } else if (!okExitCodes.includes(result.status ?? -1)) {
    const detail = firstLine(stderr.replace(/^Command exited with non-zero status \d+$/m, ''));
    error = `exit ${result.status}${detail ? `: ${detail}` : ''}`;
  } else if (flushError !== null) {
    error = flushError;
  }
  return { seconds, toolSeconds, cpuSeconds, peakRssKiB, error };
}

export function isUnavailable(value: Invocation | Unavailable): value is Unavailable {
  return 'unavailable' in value;
}

/** Disk usage of a file or a tree: allocated bytes (st_blocks) and apparent bytes. */
export function diskUsage(path: string): { allocated: number; apparent: number } | null {
  let stats;
  try {
    stats = lstatSync(path);
  } catch {
    return null;
  }
  if (!stats.isDirectory()) return { allocated: stats.blocks * 512, apparent: stats.size };
  let allocated = stats.blocks * 512;
  let apparent = 0;
  const seenInodes = new Set<number>();
  const pending = [path];
  while (pending.length > 0) {
    const dir = pending.pop()!;
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const child = join(dir, entry.name);
      const childStats = lstatSync(child);
      if (entry.isDirectory()) {
        allocated += childStats.blocks * 512;
        pending.push(child);
        continue;
      }
      // hard links share blocks: count each inode once, like du
      if (childStats.nlink > 1) {
        if (seenInodes.has(childStats.ino)) continue;
        seenInodes.add(childStats.ino);
      }
      allocated += childStats.blocks * 512;
      if (entry.isFile()) apparent += childStats.size;
    }
  }
  return { allocated, apparent };
}

async function measure(job: Job, run: ToolRun, side: Side, options: RunnerOptions): Promise<Measurement> {
  const base: Measurement = {
    group: job.group,
    job: job.name,
    tool: run.tool,
    side,
    command: null,
    seconds: null,
    attemptSeconds: [],
    toolSeconds: null,
    cpuSeconds: null,
    loadAverage: Number(loadavg()[0]!.toFixed(2)),
    ratio: null,
    cpuRatio: null,
    versus: null,
    outputAllocatedBytes: null,
    outputApparentBytes: null,
    peakRssKiB: null,
    error: null,
  };
  let planned: Invocation | Unavailable;
  try {
    planned = run.plan();
  } catch (error) {
    planned = { unavailable: firstLine(String((error as Error).message ?? error)) };
  }
  if (isUnavailable(planned)) {
    options.log(`  ${run.tool}: n/a (${planned.unavailable})`);
    run.onFailure?.(planned.unavailable);
    return { ...base, error: planned.unavailable };
  }
  base.command = planned.argv;
  const attempts = run.attempts ?? options.attempts;
  let peakRssKiB: number | null = null;
  let error: string | null = null;
  let best: AttemptResult | null = null;
  try {
    for (let index = 0; index < attempts; index++) {
      // spawnSync blocks the event loop; yielding between attempts lets a ^C handler run promptly
      await yieldToEventLoop();
      run.beforeEach?.();
      if (options.syncBeforeAttempt) spawnSync('sync', [], { stdio: 'ignore' });
      const flushPaths = run.flushFiles ?? (run.flushOutput && run.output ? [run.output] : null);
      const result = attempt(planned, flushPaths, options);
      if (result.error) {
        error = result.error;
        break;
      }
      base.attemptSeconds.push(result.seconds);
      if (best === null || result.seconds < best.seconds) best = result;
      if (result.peakRssKiB !== null) peakRssKiB = Math.max(peakRssKiB ?? 0, result.peakRssKiB);
    }
  } catch (thrown) {
    // a broken beforeEach (e.g. disk full while truncating) must not take the whole bench down
    error = firstLine(String((thrown as Error).message ?? thrown));
  }
  if (error === null && run.output) {
    const usage = diskUsage(run.output);
    if (usage) {
      base.outputAllocatedBytes = usage.allocated;
      base.outputApparentBytes = usage.apparent;
    }
  }
  try {
    run.afterAll?.();
  } catch {
    // cleanup failures only leave files in the work dir, which is removed at the end anyway
  }
  if (error !== null) {
    options.log(`  ${run.tool}: failed (${error})`);
    run.onFailure?.(error);
    return { ...base, attemptSeconds: [], peakRssKiB, error };
  }
  const seconds = best!.seconds;
  options.log(`  ${run.tool}: ${seconds.toFixed(3)} s`);
  run.onSuccess?.();
  return { ...base, seconds, toolSeconds: best!.toolSeconds, cpuSeconds: best!.cpuSeconds, peakRssKiB };
}

/**
 * Run every row of a job: strata first (so that fixtures strata produces exist for later rows),
 * then variants, peers and references.
 */
export async function runJob(job: Job, options: RunnerOptions): Promise<Measurement[]> {
  options.log(`${job.group}: ${job.name}`);
  const strata: Measurement[] = [];
  for (const run of job.strata) strata.push(await measure(job, run, 'strata', options));
  const others: { run: ToolRun; measurement: Measurement }[] = [];
  // variants run (and print) right after the strata rows they are compared with
  for (const run of job.variants ?? []) others.push({ run, measurement: await measure(job, run, 'variant', options) });
  for (const run of job.peers) others.push({ run, measurement: await measure(job, run, 'peer', options) });
  for (const run of job.references ?? []) others.push({ run, measurement: await measure(job, run, 'reference', options) });
  const defaultVersus = job.strata[0]?.tool ?? null;
  for (const { run, measurement } of others) {
    const versus = run.versus ?? defaultVersus;
    measurement.versus = versus;
    const strataRow = strata.find((row) => row.tool === versus);
    if (strataRow?.seconds && measurement.seconds !== null) {
      measurement.ratio = measurement.seconds / strataRow.seconds;
    }
    if (strataRow?.cpuSeconds && measurement.cpuSeconds !== null) {
      measurement.cpuRatio = measurement.cpuSeconds / strataRow.cpuSeconds;
    }
  }
  return [...strata, ...others.map((entry) => entry.measurement)];
}

// ---------------------------------------------------------------- reporting

// decimal megabytes, the same unit as STRATA_BENCH_BYTES, so sizes compare with the corpus size
const MB = 1_000_000;

export function formatMB(bytes: number | null): string {
  return bytes === null ? '' : (bytes / MB).toFixed(1);
}

function formatSeconds(value: number | null): string {
  if (value === null) return 'n/a';
  return value < 0.1 ? value.toFixed(4) : value < 10 ? value.toFixed(3) : value.toFixed(2);
}

function formatRatio(row: Measurement): string {
  if (row.side === 'strata') return '';
  if (row.ratio === null) return 'n/a';
  return `${row.ratio.toFixed(2)}x`;
}

/** A plain-text table with left-aligned text columns and right-aligned numeric ones. */
export function renderTable(headers: string[], rows: string[][], numericColumns: Set<number>): string {
  const widths = headers.map((header, column) =>
    Math.max(header.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  const line = (cells: string[]): string =>
    cells
      .map((cell, column) =>
        numericColumns.has(column) ? cell.padStart(widths[column]!) : cell.padEnd(widths[column]!),
      )
      .join('  ')
      .trimEnd();
  return [line(headers), line(widths.map((width) => '-'.repeat(width))), ...rows.map(line)].join('\n');
}

function noteFor(row: Measurement, rows: Measurement[]): string {
  if (row.error !== null) return row.command === null ? `n/a (${row.error})` : row.error;
  if (row.side === 'strata' || row.versus === null) return '';
  const firstStrata = rows.find((other) => other.job === row.job && other.side === 'strata');
  // only name the strata row compared with when it is not the obvious one (the job's first)
  return row.versus === firstStrata?.tool ? '' : `vs ${row.versus}`;
}

export function renderMeasurements(rows: Measurement[]): string {
  const headers = ['job', 'tool', 'seconds', 'vs strata', 'cpu s', 'image MB', 'apparent MB', 'peak RSS MB', 'note'];
  let previousJob = '';
  const body = rows.map((row) => {
    const jobCell = row.job === previousJob ? '' : row.job;
    previousJob = row.job;
    const tool = row.side === 'reference' ? `${row.tool} (reference)` : row.tool;
    return [
      jobCell,
      tool,
      formatSeconds(row.seconds),
      formatRatio(row),
      row.cpuSeconds === null ? '' : row.cpuSeconds.toFixed(2), // GNU time reports centiseconds
      formatMB(row.outputAllocatedBytes),
      formatMB(row.outputApparentBytes),
      row.peakRssKiB === null ? '' : ((row.peakRssKiB * 1024) / MB).toFixed(0),
      noteFor(row, rows),
    ];
  });
  return renderTable(headers, body, new Set([2, 3, 4, 5, 6, 7]));
}
