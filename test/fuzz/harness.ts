// One fuzz input from start to end: regenerate it from (run seed, input number), write the
// mutated members, run the targets, measure time and memory, and turn a failure into a
// regression recipe. Shared by the worker loop (worker.ts), the runner (run.ts) and the
// regression replay test.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadChecksummer, type Checksummer } from '../../format/checksum.js';
import { openImage } from '../../format/image.js';
import { walkImage } from '../../fs/export.js';
import { FsReader } from '../../fs/reader.js';
import { escapeName } from '../../format/keys.js';
import { modelImage, type ImageModel } from './model.js';
import { applyPatches, applySteps, describeStep, diffPatches, drawSteps, mutationContext, type MutationContext, type Patch, type Step, type WorkingImage } from './mutate.js';
import { inputSeed, Rng } from './random.js';
import { VARIANTS, type BuiltVariant } from './seeds.js';
import { Finding, prepareSandbox, runCliTargets, runInProcess, type FindingKind, type TargetEnv, type TargetResult } from './targets.js';

/** Per target run on one input: the issue's bound for a 1 MiB image. */
export const TIME_BOUND_MS = 10_000;
/** CLI commands run per CLI input (dump ls/cat/tar/extract, then the fsck and scrub hooks). */
export const CLI_COMMANDS_PER_INPUT = 9;

/** How long the runner lets one input run before it kills the worker: every target at its bound. */
export function inputBudgetMs(plan: { cli: boolean }): number {
  // In process, one input normally takes well under 100 ms; the issue's bound is 10 s an input.
  return TIME_BOUND_MS * (plan.cli ? CLI_COMMANDS_PER_INPUT + 1 : 1) + 5000;
}

/** A folder on tmpfs when there is one: extraction creates and removes files on every input. */
export function fastTempRoot(): string {
  if (process.env.STRATA_FUZZ_TMP) return process.env.STRATA_FUZZ_TMP;
  try {
    fs.accessSync('/dev/shm', fs.constants.W_OK);
    return '/dev/shm';
  } catch {
    return os.tmpdir();
  }
}
/** Output (cat, tar) after which a target stops: a sparse file can claim 2^53 bytes. */
export const OUTPUT_CAP = 64 << 20;

/**
 * Peak RSS growth allowed for one input. The seeds have 60-300 KiB of metadata; the bound is
 * generous against garbage-collector slack (a young generation alone is 16-32 MiB) while still
 * catching any allocation driven by a size read from disk (those go to 4 GiB).
 */
export function memoryBound(metadataBytes: number): number {
  return 96 * 1024 * 1024 + 64 * metadataBytes;
}

export interface Variant {
  built: BuiltVariant;
  model: ImageModel;
  ctx: MutationContext;
  seedFiles: string[];
}

export async function prepareVariants(built: BuiltVariant[]): Promise<Variant[]> {
  const checksums = await loadChecksummer();
  const out: Variant[] = [];
  for (const b of built) {
    const model = modelImage(b.members, checksums);
    out.push({ built: b, model, ctx: mutationContext(model, checksums), seedFiles: await seedFiles(b) });
  }
  return out;
}

/** Regular files of an unmutated variant, as image paths (the `dump cat` target's list). */
async function seedFiles(b: BuiltVariant): Promise<string[]> {
  const dir = fs.mkdtempSync(path.join(fastTempRoot(), 'strata-fuzz-seed-'));
  try {
    const paths = b.members.map((m, i) => {
      const p = path.join(dir, `m${i}.img`);
      fs.writeFileSync(p, m);
      return p;
    });
    const img = await openImage(paths.join(':'));
    try {
      const files: string[] = [];
      for (const item of walkImage(new FsReader(img), '/')) {
        // `dump cat` takes a path argument: names that are not printable text are left out.
        if (item.kind === 'file' && !item.hardlinkOf && escapeName(item.rel) === item.rel.toString('latin1')) files.push(`/${item.rel.toString('latin1')}`);
      }
      return files;
    } finally {
      img.close();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export interface InputPlan {
  index: number;
  seed: number;
  variant: Variant;
  steps: Step[];
  repair: boolean;
  tar: boolean;
  tarRoundTrip: boolean;
  extract: boolean;
  cli: boolean;
}

export interface Rates {
  /** fraction of inputs that also run the in-process scrub/fsck hooks */
  repair: number;
  /** fraction of inputs that also run dump tar / extract in process */
  tar: number;
  extract: number;
  /** fraction of inputs that also run the CLI targets */
  cli: number;
}

export const DEFAULT_RATES: Rates = { repair: 0.25, tar: 0.5, extract: 0.2, cli: 0.005 };

export function planInput(runSeed: number, index: number, variants: Variant[], rates: Rates): InputPlan {
  const seed = inputSeed(runSeed, index);
  const rng = new Rng(seed);
  const variant = rng.weighted(variants.map((v) => [v.built.spec.weight, v] as const));
  const steps = drawSteps(rng, variant.ctx, variant.built.members);
  const tar = rng.chance(rates.tar);
  const plan = { index, seed, variant, steps, tar, tarRoundTrip: tar && rng.chance(0.2), extract: rng.chance(rates.extract), cli: rng.chance(rates.cli), repair: false };
  // Drawn last, so adding this target left every earlier recipe's input unchanged.
  plan.repair = rng.chance(rates.repair);
  return plan;
}

export interface Workspace {
  dir: string;
  sandbox: string;
  checksums: Checksummer;
}

export async function makeWorkspace(dir: string): Promise<Workspace> {
  fs.mkdirSync(dir, { recursive: true });
  const sandbox = path.join(dir, 'sandbox');
  prepareSandbox(sandbox);
  return { dir, sandbox, checksums: await loadChecksummer() };
}

/** Write the members of one input as files named after the variant. */
export function writeMembers(ws: Workspace, variant: Variant, work: WorkingImage): string[] {
  return work.members.map((m, i) => {
    const p = path.join(ws.dir, `${variant.built.spec.name}.m${i}.img`);
    fs.writeFileSync(p, m);
    return p;
  });
}

// Peak RSS of this process, reset per input (Linux: /proc/self/clear_refs "5" resets VmHWM).
const canResetPeak = (() => {
  try {
    fs.writeFileSync('/proc/self/clear_refs', '5');
    return /VmHWM/.test(fs.readFileSync('/proc/self/status', 'utf8'));
  } catch {
    return false;
  }
})();

function statusKiB(field: 'VmHWM' | 'VmRSS'): number {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(fs.readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) : 0;
}

export interface InputResult {
  results: TargetResult[];
  ms: number;
  /** peak RSS growth during the input, bytes (0 where it cannot be measured) */
  memoryGrowth: number;
  finding?: FindingRecord;
}

export interface FindingRecord {
  kind: FindingKind;
  target: string;
  message: string;
  detail?: string;
  signature: string;
  recipe: Recipe;
}

/** Everything needed to rebuild one input: stored in test/fuzz/regressions/*.json. */
export interface Recipe {
  variant: string;
  /** sha256 of the seed members the patches apply to */
  imageSha256: string;
  runSeed?: number;
  index?: number;
  steps: Step[];
  /** human-readable steps */
  description: string[];
  patches: Patch[];
  sizes: number[];
  /** in-process targets to run (tar, extract) and whether the CLI ran */
  options: { tar: boolean; tarRoundTrip: boolean; extract: boolean; cli: boolean; repair?: boolean };
}

/** A finding's identity for de-duplication: kind, target and the message without numbers. */
export function signatureOf(kind: string, target: string, message: string): string {
  const general = message.replace(/\/(dev|tmp)\/[^\s:]+/g, 'PATH').replace(/0x[0-9a-f]+|\d+/gi, 'N');
  return `${kind}|${target}|${general.slice(0, 160)}`;
}

export async function executeInput(ws: Workspace, plan: InputPlan, runSeed: number | undefined, work?: WorkingImage, onTarget?: (target: string) => void): Promise<InputResult> {
  const v = plan.variant;
  if (!work) {
    work = { members: v.built.members.map((m) => Buffer.from(m)) };
    applySteps(plan.steps, work, v.ctx);
  }
  const memberPaths = writeMembers(ws, v, work);
  const start = Date.now();
  if (canResetPeak) fs.writeFileSync('/proc/self/clear_refs', '5');
  const rssAtStart = canResetPeak ? statusKiB('VmRSS') : 0;
  const env: TargetEnv = {
    checksums: ws.checksums, model: v.model, memberPaths, sandbox: ws.sandbox, seedFiles: v.seedFiles,
    timeBoundMs: TIME_BOUND_MS, deadline: start + TIME_BOUND_MS, outputCap: OUTPUT_CAP, onTarget,
  };
  const results: TargetResult[] = [];
  let finding: FindingRecord | undefined;
  const record = (kind: FindingKind, target: string, message: string, detail?: string): FindingRecord => {
    const { patches, sizes } = diffPatches(v.built.members, work!);
    return {
      kind, target, message, detail, signature: signatureOf(kind, target, message),
      recipe: {
        variant: v.built.spec.name, imageSha256: v.built.sha256, runSeed, index: plan.index, steps: plan.steps,
        description: plan.steps.map(describeStep), patches, sizes,
        options: { tar: plan.tar, tarRoundTrip: plan.tarRoundTrip, extract: plan.extract, cli: plan.cli, repair: plan.repair },
      },
    };
  };
  try {
    results.push(...(await runInProcess(work.members, env, plan)));
    if (plan.cli) {
      const rng = new Rng(plan.seed ^ 0x5a5a5a5a);
      results.push(...(await runCliTargets(env, (n) => rng.int(n), TIME_BOUND_MS)));
    }
  } catch (err) {
    if (!(err instanceof Finding)) throw err;
    finding = record(err.kind, err.target, err.message, err.detail);
  }
  const ms = Date.now() - start;
  const memoryGrowth = canResetPeak ? Math.max(0, statusKiB('VmHWM') - rssAtStart) * 1024 : 0;
  if (!finding && memoryGrowth > memoryBound(v.model.metadataBytes)) {
    finding = record('memory', 'input', `peak RSS grew by ${Math.round(memoryGrowth / 1048576)} MiB (bound ${Math.round(memoryBound(v.model.metadataBytes) / 1048576)} MiB)`);
  }
  return { results, ms, memoryGrowth, finding };
}

/** Rebuild a stored recipe's input: exact patches when the seed bytes match, else its steps. */
export function rebuildInput(recipe: Recipe, variants: Variant[]): { plan: InputPlan; work: WorkingImage; how: 'patches' | 'steps' } {
  const variant = variants.find((v) => v.built.spec.name === recipe.variant);
  if (!variant) throw new Error(`regression names unknown variant ${recipe.variant} (known: ${VARIANTS.map((v) => v.name).join(', ')})`);
  const plan: InputPlan = { index: recipe.index ?? 0, seed: 0, variant, steps: recipe.steps, ...recipe.options, repair: recipe.options.repair ?? false };
  if (variant.built.sha256 === recipe.imageSha256) return { plan, work: applyPatches(variant.built.members, recipe.patches, recipe.sizes), how: 'patches' };
  const work: WorkingImage = { members: variant.built.members.map((m) => Buffer.from(m)) };
  applySteps(recipe.steps, work, variant.ctx);
  return { plan, work, how: 'steps' };
}
