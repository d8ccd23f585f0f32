// The fuzzer in `npm test`: a short seeded run (about 25 s) over every target, and a replay of
// every stored regression in test/fuzz/regressions/. A long run is `npm run fuzz`
// (docs/SECURITY.md). A regression whose status is "open" names a bug in code this suite does
// not own; it runs as a todo, and the short run tolerates only findings with its signature.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { fastTempRoot } from './harness.js';
import { formatReport, REGRESSION_DIR, runFuzz } from './run.js';
import { buildVariants } from './seeds.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));

interface StoredRegression {
  status: 'open' | 'fixed';
  kind: string;
  target: string;
  message: string;
  signature: string;
  /** for open ones: the file to change and how */
  needs?: string;
}

function regressions(): Array<{ file: string; stored: StoredRegression }> {
  if (!fs.existsSync(REGRESSION_DIR)) return [];
  return fs.readdirSync(REGRESSION_DIR).filter((f) => f.endsWith('.json')).sort().map((f) => ({
    file: path.join(REGRESSION_DIR, f),
    stored: JSON.parse(fs.readFileSync(path.join(REGRESSION_DIR, f), 'utf8')) as StoredRegression,
  }));
}

// The short run is bounded by a count of inputs (indices 0..N-1), not by time, so it covers the
// same seeded inputs on a fast machine as on a slow one; the time is only a ceiling.
const SHORT_RUN_INPUTS = Number(process.env.STRATA_FUZZ_INPUTS ?? 160);
const SHORT_RUN_SECONDS = Number(process.env.STRATA_FUZZ_SECONDS ?? 300);
const SHORT_RUN_SEED = Number(process.env.STRATA_FUZZ_SEED ?? 20261122);

test(`a ${SHORT_RUN_INPUTS}-input fuzz run (seed ${SHORT_RUN_SEED}) finds no crash, hang, memory blow-up or escape`, { timeout: 600_000 }, async (t) => {
  const saveDir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-fuzz-findings-'));
  const report = await runFuzz({
    seconds: SHORT_RUN_SECONDS, executions: 0, inputs: SHORT_RUN_INPUTS, workers: 1, seed: SHORT_RUN_SEED, saveDir,
    rates: { repair: 0.25, tar: 0.5, extract: 0.2, cli: 0.01 }, verbose: false,
  });
  for (const line of formatReport(report).split('\n')) t.diagnostic(line);
  const open = new Set(regressions().filter((r) => r.stored.status === 'open').map((r) => r.stored.signature));
  const unknown = report.findings.filter((f) => !open.has(f.signature));
  for (const f of report.findings.filter((x) => open.has(x.signature))) t.diagnostic(`known open finding: ${f.finding.kind} in ${f.finding.target}: ${f.finding.message}`);
  assert.ok(report.inputs > 20, `only ${report.inputs} inputs ran`);
  assert.deepEqual(unknown.map((f) => `${f.finding.kind} in ${f.finding.target}: ${f.finding.message} (recipe saved in ${f.savedAs}; replay with node --import tsx test/fuzz/run.ts --replay <file>)`), []);
  fs.rmSync(saveDir, { recursive: true, force: true });
});

// Each regression replays in its own process with a hard time bound, since a hang is among the
// things it may reproduce. The seed images are built once and shared.
const stored = regressions();
let seedDir: string | undefined;
const seeds = async () => {
  if (!seedDir) {
    seedDir = fs.mkdtempSync(path.join(fastTempRoot(), 'strata-fuzz-regression-seeds-'));
    await buildVariants(seedDir);
  }
  return seedDir;
};

for (const { file, stored: r } of stored) {
  const name = `regression ${path.basename(file, '.json')}: ${r.kind} in ${r.target} (${r.message.slice(0, 80)}) stays fixed`;
  test(name, r.status === 'open' ? { todo: r.needs ?? 'open finding' } : {}, async () => {
    const dir = await seeds();
    // Its scratch folder goes under the seeds' folder: a replay killed at its bound leaves
    // nothing behind once the suite ends.
    const out = spawnSync(process.execPath, ['--import', 'tsx', '--max-old-space-size=256', path.join(HERE, 'run.ts'), '--replay', file, '--seeds', dir], {
      cwd: path.join(HERE, '..', '..'), timeout: 30_000, killSignal: 'SIGKILL', encoding: 'utf8', env: { ...process.env, STRATA_FUZZ_TMP: dir },
    });
    assert.equal(out.status, 0, `replay exited ${out.status ?? out.signal}:\n${out.stdout}\n${out.stderr}`);
  });
}

test.after(() => {
  if (seedDir) fs.rmSync(seedDir, { recursive: true, force: true });
});
