// The CLI the fuzzer runs. dist/ is rebuilt by anyone who runs tsc, and a file half-written by
// a build is a crash that is not strata's: a fuzz run copies bin/ and dist/ once, at its start,
// and runs that copy (its node_modules is a link to the project's).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { REPO, STRATA } from '../helpers/cli.js';

/** Copy bin/, dist/ and package.json under `dir`; returns the copy's bin/strata. */
export function snapshotCli(dir: string): string {
  fs.mkdirSync(dir, { recursive: true });
  fs.cpSync(path.join(REPO, 'bin'), path.join(dir, 'bin'), { recursive: true });
  fs.cpSync(path.join(REPO, 'dist'), path.join(dir, 'dist'), { recursive: true });
  fs.copyFileSync(path.join(REPO, 'package.json'), path.join(dir, 'package.json'));
  fs.symlinkSync(path.join(REPO, 'node_modules'), path.join(dir, 'node_modules'));
  return path.join(dir, 'bin', 'strata');
}

/** Source files newer than dist/: the CLI targets would test older code than the in-process ones. */
export function distIsStale(): boolean {
  let built: number;
  try {
    built = fs.statSync(path.join(REPO, 'dist', 'cli', 'main.js')).mtimeMs;
  } catch {
    return true;
  }
  for (const top of ['cli', 'commands', 'format', 'fs', 'host', 'repair']) {
    const stack = [path.join(REPO, top)];
    while (stack.length) {
      const d = stack.pop()!;
      for (const e of fs.readdirSync(d, { withFileTypes: true })) {
        const p = path.join(d, e.name);
        if (e.isDirectory()) stack.push(p);
        else if (/\.tsx?$/.test(e.name) && fs.statSync(p).mtimeMs > built) return true;
      }
    }
  }
  return false;
}

/** Run a CLI (default bin/strata) synchronously, as test/helpers/cli.ts does. */
export function strata(args: string[], options: { env?: NodeJS.ProcessEnv; cli?: string } = {}): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [options.cli ?? process.env.STRATA_FUZZ_CLI ?? STRATA, ...args], {
    env: { ...process.env, CI: '1', NO_COLOR: '1', ...options.env }, timeout: 120_000, maxBuffer: 1 << 26, encoding: 'utf8',
  });
  if (r.error) throw r.error;
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}
