// The fuzz runner: `npm run fuzz` (long run: 1,000,000 executions) or
//   node --import tsx test/fuzz/run.ts [--long] [--seconds N] [--executions N] [--inputs N] [--workers N]
//        [--seed N] [--save DIR | --no-save] [--cli-rate F] [--repair-rate F]
//   node --import tsx test/fuzz/run.ts --replay FILE [--seeds DIR] [--write DIR]
// New findings are saved in test/fuzz/regressions/ (status "open") unless --save says elsewhere.
// Builds the seed images with the real CLI, forks worker processes (worker.ts), and watches
// them: an input that runs past its time bound or kills its worker (out of memory, crash) is a
// finding, recorded by the runner since the worker cannot. Each distinct finding (by
// signature) is saved once as a regression recipe. Prints executions, time and findings; exits
// 1 when there are findings.
import { fork, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_RATES, executeInput, fastTempRoot, makeWorkspace, planInput, prepareVariants, rebuildInput, signatureOf, type FindingRecord, type Rates, type Recipe, type Variant } from './harness.js';
import { describeStep, diffPatches, applySteps } from './mutate.js';
import { buildVariants, loadBuiltVariants } from './seeds.js';
import { distIsStale, snapshotCli } from './cli-snapshot.js';
import type { ParentMessage, WorkerConfig, WorkerMessage, WorkerStats } from './worker.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const REGRESSION_DIR = path.join(HERE, 'regressions');

export interface FuzzOptions {
  seconds: number;
  /** stop after this many target executions (0: no limit); a bound reached between stats flushes, so not exact */
  executions: number;
  /** run exactly the inputs 0..inputs-1 (0: no limit): the same inputs on every machine */
  inputs?: number;
  workers: number;
  seed: number;
  /** where new findings are saved as regression recipes (undefined: not saved) */
  saveDir?: string;
  rates: Rates;
  /** progress lines on stderr */
  verbose: boolean;
  /** aborting ends the run early, with its report (Ctrl-C) */
  signal?: AbortSignal;
}

export interface FuzzReport {
  seed: number;
  seconds: number;
  inputs: number;
  executions: number;
  cliInputs: number;
  targets: Record<string, [number, number, number]>;
  maxInputMs: number;
  slowestTarget: { target: string; ms: number };
  maxMemoryGrowth: number;
  maxMemoryRatio: number;
  metadataBytes: Record<string, number>;
  findings: Array<{ signature: string; count: number; finding: FindingRecord; savedAs?: string }>;
}

function mergeStats(into: FuzzReport, s: WorkerStats): void {
  into.inputs += s.inputs;
  into.executions += s.executions;
  into.cliInputs += s.cliInputs;
  into.maxInputMs = Math.max(into.maxInputMs, s.maxInputMs);
  if (s.slowestTarget.ms > into.slowestTarget.ms) into.slowestTarget = s.slowestTarget;
  into.maxMemoryGrowth = Math.max(into.maxMemoryGrowth, s.maxMemoryGrowth);
  into.maxMemoryRatio = Math.max(into.maxMemoryRatio, s.maxMemoryRatio);
  for (const [t, [a, b, c]] of Object.entries(s.targets)) {
    const row = (into.targets[t] ??= [0, 0, 0]);
    row[0] += a;
    row[1] += b;
    row[2] += c;
  }
}

/** The recipe of an input the runner had to kill: regenerated from (seed, index) like the worker did. */
function killedInputFinding(kind: 'timeout' | 'memory' | 'crash', target: string, message: string, runSeed: number, index: number, variants: Variant[], rates: Rates): FindingRecord {
  const plan = planInput(runSeed, index, variants, rates);
  const work = { members: plan.variant.built.members.map((m) => Buffer.from(m)) };
  applySteps(plan.steps, work, plan.variant.ctx);
  const { patches, sizes } = diffPatches(plan.variant.built.members, work);
  return {
    kind, target, message, signature: signatureOf(kind, target, message),
    recipe: {
      variant: plan.variant.built.spec.name, imageSha256: plan.variant.built.sha256, runSeed, index, steps: plan.steps,
      description: plan.steps.map(describeStep), patches, sizes,
      options: { tar: plan.tar, tarRoundTrip: plan.tarRoundTrip, extract: plan.extract, cli: plan.cli, repair: plan.repair },
    },
  };
}

export async function runFuzz(options: FuzzOptions): Promise<FuzzReport> {
  const base = fs.mkdtempSync(path.join(fastTempRoot(), 'strata-fuzz-'));
  const seedDir = path.join(base, 'seeds');
  const log = (line: string) => options.verbose && process.stderr.write(`${line}\n`);
  const cliBefore = process.env.STRATA_FUZZ_CLI;
  try {
    if (distIsStale()) log('fuzz: warning: dist/ is older than the sources; the CLI targets run it as it is (run npx tsc -p tsconfig.json)');
    // Seen by buildVariants here and inherited by the workers; restored when the run ends.
    process.env.STRATA_FUZZ_CLI = snapshotCli(path.join(base, 'cli'));
    const built = await buildVariants(seedDir);
    const variants = await prepareVariants(built);
    const report: FuzzReport = {
      seed: options.seed, seconds: 0, inputs: 0, executions: 0, cliInputs: 0, targets: {}, maxInputMs: 0, slowestTarget: { target: '', ms: 0 }, maxMemoryGrowth: 0, maxMemoryRatio: 0,
      metadataBytes: Object.fromEntries(variants.map((v) => [v.built.spec.name, v.model.metadataBytes])), findings: [],
    };
    const bySignature = new Map<string, FuzzReport['findings'][number]>();
    const addFinding = (f: FindingRecord) => {
      const known = bySignature.get(f.signature);
      if (known) {
        known.count++;
        return;
      }
      const row: FuzzReport['findings'][number] = { signature: f.signature, count: 1, finding: f };
      if (options.saveDir) {
        fs.mkdirSync(options.saveDir, { recursive: true });
        const name = `${f.kind}-${f.target.replace(/[^a-z0-9]+/gi, '-')}-${crypto.createHash('sha256').update(f.signature).digest('hex').slice(0, 10)}.json`;
        const file = path.join(options.saveDir, name);
        if (!fs.existsSync(file)) {
          fs.writeFileSync(file, `${JSON.stringify({ status: 'open', kind: f.kind, target: f.target, message: f.message, detail: f.detail?.slice(0, 4000), signature: f.signature, recipe: f.recipe }, null, 2)}\n`);
        }
        row.savedAs = file;
      }
      bySignature.set(f.signature, row);
      report.findings.push(row);
      log(`finding: ${f.kind} in ${f.target}: ${f.message} (input ${f.recipe.index}: ${f.recipe.description.join('; ')})`);
    };

    const start = Date.now();
    const stopAt = start + options.seconds * 1000;
    let stopping = false;
    const workerFile = path.join(HERE, 'worker.ts');
    const execArgv = [...process.execArgv.filter((a) => !a.startsWith('--max-old-space-size')), '--max-old-space-size=1024'];
    if (!execArgv.some((a) => a.includes('tsx'))) execArgv.unshift('--import', 'tsx');

    interface Slot { child?: ChildProcess; index: number; target: string; began: number; budget: number; next: number; done: boolean; killedFor?: string }
    const slots: Slot[] = Array.from({ length: options.workers }, (_, w) => ({ index: -1, target: 'input', began: 0, budget: 0, next: w, done: false }));
    let finished: () => void = () => undefined;
    const allDone = new Promise<void>((resolve) => (finished = resolve));
    const checkAllDone = () => {
      if (slots.every((s) => s.done)) finished();
    };

    const launch = (slot: Slot) => {
      const child = fork(workerFile, [], { execArgv, stdio: ['ignore', 'inherit', 'pipe', 'ipc'], cwd: process.cwd() });
      slot.child = child;
      slot.index = -1;
      let stderr = '';
      child.stderr!.on('data', (c: Buffer) => {
        if (stderr.length < 8192) stderr += c.toString();
      });
      child.on('message', (m: WorkerMessage) => {
        if (m.t === 'begin') {
          slot.index = m.index;
          slot.target = 'input';
          slot.budget = m.budgetMs;
          slot.began = Date.now();
          slot.next = m.index + options.workers;
        } else if (m.t === 'target') slot.target = m.name;
        else if (m.t === 'stats') mergeStats(report, m.stats);
        else if (m.t === 'finding') addFinding(m.finding);
      });
      child.on('exit', (code, signal) => {
        slot.child = undefined;
        const index = slot.index;
        if (slot.killedFor) {
          addFinding(killedInputFinding('timeout', slot.target, slot.killedFor, options.seed, index, variants, options.rates));
        } else if (code !== 0 && index >= 0 && !options.signal?.aborted) {
          const oom = /heap out of memory|Allocation failed|ERR_WORKER_OUT_OF_MEMORY|Reached heap limit/i.test(stderr);
          addFinding(killedInputFinding(oom ? 'memory' : 'crash', slot.target, oom ? 'worker ran out of memory' : `worker died (exit ${code}, ${signal}): ${stderr.split('\n').find((l) => l.trim()) ?? ''}`, options.seed, index, variants, options.rates));
        } else if (code !== 0 && !options.signal?.aborted) {
          process.stderr.write(stderr);
          throw new Error(`fuzz worker failed to start (exit ${code})`);
        }
        const died = slot.killedFor !== undefined || code !== 0;
        slot.killedFor = undefined;
        const next = index >= 0 ? index + options.workers : slot.next;
        // A worker that ends by itself has run its share; one that died carries on after its input.
        if (died && !stopping && Date.now() < stopAt && (!options.inputs || next < options.inputs)) {
          // Carry on after the input that killed the worker.
          const config: WorkerConfig = { seedDir, workDir: path.join(base, `w${slots.indexOf(slot)}`), runSeed: options.seed, start: next, stride: options.workers, end: options.inputs ?? 0, rates: options.rates };
          launch(slot);
          slot.child!.send({ t: 'start', config } satisfies ParentMessage);
        } else {
          slot.done = true;
          checkAllDone();
        }
      });
    };

    slots.forEach((slot, w) => {
      launch(slot);
      const config: WorkerConfig = { seedDir, workDir: path.join(base, `w${w}`), runSeed: options.seed, start: w, stride: options.workers, end: options.inputs ?? 0, rates: options.rates };
      slot.child!.send({ t: 'start', config } satisfies ParentMessage);
    });

    let lastLog = Date.now();
    const watchdog = setInterval(() => {
      const now = Date.now();
      for (const slot of slots) {
        // The worker checks its own bound at every loop point; this catches what it cannot
        // (a single synchronous call that never returns), with a margin for a loaded machine.
        if (slot.child && slot.index >= 0 && now - slot.began > slot.budget && !slot.killedFor) {
          slot.killedFor = `input ran past ${Math.round(slot.budget / 1000)} s and was killed`;
          slot.child.kill('SIGKILL');
        }
      }
      const limitReached = options.executions > 0 && report.executions >= options.executions;
      if (!stopping && (now >= stopAt || limitReached || options.signal?.aborted)) {
        stopping = true;
        for (const slot of slots) slot.child?.send({ t: 'stop' } satisfies ParentMessage);
      }
      if (now - lastLog > 10_000) {
        lastLog = now;
        log(`fuzz: ${report.inputs} inputs, ${report.executions} executions, ${Math.round((now - start) / 1000)} s, ${report.findings.length} findings`);
      }
    }, 200);
    await allDone;
    clearInterval(watchdog);
    report.seconds = (Date.now() - start) / 1000;
    return report;
  } finally {
    if (cliBefore === undefined) delete process.env.STRATA_FUZZ_CLI;
    else process.env.STRATA_FUZZ_CLI = cliBefore;
    fs.rmSync(base, { recursive: true, force: true });
  }
}

export function formatReport(r: FuzzReport): string {
  const lines = [
    `seed ${r.seed}`,
    `inputs ${r.inputs} (${r.cliInputs} also through the CLI)`,
    `executions ${r.executions}`,
    `time ${r.seconds.toFixed(1)} s (${Math.round(r.executions / Math.max(r.seconds, 0.001))} executions/s)`,
    `slowest input ${r.maxInputMs} ms, slowest target run ${r.slowestTarget.ms} ms (${r.slowestTarget.target || 'none'}); largest peak-RSS growth ${(r.maxMemoryGrowth / 1048576).toFixed(1)} MiB (${r.maxMemoryRatio.toFixed(1)} x metadata; metadata ${Object.entries(r.metadataBytes).map(([k, v]) => `${k} ${Math.round(v / 1024)} KiB`).join(', ')})`,
    'targets (ok / rejected with a StrataError / stopped at the output cap):',
    ...Object.entries(r.targets).sort(([a], [b]) => a.localeCompare(b)).map(([t, [a, b, c]]) => `  ${t.padEnd(22)} ${String(a).padStart(9)} ${String(b).padStart(9)} ${String(c).padStart(7)}`),
    `findings ${r.findings.length}`,
    ...r.findings.map((f) => `  ${f.finding.kind} in ${f.finding.target} (x${f.count}): ${f.finding.message}${f.savedAs ? `\n    saved ${path.relative(process.cwd(), f.savedAs)}` : ''}\n    input: ${f.finding.recipe.description.join('; ')}`),
  ];
  return lines.join('\n');
}

function parseArgs(argv: string[]): FuzzOptions {
  const long = argv.includes('--long');
  const value = (flag: string) => {
    const i = argv.indexOf(flag);
    if (i < 0) return undefined;
    const v = argv[i + 1];
    if (v === undefined) throw new Error(`${flag} needs a value`);
    return v;
  };
  const number = (flag: string, fallback: number) => {
    const v = value(flag);
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new Error(`${flag}: not a number: ${v}`);
    return n;
  };
  // A long run goes to 1,000,000 executions unless told a time or a count; a short one, 30 s.
  const executions = number('--executions', long && value('--seconds') === undefined ? 1_000_000 : 0);
  return {
    seconds: number('--seconds', executions > 0 || value('--inputs') !== undefined ? 24 * 3600 : 30),
    executions,
    inputs: number('--inputs', 0),
    workers: number('--workers', os.availableParallelism()),
    seed: number('--seed', crypto.randomInt(2 ** 31)),
    saveDir: value('--save') ?? (argv.includes('--no-save') ? undefined : REGRESSION_DIR),
    rates: { ...DEFAULT_RATES, cli: number('--cli-rate', DEFAULT_RATES.cli), repair: number('--repair-rate', DEFAULT_RATES.repair) },
    verbose: true,
  };
}

/** Run one stored regression (or finding) and print each target's outcome and time. */
export async function replayFile(file: string, options: { writeDir?: string; seedDir?: string } = {}): Promise<number> {
  const stored = JSON.parse(fs.readFileSync(file, 'utf8')) as { recipe: Recipe; target: string; message: string };
  const base = fs.mkdtempSync(path.join(fastTempRoot(), 'strata-fuzz-replay-'));
  const writeDir = options.writeDir;
  try {
    // Seeds built once by the caller (the regression test) are reused; otherwise built here.
    const built = options.seedDir ? await loadBuiltVariants(options.seedDir) : await buildVariants(path.join(base, 'seeds'));
    const variants = await prepareVariants(built);
    const ws = await makeWorkspace(path.join(base, 'w'));
    const { plan, work, how } = rebuildInput(stored.recipe, variants);
    if (writeDir) {
      // Just the mutated member files, for a look with the CLI.
      fs.mkdirSync(writeDir, { recursive: true });
      work.members.forEach((m, i) => fs.writeFileSync(path.join(writeDir, `${stored.recipe.variant}.m${i}.img`), m));
      process.stderr.write(`wrote ${work.members.length} member file(s) to ${writeDir}\n`);
      return 0;
    }
    process.stderr.write(`replaying ${path.basename(file)} (${how}): ${stored.recipe.description.join('; ')}\n  was: ${stored.target}: ${stored.message}\n`);
    const r = await executeInput(ws, plan, stored.recipe.runSeed, work);
    for (const t of r.results) process.stdout.write(`  ${t.target.padEnd(22)} ${t.outcome.padEnd(9)} ${t.ms} ms\n`);
    process.stdout.write(r.finding ? `finding: ${r.finding.kind} in ${r.finding.target}: ${r.finding.message}\n${r.finding.detail ?? ''}\n` : 'no finding\n');
    return r.finding ? 1 : 0;
  } finally {
    fs.rmSync(base, { recursive: true, force: true });
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const replay = process.argv.indexOf('--replay');
  if (replay >= 0) {
    const flag = (name: string) => {
      const i = process.argv.indexOf(name);
      return i >= 0 ? process.argv[i + 1] : undefined;
    };
    // Extraction in a replay, as in the workers, needs no helper process.
    process.env.STRATA_PYTHON ??= 'none';
    process.exitCode = await replayFile(process.argv[replay + 1]!, { writeDir: flag('--write'), seedDir: flag('--seeds') });
    process.exit();
  }
  const controller = new AbortController();
  const options = { ...parseArgs(process.argv.slice(2)), signal: controller.signal };
  process.on('SIGINT', () => controller.abort());
  process.stderr.write(`fuzz: seed ${options.seed}, ${options.workers} workers, ${options.executions ? `${options.executions} executions or ` : ''}${options.seconds} s\n`);
  const report = await runFuzz(options);
  process.stdout.write(`${formatReport(report)}\n`);
  process.exitCode = report.findings.length ? 1 : 0;
}
