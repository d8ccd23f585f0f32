// A fuzz worker process (forked by run.ts): runs inputs start, start + stride, ... until told
// to stop, reporting each input's number before running it (so the runner can name the input
// that hangs or kills the process) and its statistics and findings over IPC.
import { executeInput, inputBudgetMs, makeWorkspace, planInput, prepareVariants, type FindingRecord, type Rates } from './harness.js';
import { loadBuiltVariants } from './seeds.js';

export interface WorkerConfig {
  seedDir: string;
  workDir: string;
  runSeed: number;
  start: number;
  stride: number;
  /** run input indices below this and stop (0: until told to stop) */
  end: number;
  rates: Rates;
}

export interface WorkerStats {
  inputs: number;
  executions: number;
  /** per target: [ok, rejected (a clean StrataError), capped (output cap)] */
  targets: Record<string, [number, number, number]>;
  maxInputMs: number;
  /** the slowest single target run, in process and through the CLI */
  slowestTarget: { target: string; ms: number };
  maxMemoryGrowth: number;
  /** the largest peak-RSS growth divided by the variant's metadata bytes */
  maxMemoryRatio: number;
  cliInputs: number;
}

export type WorkerMessage =
  | { t: 'begin'; index: number; budgetMs: number }
  | { t: 'target'; name: string }
  | { t: 'stats'; stats: WorkerStats }
  | { t: 'finding'; finding: FindingRecord }
  | { t: 'done' };

export type ParentMessage = { t: 'start'; config: WorkerConfig } | { t: 'stop' };

function emptyStats(): WorkerStats {
  return { inputs: 0, executions: 0, targets: {}, maxInputMs: 0, slowestTarget: { target: '', ms: 0 }, maxMemoryGrowth: 0, maxMemoryRatio: 0, cliInputs: 0 };
}

async function main(config: WorkerConfig): Promise<void> {
  // Extraction in the fuzzer needs no xattrs or nanosecond times: the fallback host layer keeps
  // each input free of helper-process round trips.
  process.env.STRATA_PYTHON = 'none';
  const variants = await prepareVariants(await loadBuiltVariants(config.seedDir));
  const ws = await makeWorkspace(config.workDir);
  let stopping = false;
  process.on('message', (m: ParentMessage) => {
    if (m.t === 'stop') stopping = true;
  });
  // Ctrl-C reaches the whole process group: finish the input, report, and let the runner end.
  process.on('SIGINT', () => {
    stopping = true;
  });
  const send = (m: WorkerMessage) => process.send!(m);
  let stats = emptyStats();
  let lastFlush = Date.now();
  for (let index = config.start; !stopping && (config.end === 0 || index < config.end); index += config.stride) {
    const plan = planInput(config.runSeed, index, variants, config.rates);
    send({ t: 'begin', index, budgetMs: inputBudgetMs(plan) });
    // Let the IPC write go out (the runner must know the input if this one hangs) and a stop
    // message come in.
    await new Promise((resolve) => setImmediate(resolve));
    const r = await executeInput(ws, plan, config.runSeed, undefined, (name) => send({ t: 'target', name }));
    stats.inputs++;
    stats.executions += r.results.length;
    if (plan.cli) stats.cliInputs++;
    for (const t of r.results) {
      const row = (stats.targets[t.target] ??= [0, 0, 0]);
      row[t.outcome === 'ok' ? 0 : t.outcome === 'rejected' ? 1 : 2]++;
      if (t.ms > stats.slowestTarget.ms) stats.slowestTarget = { target: t.target, ms: t.ms };
    }
    stats.maxInputMs = Math.max(stats.maxInputMs, r.ms);
    stats.maxMemoryGrowth = Math.max(stats.maxMemoryGrowth, r.memoryGrowth);
    stats.maxMemoryRatio = Math.max(stats.maxMemoryRatio, r.memoryGrowth / plan.variant.model.metadataBytes);
    if (r.finding) send({ t: 'finding', finding: r.finding });
    if (Date.now() - lastFlush > 250) {
      send({ t: 'stats', stats });
      stats = emptyStats();
      lastFlush = Date.now();
    }
  }
  send({ t: 'stats', stats });
  send({ t: 'done' });
  process.disconnect();
}

process.once('message', (m: ParentMessage) => {
  if (m.t !== 'start') return;
  main(m.config).catch((err) => {
    process.stderr.write(`fuzz worker failed: ${(err as Error).stack ?? err}\n`);
    process.exit(70);
  });
});
