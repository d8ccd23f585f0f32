// The ink progress view, rendered with ink-testing-library and read frame by frame.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import React from 'react';
import { render } from 'ink-testing-library';
import { Chalk } from 'chalk';
import { ProgressView } from '../../cli/progress-view.js';
import type { LogLine, PhaseProgress, ProgressSnapshot } from '../../cli/progress.js';

const MiB = 1024 * 1024;
const plain = new Chalk({ level: 0 });
const coloured = new Chalk({ level: 1 });

function phase(over: Partial<PhaseProgress>): PhaseProgress {
  return { phase: 'mkfs: writing data', unit: 'bytes', done: 0, total: undefined, errors: undefined, startedAt: 0, ...over };
}

function view(snapshot: ProgressSnapshot, color = plain) {
  return React.createElement(ProgressView, { snapshot, color });
}

function percents(frame: string): number[] {
  return [...frame.matchAll(/(\d+)%/g)].map((m) => Number(m[1]));
}

test('the live line shows phase, bar, percent, amount, rate, time left and errors', () => {
  const { lastFrame, unmount } = render(view({ log: [], current: phase({ phase: 'scrub', done: 20 * MiB, total: 40 * MiB, errors: 0 }), now: 4000 }));
  const frame = lastFrame() ?? '';
  assert.match(frame, /^scrub  █{10}░{10}  50%  20\.0 MiB of 40\.0 MiB  5\.00 MiB\/s  4\.0 s left  0 errors$/m, frame);
  unmount();
});

test('a run whose work outgrows its estimate never shows more than 100%', () => {
  const total = 40 * MiB;
  const { lastFrame, rerender, frames, unmount } = render(view({ log: [], current: phase({ done: 0, total }), now: 0 }));
  for (let done = 0; done <= 60 * MiB; done += 5 * MiB) {
    rerender(view({ log: [], current: phase({ done, total }), now: 1000 + done / 10_000 }));
  }
  const seen = frames.flatMap(percents);
  assert.ok(seen.length > 5, 'every frame shows a percentage');
  assert.ok(seen.every((p) => p >= 0 && p <= 100), `percentages seen: ${seen.join(' ')}`);
  const last = lastFrame() ?? '';
  assert.match(last, / 100%  60\.0 MiB of 60\.0 MiB /, last);
  assert.doesNotMatch(last, /left/, 'no time left is promised past the estimate');
  assert.match(last, /█{20}/, 'the bar is full, not overflowing');
  unmount();
});

test('percentages only grow in a run that keeps to its estimate', () => {
  const total = 1000;
  const { frames, rerender, unmount } = render(view({ log: [], current: phase({ unit: 'items', done: 0, total }), now: 0 }));
  for (let done = 0; done <= total; done += 37) rerender(view({ log: [], current: phase({ unit: 'items', done, total }), now: done }));
  const seen = frames.flatMap(percents);
  assert.deepEqual(seen, [...seen].sort((a, b) => a - b));
  assert.ok(seen.every((p) => p < 100), 'not 100% before the last item');
  unmount();
});

test('work of unknown size shows the amount and rate but no percent or bar', () => {
  const { lastFrame, unmount } = render(view({ log: [], current: phase({ phase: 'extract', done: 12 * MiB }), now: 2000 }));
  const frame = lastFrame() ?? '';
  assert.match(frame, /^extract  12\.0 MiB  6\.00 MiB\/s$/m, frame);
  assert.doesNotMatch(frame, /%|█|░|left/);
  unmount();
});

test('warnings and ended phases stay above the live line', () => {
  const ended: LogLine = { kind: 'phase', phase: phase({ done: 40 * MiB, total: 40 * MiB }), endedAt: 2000, outcome: 'completed' };
  const warning: LogLine = { kind: 'text', text: 'strata: warning: /dev/null: device nodes need root; skipped' };
  const { lastFrame, unmount } = render(view({ log: [ended, warning], current: phase({ phase: 'mkfs: writing metadata', unit: 'items', done: 10, startedAt: 2000 }), now: 2100 }));
  const lines = (lastFrame() ?? '').split('\n');
  assert.equal(lines[0], '✔ mkfs: writing data: 40.0 MiB of 40.0 MiB in 2.0 s (20.0 MiB/s)');
  assert.equal(lines[1], 'strata: warning: /dev/null: device nodes need root; skipped');
  assert.equal(lines[2], 'mkfs: writing metadata  10 items');
  unmount();
});

test('the final frame is the summary of every phase, with no live line left', () => {
  const first: LogLine = { kind: 'phase', phase: phase({ done: 40 * MiB, total: 40 * MiB }), endedAt: 2000, outcome: 'completed' };
  const second: LogLine = { kind: 'phase', phase: phase({ phase: 'mkfs: writing metadata', unit: 'items', done: 30_000, startedAt: 2000 }), endedAt: 2500, outcome: 'completed' };
  const { lastFrame, rerender, unmount } = render(view({ log: [first], current: second.kind === 'phase' ? second.phase : undefined, now: 2400 }));
  rerender(view({ log: [first, second], current: undefined, now: 2500 }));
  const frame = lastFrame() ?? '';
  assert.equal(frame.trimEnd(), '✔ mkfs: writing data: 40.0 MiB of 40.0 MiB in 2.0 s (20.0 MiB/s)\n✔ mkfs: writing metadata: 30000 items in 0.5 s (60000 items/s)');
  unmount();
});

test('an interrupted phase is marked and says where it stopped', () => {
  const stopped: LogLine = { kind: 'phase', phase: phase({ done: 10 * MiB, total: 40 * MiB }), endedAt: 3000, outcome: 'interrupted' };
  const { lastFrame, unmount } = render(view({ log: [stopped], current: undefined, now: 3000 }));
  assert.equal((lastFrame() ?? '').trimEnd(), '✖ mkfs: writing data: interrupted at 10.0 MiB of 40.0 MiB (25%) after 3.0 s');
  unmount();
});

test('with colour, errors are red and the phase is bold; without colour there are no escape codes', () => {
  const snapshot: ProgressSnapshot = { log: [], current: phase({ phase: 'scrub', done: 1, total: 2, errors: 3 }), now: 10 };
  const withColour = render(view(snapshot, coloured));
  const frame = withColour.lastFrame() ?? '';
  assert.ok(frame.includes('\x1b[31m3 errors\x1b[39m'), JSON.stringify(frame));
  assert.ok(frame.includes('\x1b[1mscrub\x1b[22m'), JSON.stringify(frame));
  withColour.unmount();
  const withoutColour = render(view(snapshot, plain));
  assert.doesNotMatch(withoutColour.lastFrame() ?? '', /\x1b/);
  withoutColour.unmount();
});
