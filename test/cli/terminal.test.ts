// The CLI in a real pseudo-terminal (a tmux pane) and piped: the progress view is drawn on a
// terminal and leaves its summary on screen; piped runs print plain lines and no escape codes;
// NO_COLOR and FORCE_COLOR do what they say.
import { before, after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { STRATA, REPO, tempDir } from '../helpers/cli.js';

const TMUX_AVAILABLE = spawnSync('tmux', ['-V']).status === 0;
const SGR = /\x1b\[[0-9;]*m/;
const ESCAPE = /\x1b/;
const BAR = /[█░]/;

// About 40 MB in 30,000 small files: enough work (a few seconds) for the view to load and draw
// while mkfs still runs, since mkfs reports progress per few hundred files.
const DIRECTORIES = 200;
const FILES_PER_DIRECTORY = 150;
const FILE_SIZE = 1365;

let workDir = '';
let source = '';

before(() => {
  workDir = tempDir('strata-terminal-');
  source = path.join(workDir, 'src');
  const content = crypto.randomBytes(DIRECTORIES * FILES_PER_DIRECTORY * FILE_SIZE);
  let at = 0;
  for (let d = 0; d < DIRECTORIES; d++) {
    const dir = path.join(source, `d${d}`);
    fs.mkdirSync(dir, { recursive: true });
    for (let f = 0; f < FILES_PER_DIRECTORY; f++, at += FILE_SIZE) fs.writeFileSync(path.join(dir, `f${f}`), content.subarray(at, at + FILE_SIZE));
  }
});

after(() => {
  if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
});

/** The environment of a person at a terminal: none of the variables that change the output. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of ['CI', 'CONTINUOUS_INTEGRATION', 'NO_COLOR', 'FORCE_COLOR', 'STRATA_DEBUG']) delete env[name];
  return { ...env, ...extra };
}

interface TerminalRun {
  /** what the pane shows at the end, as text */
  screen: string;
  /** every byte the pane received, escape codes included */
  raw: string;
  exitCode: number;
}

/**
 * Runs one command line in a fresh tmux server (own socket, 120x30 pane) and returns the final
 * screen and the raw bytes. The pane waits for a signal before starting, so the raw log misses
 * nothing, and stays open after the command, so the screen can be read.
 */
function runInTerminal(args: string[], env: Record<string, string> = {}, timeoutMs = 120_000): TerminalRun {
  const socket = `strata-test-${process.pid}-${crypto.randomBytes(4).toString('hex')}`;
  const rawPath = path.join(workDir, `${socket}.raw`);
  const tmux = (tmuxArgs: string[], timeout = 10_000) => {
    const r = spawnSync('tmux', ['-L', socket, ...tmuxArgs], { env: cleanEnv(), timeout, encoding: 'utf8' });
    if (r.error) throw r.error;
    if (r.status !== 0) throw new Error(`tmux ${tmuxArgs[0]} failed: ${r.stderr}`);
    return r.stdout;
  };
  const unset = ['CI', 'CONTINUOUS_INTEGRATION', 'NO_COLOR', 'FORCE_COLOR', 'STRATA_DEBUG'].map((n) => `-u ${n}`).join(' ');
  const assignments = Object.entries(env).map(([k, v]) => `${k}='${v}'`).join(' ');
  const command = `env ${unset} ${assignments} '${process.execPath}' '${STRATA}' ${args.map((a) => `'${a}'`).join(' ')}`;
  const script = `tmux -L ${socket} wait-for go; cd '${REPO}'; ${command}; echo "EXIT=$?"; tmux -L ${socket} wait-for -S finished; sleep 120`;
  tmux(['new-session', '-d', '-x', '120', '-y', '30', script]);
  try {
    tmux(['pipe-pane', '-o', `cat >> '${rawPath}'`]);
    tmux(['wait-for', '-S', 'go']);
    tmux(['wait-for', 'finished'], timeoutMs);
    // pipe-pane copies asynchronously: wait until the raw log has the end too.
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline && !(fs.existsSync(rawPath) && fs.readFileSync(rawPath, 'utf8').includes('EXIT='))) spawnSync('sleep', ['0.05']);
    const screen = tmux(['capture-pane', '-p', '-J']);
    const exit = /EXIT=(\d+)/.exec(screen);
    return { screen, raw: fs.readFileSync(rawPath, 'utf8'), exitCode: exit ? Number(exit[1]) : -1 };
  } finally {
    spawnSync('tmux', ['-L', socket, 'kill-server']);
  }
}

function pipedRun(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [STRATA, ...args], { env: cleanEnv(env), encoding: 'utf8', timeout: 120_000 });
  if (r.error) throw r.error;
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

test('mkfs --from in a terminal draws the progress view and leaves its summary on screen', { skip: !TMUX_AVAILABLE && 'tmux is not installed', timeout: 180_000 }, () => {
  const image = path.join(workDir, 'tty.img');
  const run = runInTerminal(['mkfs', '--from', source, image]);
  assert.equal(run.exitCode, 0, run.screen);
  // Drawn while the work ran: a live line with its bar and a percentage below 100 or an item count.
  const liveFrames = run.raw.split(/\r|\n/).filter((l) => BAR.test(l) || /writing metadata\S*\s+\d+ items/.test(l));
  assert.ok(liveFrames.length > 0, `no live progress frame was drawn:\n${JSON.stringify(run.raw.slice(0, 2000))}`);
  assert.match(run.raw, SGR, 'a terminal gets colour by default');
  // Left on screen: the summary of each phase, then the command's own output, and no live line.
  const screen = run.screen;
  assert.match(screen, /^✔ mkfs: writing data: 39\.1 MiB of 39\.1 MiB in [\d.]+ s/m, screen);
  assert.match(screen, /^✔ mkfs: writing metadata: 30000 items in /m, screen);
  assert.ok(screen.indexOf('✔ mkfs: writing metadata') < screen.indexOf('created strata image'), screen);
  assert.doesNotMatch(screen, BAR, 'the live line was replaced by the summary');
});

test('NO_COLOR in a terminal removes every colour code and keeps the view', { skip: !TMUX_AVAILABLE && 'tmux is not installed', timeout: 180_000 }, () => {
  const image = path.join(workDir, 'tty-nocolor.img');
  const run = runInTerminal(['mkfs', '--from', source, image], { NO_COLOR: '1' });
  assert.equal(run.exitCode, 0, run.screen);
  assert.doesNotMatch(run.raw, SGR);
  assert.match(run.screen, /^✔ mkfs: writing data: /m, run.screen);
});

test('mkfs --from piped prints plain progress lines only: no escape codes, no view', { timeout: 180_000 }, () => {
  const image = path.join(workDir, 'piped.img');
  // A summary is printed however quick the run turns out on this machine.
  const r = pipedRun(['mkfs', '--from', source, image], { STRATA_PROGRESS_SUMMARY_MS: '0' });
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stderr, ESCAPE);
  assert.doesNotMatch(r.stdout, ESCAPE);
  const lines = r.stderr.trimEnd().split('\n');
  assert.ok(lines.every((l) => l.startsWith('strata: ')), r.stderr);
  assert.match(lines[lines.length - 1]!, /^strata: done: mkfs: writing data: 39\.1 MiB of 39\.1 MiB in .*; mkfs: writing metadata: 30000 items in /);
  assert.match(r.stdout, /^created strata image/);
});

test('FORCE_COLOR colours piped errors and help; NO_COLOR wins over it', () => {
  const missing = path.join(workDir, 'no-such.img');
  const forced = pipedRun(['dump', 'super', missing], { FORCE_COLOR: '1' });
  assert.equal(forced.code, 8);
  assert.match(forced.stderr, SGR);
  assert.equal(forced.stderr.replace(/\x1b\[[0-9;]*m/g, ''), `strata: ${missing}: No such file or directory\n`);
  const plain = pipedRun(['dump', 'super', missing]);
  assert.equal(plain.stderr, `strata: ${missing}: No such file or directory\n`);
  const both = pipedRun(['dump', 'super', missing], { FORCE_COLOR: '1', NO_COLOR: '1' });
  assert.doesNotMatch(both.stderr, ESCAPE);
  assert.match(pipedRun(['--help'], { FORCE_COLOR: '1' }).stdout, SGR);
  assert.doesNotMatch(pipedRun(['--help']).stdout, ESCAPE);
});

test('CI in a terminal gets plain lines instead of the view', { skip: !TMUX_AVAILABLE && 'tmux is not installed', timeout: 180_000 }, () => {
  const image = path.join(workDir, 'tty-ci.img');
  const run = runInTerminal(['mkfs', '--from', source, image], { CI: 'true', STRATA_PROGRESS_SUMMARY_MS: '0' });
  assert.equal(run.exitCode, 0, run.screen);
  assert.doesNotMatch(run.raw, ESCAPE, 'no escape code at all, colour included');
  assert.match(run.screen, /^strata: done: mkfs: writing data: /m, run.screen);
});
