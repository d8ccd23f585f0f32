// Running the real CLI in tests: `node bin/strata ...` with a timeout, capturing stdout,
// stderr and the exit code. Uses the compiled dist/ (npm test builds it first).
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import { fileURLToPath } from 'node:url';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const STRATA = path.join(REPO, 'bin', 'strata');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  stdoutBytes: Buffer;
}

export function strata(args: string[], options: { env?: NodeJS.ProcessEnv; input?: Buffer; timeoutMs?: number; cwd?: string } = {}): CliResult {
  const r: SpawnSyncReturns<Buffer> = spawnSync(process.execPath, [STRATA, ...args], {
    env: { ...process.env, CI: '1', NO_COLOR: '1', ...options.env },
    input: options.input,
    timeout: options.timeoutMs ?? 120_000,
    maxBuffer: 1 << 30,
    cwd: options.cwd,
  });
  if (r.error) throw r.error;
  return { code: r.status ?? -1, stdout: r.stdout.toString(), stderr: r.stderr.toString(), stdoutBytes: r.stdout };
}

export function tempDir(prefix = 'strata-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function sha256File(p: string): string {
  return crypto.createHash('sha256').update(fs.readFileSync(p)).digest('hex');
}

/** One line on stderr, no stack trace. */
export function isOneLineError(stderr: string): boolean {
  const lines = stderr.trim().split('\n').filter((l) => !l.startsWith('strata: warning:'));
  return lines.length === 1 && lines[0]!.startsWith('strata: ') && !/\n\s+at /.test(stderr);
}
