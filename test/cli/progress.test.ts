import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { formatDuration, percentOf, plainProgressLine, phaseSummary, progressParts, ProgressTracker, type PhaseProgress } from '../../cli/progress.js';
import { StdOutput, colorEnabled, ciEnabled } from '../../cli/output.js';
import { formatBytes } from '../../cli/format.js';

const MiB = 1024 * 1024;

function phase(over: Partial<PhaseProgress>): PhaseProgress {
  return { phase: 'mkfs: writing data', unit: 'bytes', done: 0, total: undefined, errors: undefined, startedAt: 0, ...over };
}

/** A stream that keeps what is written, standing in for stdout or stderr. */
function sink(isTTY = false): Writable & { text(): string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer | string, _enc, done) {
      chunks.push(chunk.toString());
      done();
    },
  }) as Writable & { text(): string; isTTY?: boolean; fd?: number };
  if (isTTY) {
    stream.isTTY = true;
    // A descriptor number that is never open: enough to choose the mode, never written to.
    stream.fd = 1_000_000;
  }
  stream.text = () => chunks.join('');
  return stream;
}

function manualClock(start = 1_000_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

test('percentages never pass 100, whatever done and total say', () => {
  assert.equal(percentOf(0, 100), 0);
  assert.equal(percentOf(50, 100), 50);
  assert.equal(percentOf(999, 1000), 99, '99.9% is not yet 100%');
  assert.equal(percentOf(100, 100), 100);
  assert.equal(percentOf(150, 100), 100);
  assert.equal(percentOf(5, 0), 100);
  assert.equal(percentOf(-5, 100), 0);
  assert.equal(percentOf(5, undefined), undefined);
  assert.equal(percentOf(5, Number.NaN), undefined);
});

test('a total smaller than the work done grows to the work done instead of showing more than 100%', () => {
  const parts = progressParts(phase({ done: 41 * MiB, total: 40 * MiB }), 2000);
  assert.equal(parts.percent, 100);
  assert.equal(parts.amount, '41.0 MiB of 41.0 MiB');
  assert.equal(parts.eta, undefined, 'no time left is promised once the estimate is exceeded');
});

test('rate and time left appear once half a second of work gives them meaning', () => {
  assert.equal(progressParts(phase({ done: MiB, total: 10 * MiB }), 100).rate, undefined);
  const parts = progressParts(phase({ done: 5 * MiB, total: 10 * MiB }), 1000);
  assert.equal(parts.rate, '5.00 MiB/s');
  assert.equal(parts.eta, '1.0 s left');
});

test('items are counted in items and bytes in binary units', () => {
  assert.equal(progressParts(phase({ unit: 'items', done: 1200, total: 4000 }), 0).amount, '1200 of 4000 items');
  assert.equal(progressParts(phase({ unit: 'items', done: 7 }), 0).amount, '7 items');
  assert.equal(formatBytes(512), '512 B');
  assert.equal(formatBytes(4096), '4.00 KiB');
  assert.equal(formatBytes(39.1 * MiB), '39.1 MiB');
});

test('durations read like a clock once they pass a minute', () => {
  assert.equal(formatDuration(400), '0.4 s');
  assert.equal(formatDuration(12_400), '12 s');
  assert.equal(formatDuration(125_000), '2:05');
  assert.equal(formatDuration(3_723_000), '1:02:03');
  assert.equal(formatDuration(-5), '0.0 s');
});

test('a plain progress line has phase, amount, percent, rate, time left and errors, and no escape codes', () => {
  const line = plainProgressLine(phase({ phase: 'scrub', done: 20 * MiB, total: 40 * MiB, errors: 2 }), 4000);
  assert.equal(line, 'scrub: 20.0 MiB of 40.0 MiB (50%), 5.00 MiB/s, 4.0 s left, 2 errors');
  assert.doesNotMatch(line, /\x1b/);
});

test('a phase summary says what was done, or where the work stopped', () => {
  const p = phase({ done: 40 * MiB, total: 40 * MiB });
  assert.equal(phaseSummary(p, 2000, 'completed'), 'mkfs: writing data: 40.0 MiB of 40.0 MiB in 2.0 s (20.0 MiB/s)');
  assert.equal(phaseSummary({ ...p, done: 10 * MiB }, 2000, 'interrupted'), 'mkfs: writing data: interrupted at 10.0 MiB of 40.0 MiB (25%) after 2.0 s');
  assert.equal(phaseSummary({ ...p, done: 10 * MiB, errors: 1 }, 2000, 'failed'), 'mkfs: writing data: stopped at 10.0 MiB of 40.0 MiB (25%) after 2.0 s, 1 error');
});

test('the tracker keeps a phase start across reports and logs each phase that ends', () => {
  const clock = manualClock(0);
  const tracker = new ProgressTracker(clock.now);
  assert.equal(tracker.update('a', 1, 10, 'items', undefined), true);
  clock.advance(500);
  assert.equal(tracker.update('a', 5, 10, 'items', undefined), false);
  assert.equal(tracker.snapshot().current?.startedAt, 0);
  clock.advance(500);
  assert.equal(tracker.update('b', 1, undefined, 'bytes', 0), true);
  tracker.end('completed');
  const ended = tracker.endedPhases();
  assert.deepEqual(ended.map((l) => [l.phase.phase, l.phase.done, l.endedAt]), [['a', 5, 1000], ['b', 1, 1000]]);
  assert.equal(tracker.snapshot().current, undefined);
  tracker.end('completed');
  assert.equal(tracker.endedPhases().length, 2, 'ending twice logs nothing more');
});

test('without a terminal, progress is one plain line per interval and a summary, with no escape codes', () => {
  const clock = manualClock();
  const stdout = sink();
  const stderr = sink();
  const out = new StdOutput(false, {}, { stdout: stdout as never, stderr: stderr as never, clock: clock.now, lineIntervalMs: 3000 });
  assert.equal(out.progressMode, 'lines');
  for (let i = 0; i <= 100; i++) {
    out.progress('extract', i * MiB, 100 * MiB, 'bytes');
    clock.advance(100);
  }
  out.done();
  out.line('extracted');
  const lines = stderr.text().trimEnd().split('\n');
  assert.equal(lines.length, 4, stderr.text());
  assert.equal(lines[0], 'strata: extract: 30.0 MiB of 100.0 MiB (30%), 10.0 MiB/s, 7.0 s left');
  assert.equal(lines[3], 'strata: done: extract: 100.0 MiB of 100.0 MiB in 10 s (9.90 MiB/s)');
  assert.doesNotMatch(stderr.text(), /\x1b/);
  assert.equal(stdout.text(), 'extracted\n');
});

test('work done within a second prints nothing; longer work ends with a one-line summary', () => {
  const run = (lastedMs: number, outcome: 'completed' | 'failed' = 'completed') => {
    const clock = manualClock();
    const stderr = sink();
    const out = new StdOutput(false, {}, { stdout: sink() as never, stderr: stderr as never, clock: clock.now });
    out.progress('mkfs: writing data', 1, 3, 'bytes');
    clock.advance(lastedMs);
    out.progress('mkfs: writing data', 3, 3, 'bytes');
    out.progress('mkfs: writing metadata', 2, undefined, 'items');
    out.done(outcome);
    return stderr.text();
  };
  assert.equal(run(10), '');
  assert.equal(run(1500), 'strata: done: mkfs: writing data: 3 B of 3 B in 1.5 s (2 B/s); mkfs: writing metadata: 2 items in 0.0 s\n');
  assert.equal(run(10, 'failed'), '', 'a quick failure leaves the error line alone');
  assert.equal(run(1500, 'failed'), 'strata: failed: mkfs: writing data: 3 B of 3 B in 1.5 s (2 B/s); mkfs: writing metadata: stopped at 2 items after 0.0 s\n');
});

test('a command that reports no progress prints no summary', () => {
  const stderr = sink();
  const out = new StdOutput(false, {}, { stdout: sink() as never, stderr: stderr as never });
  out.done();
  out.done('failed');
  assert.equal(stderr.text(), '');
});

test('with --json and no terminal, progress is silent and warnings still go to stderr', () => {
  const stderr = sink();
  const stdout = sink();
  const out = new StdOutput(true, {}, { stdout: stdout as never, stderr: stderr as never });
  assert.equal(out.progressMode, 'off');
  out.progress('scrub', 1, 2, 'bytes');
  out.warn('member 1 missing');
  out.done();
  out.document({ version: 1, command: 'x' });
  assert.equal(stderr.text(), 'strata: warning: member 1 missing\n');
  assert.deepEqual(JSON.parse(stdout.text()), { version: 1, command: 'x' });
});

test('errors so far appear in plain lines when the work counts them', () => {
  const clock = manualClock();
  const stderr = sink();
  const out = new StdOutput(false, {}, { stdout: sink() as never, stderr: stderr as never, clock: clock.now, lineIntervalMs: 1000 });
  out.progress('scrub', 0, 10, 'items', 0);
  clock.advance(1000);
  out.progress('scrub', 5, 10, 'items', 3);
  out.done('failed');
  assert.match(stderr.text(), /^strata: scrub: 5 of 10 items \(50%\), 5 items\/s, 1\.0 s left, 3 errors\nstrata: failed: scrub: stopped at 5 of 10 items \(50%\) after 1\.0 s, 3 errors\n$/);
});

test('colour is off with NO_COLOR, on with FORCE_COLOR, and otherwise follows the terminal', () => {
  const tty = { isTTY: true } as NodeJS.WriteStream;
  const pipe = { isTTY: false } as NodeJS.WriteStream;
  assert.equal(colorEnabled(tty, {}), true);
  assert.equal(colorEnabled(pipe, {}), false);
  assert.equal(colorEnabled(tty, { NO_COLOR: '1' }), false);
  assert.equal(colorEnabled(tty, { NO_COLOR: '' }), true, 'an empty NO_COLOR is unset');
  assert.equal(colorEnabled(pipe, { FORCE_COLOR: '1' }), true);
  assert.equal(colorEnabled(tty, { FORCE_COLOR: '0' }), false);
  assert.equal(colorEnabled(pipe, { FORCE_COLOR: '1', NO_COLOR: '1' }), false, 'NO_COLOR wins');
  assert.equal(colorEnabled(tty, { TERM: 'dumb' }), false);
});

test('CI is recognised the way ink recognises it', () => {
  assert.equal(ciEnabled({ CI: 'true' }), true);
  assert.equal(ciEnabled({ CI: '' }), true);
  assert.equal(ciEnabled({ CI: '0' }), false);
  assert.equal(ciEnabled({ CI: 'false' }), false);
  assert.equal(ciEnabled({ CONTINUOUS_INTEGRATION: '1' }), true);
  assert.equal(ciEnabled({}), false);
});

test('a terminal gets the view unless CI is set or TERM is dumb', () => {
  const mode = (env: NodeJS.ProcessEnv) => new StdOutput(false, env, { stdout: sink(true) as never, stderr: sink(true) as never }).progressMode;
  assert.equal(mode({}), 'view');
  assert.equal(mode({ CI: '1' }), 'lines');
  assert.equal(mode({ TERM: 'dumb' }), 'lines');
});
