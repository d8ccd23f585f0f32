// `npm run bench`: strata next to its peers on the same corpus, as ratios, in one run.
//
//   node --import tsx bench/run.ts [--only mkfs,fsck,fsck-scale,scrub,extract,startup,put,ec,dedupe] [--repeat N] [--json] [--out FILE]
//
// Environment: STRATA_BENCH_FILES, STRATA_BENCH_BYTES (corpus size), STRATA_BENCH_SEED,
// STRATA_BENCH_REPEAT (best of N), STRATA_BENCH_KEEP=1 (keep the work dir), STRATA_BENCH_DIR
// (parent of the work dir, default the OS temp dir), STRATA_BENCH_NO_INSTALL=1 (never apt-get),
// STRATA_BENCH_TIMEOUT (seconds per attempt), STRATA_BENCH_CLI (strata entry script instead of bin/strata),
// STRATA_BENCH_PUT_FILES, STRATA_BENCH_PUT_BYTES, STRATA_BENCH_PUT_IMAGE (the put group's inputs).
// See docs/BENCH.md for what each row means and the caveats.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { type BenchContext, type CorpusInfo, Fixtures, StrataCli } from './context.js';
import { loadCorpusGenerator } from './corpus.js';
import { DEDUPE_RECIPES, dedupeJobs, dedupeReport } from './dedupe.js';
import { EC_RECIPE, type EcTarget, ecJobs, evaluateEcTarget } from './ec-image.js';
import { extractJobs } from './extract.js';
import { fsckJobs } from './fsck.js';
import { fsckScaleJobs, fsckScaleReport, SCALE_RECIPES } from './fsck-scale.js';
import { registerImageRecipes } from './images.js';
import { BTRFS_ROOTDIR, EROFS_LZ4HC, STRATA_UNCOMPRESSED, STRATA_ZSTD, mkfsJobs } from './mkfs.js';
import { ensurePeers, findExecutable, findGnuTime, type PeerReport } from './peers.js';
import { describePutInputs, putJobs, putSpaceNeeded } from './put.js';
import { type Job, type Measurement, diskUsage, firstLine, renderMeasurements, renderTable, runJob } from './runner.js';
import { scrubJobs } from './scrub.js';
import { startupJobs } from './startup.js';

/** What a group prints after its table (and keeps in the JSON under `reports`). */
interface GroupReport {
  text: string;
  data: unknown;
  /** targets the group evaluates, listed with the mkfs ones at the end */
  targets?: EcTarget[];
}

interface JobGroup {
  name: string;
  /** whether the group reads the corpus (startup and put do not, so `--only startup,put` skips generating it) */
  needsCorpus: boolean;
  jobs(context: BenchContext): Job[];
  /** printed after the group's table, given the group's rows */
  report?(context: BenchContext, rows: Measurement[]): GroupReport | Promise<GroupReport>;
}

const BENCH_DIR = dirname(fileURLToPath(import.meta.url));

// a new group registers here; `--only` takes these names
const JOB_GROUPS: JobGroup[] = [
  { name: 'mkfs', needsCorpus: true, jobs: mkfsJobs },
  { name: 'fsck', needsCorpus: true, jobs: fsckJobs },
  { name: 'fsck-scale', needsCorpus: false, jobs: fsckScaleJobs, report: (_context, rows) => fsckScaleReport(rows) },
  { name: 'scrub', needsCorpus: true, jobs: scrubJobs },
  { name: 'extract', needsCorpus: true, jobs: extractJobs },
  { name: 'startup', needsCorpus: false, jobs: startupJobs },
  { name: 'put', needsCorpus: false, jobs: putJobs, report: (context) => describePutInputs(context) },
  {
    name: 'ec',
    needsCorpus: true,
    jobs: ecJobs,
    // the image rows first, then the kernel throughput of bench/ec.ts
    report: async (context, rows) => {
      const target = evaluateEcTarget(rows, context.corpus.bytes);
      log('ec: erasure-code kernel throughput');
      const kernel = await runEcGroup(BENCH_DIR);
      return {
        text: `${target.status.padEnd(8)} ${target.name}: ${target.detail}\n\nkernel throughput (bench/ec.ts), GB/s of data per second, one core:\n${renderEc(kernel)}`,
        data: { kernel, target },
        targets: [target],
      };
    },
  },
  { name: 'dedupe', needsCorpus: true, jobs: dedupeJobs, report: (context) => dedupeReport(context) },
];

interface CliOptions {
  only: Set<string> | null;
  json: boolean;
  out: string | null;
  attempts: number;
}

const USAGE = `usage: node --import tsx bench/run.ts [--only ${JOB_GROUPS.map((group) => group.name).join(',')}] [--repeat N] [--json] [--out FILE]`;

function parseArguments(argv: string[]): CliOptions {
  const options: CliOptions = {
    only: null,
    json: false,
    out: null,
    attempts: positiveInteger(process.env.STRATA_BENCH_REPEAT, 1, 'STRATA_BENCH_REPEAT'),
  };
  const known = new Set(JOB_GROUPS.map((group) => group.name));
  for (let index = 0; index < argv.length; index++) {
    const argument = argv[index]!;
    const [flag, inlineValue] = argument.includes('=') ? [argument.slice(0, argument.indexOf('=')), argument.slice(argument.indexOf('=') + 1)] : [argument, undefined];
    const value = (): string => {
      const next = inlineValue ?? argv[++index];
      if (next === undefined) usageError(`${flag} needs a value`);
      return next;
    };
    switch (flag) {
      case '--only': {
        const names = value().split(',').map((name) => name.trim()).filter((name) => name !== '');
        const unknown = names.filter((name) => !known.has(name));
        if (unknown.length > 0) usageError(`unknown group ${unknown.join(', ')}`);
        options.only = new Set(names);
        break;
      }
      case '--json':
        options.json = true;
        break;
      case '--out':
        options.out = resolve(value());
        break;
      case '--repeat':
        options.attempts = positiveInteger(value(), 1, '--repeat');
        break;
      case '--help':
      case '-h':
        process.stdout.write(`${USAGE}\n`);
        process.exit(0);
      default:
        usageError(`unknown argument ${argument}`);
    }
  }
  return options;
}

function usageError(message: string): never {
  process.stderr.write(`bench: ${message}\n${USAGE}\n`);
  process.exit(2);
}

function positiveInteger(text: string | undefined, fallback: number, what: string): number {
  if (text === undefined || text === '') return fallback;
  const parsed = Number(text);
  if (!Number.isInteger(parsed) || parsed < 1) usageError(`${what} must be a positive integer, got "${text}"`);
  return parsed;
}

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

function seconds(startedNs: bigint): number {
  return Number(process.hrtime.bigint() - startedNs) / 1e9;
}

interface CorpusTimings {
  generateSeconds: number;
  warmSeconds: number;
  tarSeconds: number | null;
  tarError: string | null;
}

async function prepareCorpus(workDir: string): Promise<{ corpus: CorpusInfo; timings: CorpusTimings }> {
  const files = positiveInteger(process.env.STRATA_BENCH_FILES, 50_000, 'STRATA_BENCH_FILES');
  const bytes = positiveInteger(process.env.STRATA_BENCH_BYTES, 500_000_000, 'STRATA_BENCH_BYTES');
  const seed = positiveInteger(process.env.STRATA_BENCH_SEED, 1, 'STRATA_BENCH_SEED');
  const dir = join(workDir, 'corpus');
  mkdirSync(dir);
  const generator = await loadCorpusGenerator();
  log(`corpus: generating ${files} files, ${(bytes / 1e6).toFixed(1)} MB (seed ${seed}, ${generator.origin})`);
  let started = process.hrtime.bigint();
  const stats = await generator.makeCorpus(dir, { files, bytes, seed });
  const generateSeconds = seconds(started);
  const usage = diskUsage(dir);

  // Dropping the page cache needs privileges this bench must not assume, so the opposite is done:
  // every file is read once, untimed, so that all tools start equally warm. GNU tar does not read
  // file contents when the archive is /dev/null, hence the pipe through cat.
  log('corpus: warming the page cache (untimed tar cf - | cat > /dev/null)');
  started = process.hrtime.bigint();
  spawnSync('sh', ['-c', 'tar cf - -C "$1" . | cat > /dev/null', 'sh', dir], { stdio: 'ignore' });
  const warmSeconds = seconds(started);

  const tarball = join(workDir, 'corpus.tar');
  log('corpus: writing the tarball (tar cf, timed once for reference)');
  started = process.hrtime.bigint();
  const tar = spawnSync('tar', ['cf', tarball, '-C', dir, '.'], { encoding: 'utf8' });
  const tarSeconds = seconds(started);
  const tarError = tar.error ? tar.error.message : tar.status !== 0 ? `exit ${tar.status}: ${firstLine(tar.stderr ?? '')}` : null;
  return {
    corpus: {
      dir,
      tarball,
      files: stats.files,
      bytes: stats.bytes,
      allocatedBytes: usage?.allocated ?? stats.bytes,
      origin: generator.origin,
      counts: Object.fromEntries(Object.entries(stats).filter(([key, value]) => key !== 'files' && key !== 'bytes' && typeof value === 'number')),
    },
    timings: { generateSeconds, warmSeconds, tarSeconds: tarError ? null : tarSeconds, tarError },
  };
}

interface Target {
  name: string;
  /** met when strata's seconds <= the peer's seconds */
  strataTool: string;
  peerTool: string;
  status: 'met' | 'not met' | 'pending';
  ratio: number | null;
  detail: string;
}

function evaluateTargets(results: Measurement[]): Target[] {
  const definitions = [
    { name: 'strata uncompressed <= mkfs.btrfs --rootdir', strataTool: STRATA_UNCOMPRESSED, peerTool: BTRFS_ROOTDIR },
    { name: 'strata zstd <= mkfs.erofs -zlz4hc', strataTool: STRATA_ZSTD, peerTool: EROFS_LZ4HC },
  ];
  return definitions.map((definition) => {
    const strata = results.find((row) => row.group === 'mkfs' && row.tool === definition.strataTool);
    const peer = results.find((row) => row.group === 'mkfs' && row.tool === definition.peerTool);
    if (!strata || !peer) return { ...definition, status: 'pending', ratio: null, detail: 'mkfs group not run' };
    if (strata.seconds === null) return { ...definition, status: 'pending', ratio: null, detail: `strata n/a: ${strata.error}` };
    if (peer.seconds === null) return { ...definition, status: 'pending', ratio: null, detail: `${definition.peerTool} n/a: ${peer.error}` };
    const ratio = peer.seconds / strata.seconds;
    const cpu = strata.cpuSeconds !== null && peer.cpuSeconds !== null && strata.cpuSeconds > 0
      ? `; cpu ${strata.cpuSeconds.toFixed(2)} s vs ${peer.cpuSeconds.toFixed(2)} s (${(peer.cpuSeconds / strata.cpuSeconds).toFixed(2)}x)`
      : '';
    return {
      ...definition,
      status: strata.seconds <= peer.seconds ? 'met' : 'not met',
      ratio,
      detail: `wall ${strata.seconds.toFixed(2)} s vs ${peer.seconds.toFixed(2)} s (${ratio.toFixed(2)}x)${cpu}`,
    };
  });
}

interface EcOutcome {
  status: 'ok' | 'n/a' | 'failed';
  detail: string | null;
  result: unknown;
  /** the module's own rendering (formatEcBenchTable) when it has one */
  table?: string;
}

/** bench/ec.ts belongs to another engineer; run it when it exists and exports runEcBench(). */
async function runEcGroup(benchDir: string): Promise<EcOutcome> {
  const modulePath = join(benchDir, 'ec.ts');
  if (!existsSync(modulePath)) return { status: 'n/a', detail: 'bench/ec.ts does not exist yet', result: null };
  try {
    const module = (await import(pathToFileURL(modulePath).href)) as { runEcBench?: unknown; formatEcBenchTable?: unknown };
    if (typeof module.runEcBench !== 'function') return { status: 'n/a', detail: 'bench/ec.ts does not export runEcBench()', result: null };
    const result: unknown = await (module.runEcBench as () => unknown)();
    const table = typeof module.formatEcBenchTable === 'function' ? (module.formatEcBenchTable as (rows: unknown) => unknown)(result) : undefined;
    return { status: 'ok', detail: null, result, ...(typeof table === 'string' ? { table } : {}) };
  } catch (error) {
    return { status: 'failed', detail: firstLine(String((error as Error)?.stack ?? error)), result: null };
  }
}

/** Print whatever runEcBench returned: text as is, an array of flat objects as a table, else JSON. */
function renderEc(outcome: EcOutcome): string {
  if (outcome.status !== 'ok') return `ec: ${outcome.status} (${outcome.detail})`;
  if (outcome.table !== undefined) return outcome.table;
  const result = outcome.result;
  if (typeof result === 'string') return result;
  if (result && typeof result === 'object' && 'table' in result && typeof (result as { table: unknown }).table === 'string') {
    return (result as { table: string }).table;
  }
  const rows = Array.isArray(result) ? result : result && typeof result === 'object' && Array.isArray((result as { rows?: unknown }).rows) ? (result as { rows: unknown[] }).rows : null;
  if (rows && rows.length > 0 && rows.every((row) => row && typeof row === 'object')) {
    const headers = [...new Set(rows.flatMap((row) => Object.keys(row as object)))];
    const cells = rows.map((row) => headers.map((header) => {
      const value = (row as Record<string, unknown>)[header];
      return value === undefined || value === null ? '' : typeof value === 'number' ? String(Number(value.toFixed(4))) : String(value);
    }));
    return renderTable(headers, cells, new Set());
  }
  return result === undefined ? 'ec: done (runEcBench returned nothing)' : JSON.stringify(result, null, 2);
}

/** The file system type holding `path` (longest matching mount point), for reading the figures. */
function filesystemType(path: string): string {
  try {
    let best = { mountPoint: '', type: 'unknown' };
    for (const line of readFileSync('/proc/self/mounts', 'utf8').split('\n')) {
      const [, mountPoint, type] = line.split(' ');
      if (!mountPoint || !type) continue;
      const decoded = mountPoint.replace(/\\040/g, ' ');
      const inside = path === decoded || path.startsWith(decoded.endsWith('/') ? decoded : `${decoded}/`);
      if (inside && decoded.length >= best.mountPoint.length) best = { mountPoint: decoded, type };
    }
    return best.type;
  } catch {
    return 'unknown';
  }
}

function availableBytes(path: string): number | null {
  try {
    const stats = statfsSync(path);
    return stats.bavail * stats.bsize;
  } catch {
    return null;
  }
}

function describePeers(report: PeerReport, gnuTime: string | null): string {
  const rows = report.packages.map((entry) => [
    entry.package,
    entry.available ? 'yes' : 'no',
    entry.version ?? '',
    entry.packageVersion ?? '',
    entry.note ?? '',
  ]);
  const table = renderTable(['package', 'available', 'version', 'package version', 'note'], rows, new Set());
  return `${table}\npeak RSS and cpu s: ${gnuTime ? 'GNU time (max RSS; user + system seconds of the tool and its children)' : 'not measured (GNU time missing)'}`;
}

async function main(): Promise<number> {
  const options = parseArguments(process.argv.slice(2));
  const repoRoot = join(BENCH_DIR, '..');
  const groups = JOB_GROUPS.filter((group) => options.only === null || options.only.has(group.name));
  const print = (text: string): void => {
    if (!options.json) process.stdout.write(`${text}\n`);
  };

  const peers = ensurePeers({ install: process.env.STRATA_BENCH_NO_INSTALL !== '1', log });
  const gnuTime = findGnuTime();
  const timeoutSeconds = positiveInteger(process.env.STRATA_BENCH_TIMEOUT, 1800, 'STRATA_BENCH_TIMEOUT');
  const strata = new StrataCli(repoRoot);
  const parent = process.env.STRATA_BENCH_DIR || os.tmpdir();
  const workDir = mkdtempSync(join(parent, 'strata-bench-'));
  const keep = process.env.STRATA_BENCH_KEEP === '1';
  const cleanUp = (): void => {
    if (keep) log(`kept work dir ${workDir}`);
    else rmSync(workDir, { recursive: true, force: true });
  };
  // spawnSync children share our process group, so ^C stops the running tool; the runner yields
  // to the event loop between attempts, so this handler then removes the work dir and stops
  process.once('SIGINT', () => {
    cleanUp();
    process.exit(130);
  });
  const startedAt = new Date().toISOString();
  const started = process.hrtime.bigint();

  try {
    const imagesDir = join(workDir, 'images');
    const extractDir = join(workDir, 'extract');
    const scratchDir = join(workDir, 'scratch');
    for (const dir of [imagesDir, extractDir, scratchDir]) mkdirSync(dir);

    let corpus: CorpusInfo = { dir: '', tarball: '', files: 0, bytes: 0, allocatedBytes: 0, origin: 'not generated (no group needs it)', counts: {} };
    let corpusTimings: CorpusTimings | null = null;
    if (groups.some((group) => group.needsCorpus)) {
      const prepared = await prepareCorpus(workDir);
      corpus = prepared.corpus;
      corpusTimings = prepared.timings;
    }

    const tools = new Map<string, string | null>();
    let context: BenchContext | null = null;
    const fixtures = new Fixtures(() => context!);
    context = {
      repoRoot,
      workDir,
      imagesDir,
      extractDir,
      scratchDir,
      corpus,
      timeoutSeconds,
      tool: (name) => {
        if (!tools.has(name)) tools.set(name, findExecutable(name));
        return tools.get(name)!;
      },
      strata,
      fixtures,
    };
    registerImageRecipes(context);
    for (const recipe of [EC_RECIPE, ...DEDUPE_RECIPES, ...SCALE_RECIPES]) fixtures.register(recipe);

    print(`strata bench — ${startedAt}`);
    print(`machine: ${os.cpus().length} cores (${os.cpus()[0]?.model ?? 'unknown'}), ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB RAM, node ${process.version}, ${os.platform()} ${os.release()}`);
    const free = availableBytes(workDir);
    print(`work dir: ${workDir} (${filesystemType(workDir)}${free !== null ? `, ${(free / 1e9).toFixed(1)} GB free` : ''})`);
    // the corpus, its tarball, the images (mkfs, ec, dedupe) and one extraction at a time: about
    // 10x the corpus; the put group adds its inputs (large file and tarball) and one image at a time
    const needed = (groups.some((group) => group.needsCorpus) ? 10 * corpus.allocatedBytes : 0) +
      (groups.some((group) => group.name === 'put') ? putSpaceNeeded() : 0);
    if (free !== null && needed > 0 && free < needed) {
      print(`warning: the work dir may run out of space (about ${(needed / 1e9).toFixed(1)} GB needed)`);
    }
    print(`strata CLI: ${strata.available ? strata.entry : `missing (${strata.displayName}): strata rows print n/a`}`);
    print(`method: wall-clock seconds, best of ${options.attempts} (startup: best of 10), one run at a time; page cache warm (not dropped);`);
    print('  `sync` (untimed) before every attempt; mkfs rows include `sync IMAGE` (mke2fs and mkfs.btrfs fsync, erofs and squashfs do not)');
    print(`load average at start: ${os.loadavg().map((value) => value.toFixed(2)).join(' ')} (shared machine: compare with the per-run loadAverage in --json)`);
    print('ratio "vs strata" = peer seconds / strata seconds: above 1 means strata is faster');
    print('');
    print(describePeers(peers, gnuTime));
    if (corpusTimings) {
      print('');
      const counts = Object.entries(corpus.counts).map(([key, value]) => `${value} ${key}`).join(', ');
      print(`corpus (${corpus.origin}): ${corpus.files} files, ${(corpus.bytes / 1e6).toFixed(1)} MB of file data, ${(corpus.allocatedBytes / 1e6).toFixed(1)} MB on disk${counts ? `; ${counts}` : ''}`);
      print(`  generated in ${corpusTimings.generateSeconds.toFixed(2)} s; cache warmed in ${corpusTimings.warmSeconds.toFixed(2)} s; ` +
        `tar cf (reference): ${corpusTimings.tarSeconds !== null ? `${corpusTimings.tarSeconds.toFixed(2)} s` : `n/a (${corpusTimings.tarError})`}`);
    }

    const runnerOptions = {
      attempts: options.attempts,
      gnuTime,
      timeoutCommand: findExecutable('timeout'),
      scratchDir,
      timeoutSeconds,
      syncBeforeAttempt: true,
      log,
    };
    const results: Measurement[] = [];
    const reports: Record<string, unknown> = {};
    const groupTargets: EcTarget[] = [];
    let ec: EcOutcome | null = null;
    for (const group of groups) {
      let jobs: Job[];
      try {
        jobs = group.jobs(context);
      } catch (error) {
        log(`${group.name}: could not set up (${firstLine(String((error as Error).message))})`);
        continue;
      }
      const groupRows: Measurement[] = [];
      for (const job of jobs) groupRows.push(...(await runJob(job, runnerOptions)));
      results.push(...groupRows);
      print('');
      print(`== ${group.name}: ${jobs.map((job) => job.description).join('; ')}`);
      print(renderMeasurements(groupRows));
      if (group.report) {
        let report: GroupReport;
        try {
          report = await group.report(context, groupRows);
        } catch (error) {
          report = { text: `${group.name}: report failed (${firstLine(String((error as Error)?.stack ?? error))})`, data: null };
        }
        print(report.text);
        reports[group.name] = report.data;
        groupTargets.push(...(report.targets ?? []));
        if (group.name === 'ec') ec = (report.data as { kernel: EcOutcome }).kernel;
      }
    }

    const targets: (Target | EcTarget)[] = [...(groups.some((group) => group.name === 'mkfs') ? evaluateTargets(results) : []), ...groupTargets];
    if (targets.length > 0) {
      print('');
      print('== targets');
      for (const target of targets) print(`${target.status.padEnd(8)} ${target.name}: ${target.detail}`);
    }

    const totalSeconds = seconds(started);
    print('');
    print(`total ${totalSeconds.toFixed(1)} s; load average at end: ${os.loadavg().map((value) => value.toFixed(2)).join(' ')}`);

    const document = {
      startedAt,
      totalSeconds,
      machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? null, memoryBytes: os.totalmem(), node: process.version, platform: `${os.platform()} ${os.release()}` },
      options: { groups: groups.map((group) => group.name), attempts: options.attempts, startupAttempts: 10 },
      strataCli: strata.available,
      peakRss: gnuTime ? 'GNU time' : null,
      peers: peers.packages,
      corpus: corpusTimings ? { ...corpus, ...corpusTimings } : null,
      results,
      targets,
      reports,
      ec,
    };
    const json = JSON.stringify(document, null, 2);
    if (options.out) {
      mkdirSync(dirname(options.out), { recursive: true });
      writeFileSync(options.out, `${json}\n`);
      log(`results written to ${options.out}`);
    }
    if (options.json) process.stdout.write(`${json}\n`);
    return 0;
  } finally {
    cleanUp();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`bench: ${(error as Error)?.stack ?? String(error)}\n`);
    process.exit(1);
  },
);
