// The golden fsck cases, e2fsprogs shape: golden-images/f_<what>/ holds build.ts (a base image
// made by `strata mkfs`, then damaged with the format codecs through fsck-corrupt.ts), expect.1
// (what the first `strata fsck -y` prints, and its exit status) and expect.2 (the second run:
// clean, exit 0).
//
// Regenerate expect files after a deliberate change of fsck's output:
//   npx tsc -p tsconfig.json && node --import tsx test/repair/fsck-golden.ts --regen [f_case ...]
// Run cases without touching expect files (prints the differences):
//   node --import tsx test/repair/fsck-golden.ts [f_case ...]
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { REPO, STRATA } from '../helpers/cli.js';
import { type BaseName, type CaseDef, makeBase, memberNames, Workbench } from './fsck-corrupt.js';

export const GOLDEN_DIR = path.join(REPO, 'golden-images');

/** Every case folder, sorted. */
export function caseNames(): string[] {
  return fs.readdirSync(GOLDEN_DIR).filter((n) => n.startsWith('f_') && fs.existsSync(path.join(GOLDEN_DIR, n, 'build.ts'))).sort();
}

export async function loadCase(name: string): Promise<CaseDef> {
  const mod = (await import(pathToFileURL(path.join(GOLDEN_DIR, name, 'build.ts')).href)) as { default: CaseDef };
  return mod.default;
}

/** Builds cases, making each base image once and copying it for every case that starts from it. */
export class GoldenBuilder {
  private readonly bases = new Map<BaseName, Promise<string>>();

  private base(base: BaseName): Promise<string> {
    let p = this.bases.get(base);
    if (!p) {
      p = (async () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), `strata-fsck-base-${base}-`));
        await makeBase(dir, base);
        return dir;
      })();
      this.bases.set(base, p);
    }
    return p;
  }

  /** Build case `name` in `dir`; returns the image spec relative to `dir`. */
  async build(name: string, dir: string): Promise<string> {
    const def = await loadCase(name);
    const baseDir = await this.base(def.base);
    fs.mkdirSync(dir, { recursive: true });
    const names = memberNames(def.base);
    for (const n of names) fs.copyFileSync(path.join(baseDir, n), path.join(dir, n));
    const spec = names.join(':');
    await def.damage(new Workbench(dir, spec));
    return spec;
  }

  /** Build the case, run fsck -n (it must not write), then fsck -y twice. */
  async run(name: string): Promise<CaseResult> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `strata-${name}-`));
    try {
      const spec = await this.build(name, dir);
      const before = hashMembers(dir, spec);
      const checkOnly = await fsckRun(['-n', spec], dir);
      const readOnlyKept = hashMembers(dir, spec) === before;
      const first = await fsckRun(['-y', spec], dir);
      const second = await fsckRun(['-y', spec], dir);
      return { name, readOnlyKept, checkOnly, first, second };
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }

  /** Remove the bases built. */
  async clean(): Promise<void> {
    for (const p of this.bases.values()) fs.rmSync(await p, { recursive: true, force: true });
    this.bases.clear();
  }
}

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

export function fsckRun(args: string[], cwd: string, timeoutMs = 120_000): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [STRATA, 'fsck', ...args], { cwd, env: { ...process.env, CI: '1', NO_COLOR: '1' } });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() });
    });
  });
}

/** What an expect file holds: fsck's stdout, then the exit status (e2fsprogs writes it the same way). */
export function expectText(r: Run): string {
  return `${r.stdout}Exit status is ${r.code}\n`;
}

export function hashMembers(dir: string, spec: string): string {
  const h = crypto.createHash('sha256');
  for (const m of spec.split(':')) h.update(fs.readFileSync(path.join(dir, m)));
  return h.digest('hex');
}

export interface CaseResult {
  name: string;
  /** fsck -n changed no byte */
  readOnlyKept: boolean;
  checkOnly: Run;
  first: Run;
  second: Run;
}

async function main(argv: string[]): Promise<number> {
  const regen = argv.includes('--regen');
  const names = argv.filter((a) => !a.startsWith('--'));
  let failed = 0;
  const builder = new GoldenBuilder();
  try {
    for (const name of names.length ? names : caseNames()) {
      const r = await builder.run(name);
      const dir = path.join(GOLDEN_DIR, name);
      const texts = [expectText(r.first), expectText(r.second)];
      if (regen) {
        texts.forEach((t, i) => fs.writeFileSync(path.join(dir, `expect.${i + 1}`), t));
        process.stdout.write(`${name}: expect.1 and expect.2 written (exit ${r.first.code}, then ${r.second.code})\n`);
        continue;
      }
      const same = texts.every((t, i) => fs.existsSync(path.join(dir, `expect.${i + 1}`)) && fs.readFileSync(path.join(dir, `expect.${i + 1}`), 'utf8') === t);
      if (!same || !r.readOnlyKept) failed++;
      process.stdout.write(`${name}: ${same ? 'ok' : 'DIFFERS'}${r.readOnlyKept ? '' : ' (fsck -n wrote!)'}\n`);
      if (!same) process.stdout.write(texts.join('---\n') + [r.first.stderr, r.second.stderr].filter(Boolean).join('---\n'));
    }
  } finally {
    await builder.clean();
  }
  return failed ? 1 : 0;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = await main(process.argv.slice(2));
}
