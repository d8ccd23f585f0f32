// Progress of long work as plain data, and the text both displays show: the ink view on a
// terminal (cli/progress-view.tsx) and the periodic plain lines otherwise. Keeping the wording
// here means a CI log and a terminal say the same thing.
//
// Invariant: no figure shown ever says more than 100%. Totals are estimates made before the
// work starts (a directory walked, a tree counted); when the work turns out bigger, the total
// shown grows with it instead of the percentage passing 100.
import type { ChalkInstance } from 'chalk';
import { formatBytes } from './format.js';

export type ProgressUnit = 'bytes' | 'items';

/** How the work ended, as far as the caller knows when it ends the display. */
export type ProgressOutcome = 'completed' | 'failed' | 'interrupted';

/** One phase of long work ("mkfs: writing data"), as last reported. Times in milliseconds. */
export interface PhaseProgress {
  readonly phase: string;
  readonly unit: ProgressUnit;
  readonly done: number;
  /** undefined when the size of the work is not known in advance */
  readonly total: number | undefined;
  /** problems met so far; undefined when the work does not count them */
  readonly errors: number | undefined;
  readonly startedAt: number;
}

/** A line kept above the live area: a warning, a result line, or a phase that ended. */
export type LogLine =
  | { readonly kind: 'text'; readonly text: string }
  | { readonly kind: 'phase'; readonly phase: PhaseProgress; readonly endedAt: number; readonly outcome: ProgressOutcome };

/** Everything a display needs to draw one frame; a display is a function of this. */
export interface ProgressSnapshot {
  /** append-only, oldest first */
  readonly log: readonly LogLine[];
  /** the phase in progress, absent once the work ended */
  readonly current: PhaseProgress | undefined;
  readonly now: number;
}

/** The pieces of one progress line; absent pieces are not shown. */
export interface ProgressParts {
  phase: string;
  /** 0..100, whole percent, never above 100; absent without a total */
  percent?: number;
  /** "20.3 MiB of 39.1 MiB", "1200 of 4000 items", "20.3 MiB" */
  amount: string;
  /** "12.1 MiB/s", "850 items/s" */
  rate?: string;
  /** "0:12 left" */
  eta?: string;
  errors?: number;
}

export function formatAmount(n: number, unit: ProgressUnit): string {
  return unit === 'bytes' ? formatBytes(n) : `${n} items`;
}

/** "0.4 s", "12 s", "2:05", "1:02:03": short enough for one terminal line. */
export function formatDuration(ms: number): string {
  const seconds = Math.max(0, ms) / 1000;
  if (seconds < 10) return `${seconds.toFixed(1)} s`;
  const whole = Math.round(seconds);
  if (whole < 60) return `${whole} s`;
  const h = Math.floor(whole / 3600);
  const m = Math.floor((whole % 3600) / 60);
  const s = String(whole % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`;
}

/** Whole percent of done over total, clamped to 0..100; undefined when no total is known. */
export function percentOf(done: number, total: number | undefined): number | undefined {
  if (total === undefined || !Number.isFinite(total) || total < 0) return undefined;
  if (done >= total) return 100;
  if (done <= 0) return 0;
  // floor, so 99.9% reads 99 until the last byte is really done
  return Math.min(99, Math.floor((done / total) * 100));
}

/** The total to show: the estimate, or the work done when the estimate proved too small. */
export function shownTotal(p: Pick<PhaseProgress, 'done' | 'total'>): number | undefined {
  return p.total === undefined ? undefined : Math.max(p.total, p.done);
}

export function progressParts(p: PhaseProgress, now: number): ProgressParts {
  const total = shownTotal(p);
  const elapsed = now - p.startedAt;
  const parts: ProgressParts = {
    phase: p.phase,
    amount: total === undefined ? formatAmount(p.done, p.unit) : `${p.unit === 'bytes' ? formatBytes(p.done) : p.done} of ${formatAmount(total, p.unit)}`,
  };
  const percent = percentOf(p.done, total);
  if (percent !== undefined) parts.percent = percent;
  // A rate from less than half a second of work is noise, not information.
  if (elapsed >= 500 && p.done > 0) {
    const perSecond = (p.done / elapsed) * 1000;
    parts.rate = p.unit === 'bytes' ? `${formatBytes(Math.round(perSecond))}/s` : `${Math.round(perSecond)} items/s`;
    if (total !== undefined && total > p.done) parts.eta = `${formatDuration(((total - p.done) / perSecond) * 1000)} left`;
  }
  if (p.errors !== undefined) parts.errors = p.errors;
  return parts;
}

export function formatErrors(count: number): string {
  return `${count} ${count === 1 ? 'error' : 'errors'}`;
}

/** One plain line, no escape codes unless `color` has a level: "mkfs: writing data: 20.3 MiB of 39.1 MiB (52%), ..." */
export function plainProgressLine(p: PhaseProgress, now: number, color?: ChalkInstance): string {
  const parts = progressParts(p, now);
  const details = [parts.percent !== undefined ? `${parts.amount} (${parts.percent}%)` : parts.amount];
  if (parts.rate) details.push(parts.rate);
  if (parts.eta) details.push(parts.eta);
  if (parts.errors !== undefined) details.push(errorsText(parts.errors, color));
  return `${parts.phase}: ${details.join(', ')}`;
}

/** What a phase came to once it ended: "mkfs: writing data: 39.1 MiB of 39.1 MiB in 1.4 s (27.9 MiB/s)". */
export function phaseSummary(p: PhaseProgress, endedAt: number, outcome: ProgressOutcome, color?: ChalkInstance): string {
  const total = shownTotal(p);
  const elapsed = endedAt - p.startedAt;
  const amount = total === undefined ? formatAmount(p.done, p.unit) : `${p.unit === 'bytes' ? formatBytes(p.done) : p.done} of ${formatAmount(total, p.unit)}`;
  const details: string[] = [];
  if (outcome === 'completed') {
    let text = `${amount} in ${formatDuration(elapsed)}`;
    // Over a whole phase a fifth of a second already gives a fair rate.
    if (elapsed >= 200 && p.done > 0) {
      const perSecond = (p.done / elapsed) * 1000;
      text += ` (${p.unit === 'bytes' ? `${formatBytes(Math.round(perSecond))}/s` : `${Math.round(perSecond)} items/s`})`;
    }
    details.push(text);
  } else {
    const percent = percentOf(p.done, total);
    details.push(`${outcome === 'interrupted' ? 'interrupted' : 'stopped'} at ${amount}${percent !== undefined ? ` (${percent}%)` : ''} after ${formatDuration(elapsed)}`);
  }
  if (p.errors !== undefined) details.push(errorsText(p.errors, color));
  return `${p.phase}: ${details.join(', ')}`;
}

function errorsText(count: number, color?: ChalkInstance): string {
  const text = formatErrors(count);
  if (!color) return text;
  return count > 0 ? color.red(text) : color.green(text);
}

/** The mark in front of a phase that ended. */
export function outcomeMark(outcome: ProgressOutcome, color?: ChalkInstance): string {
  const mark = outcome === 'completed' ? '✔' : '✖';
  if (!color) return mark;
  return outcome === 'completed' ? color.green(mark) : color.red(mark);
}

/**
 * The state behind a progress display: the phase in progress, what happened before it, and the
 * lines to keep above it. Owned by one Output; the displays only read snapshots of it.
 */
export class ProgressTracker {
  private readonly log: LogLine[] = [];
  private current: PhaseProgress | undefined;

  constructor(private readonly clock: () => number) {}

  /** Records a report; returns true when it started a new phase. */
  update(phase: string, done: number, total: number | undefined, unit: ProgressUnit, errors: number | undefined): boolean {
    const now = this.clock();
    const previous = this.current;
    const samePhase = previous !== undefined && previous.phase === phase && previous.unit === unit;
    if (previous && !samePhase) this.log.push({ kind: 'phase', phase: previous, endedAt: now, outcome: 'completed' });
    this.current = {
      phase, unit,
      // Negative or non-finite counts are a caller's bug; showing them would only confuse.
      done: Number.isFinite(done) && done > 0 ? done : 0,
      total: total !== undefined && Number.isFinite(total) && total >= 0 ? total : undefined,
      errors: errors !== undefined && Number.isFinite(errors) && errors >= 0 ? errors : undefined,
      startedAt: samePhase ? previous.startedAt : now,
    };
    return !samePhase;
  }

  note(text: string): void {
    this.log.push({ kind: 'text', text });
  }

  /** Ends the phase in progress; later calls do nothing until progress is reported again. */
  end(outcome: ProgressOutcome): void {
    if (this.current) this.log.push({ kind: 'phase', phase: this.current, endedAt: this.clock(), outcome });
    this.current = undefined;
  }

  snapshot(): ProgressSnapshot {
    return { log: [...this.log], current: this.current, now: this.clock() };
  }

  /** The phase in progress, if any. */
  get currentPhase(): PhaseProgress | undefined {
    return this.current;
  }

  get logLength(): number {
    return this.log.length;
  }

  /** Log lines from `index` on: what a display that has seen `index` lines still needs. */
  logFrom(index: number): LogLine[] {
    return this.log.slice(index);
  }

  /** The phases that ended, in order. */
  endedPhases(): Array<Extract<LogLine, { kind: 'phase' }>> {
    return this.log.filter((l): l is Extract<LogLine, { kind: 'phase' }> => l.kind === 'phase');
  }
}
