// Everything a command prints goes through an Output: results on stdout (human text or one
// JSON document), warnings and progress on stderr. A closed stdout (`| head`) ends quietly.
//
// Progress has three modes, chosen once per run:
// - view:  stderr is a terminal and CI is unset: an ink view (cli/progress-view.tsx) drawn by a
//          worker thread (cli/progress-worker.ts), started only when work has lasted long
//          enough to need it, because loading ink and react costs the better part of a second
//          that short commands must not pay;
// - lines: otherwise, one plain line every few seconds and a summary at the end (none for
//          work done within a second), never with an escape code (CI logs keep them as noise);
// - off:   with --json and no terminal, so a machine reading stderr sees only warnings.
import type { ChalkInstance } from 'chalk';
import { fstatSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Worker } from 'node:worker_threads';
import { chalkFor, type ChalkConstructor } from './color.js';
import { ProgressTracker, outcomeMark, phaseSummary, plainProgressLine, type ProgressOutcome, type ProgressUnit } from './progress.js';
import { VIEW_STATE, type ViewMessage, type ViewWorkerData } from './progress-protocol.js';

export { formatBytes } from './format.js';
export { colorEnabled, chalkFor, PLAIN } from './color.js';
export type { ProgressOutcome, ProgressUnit } from './progress.js';

export interface Output {
  readonly json: boolean;
  /** colours for stdout; level 0 (no colour) unless colour is enabled for it */
  readonly color: ChalkInstance;
  /** one or more lines of human output on stdout */
  line(text?: string): void;
  /** the command's one JSON document (only with --json) */
  document(doc: unknown): void;
  /** raw bytes on stdout with backpressure (cat, tar) */
  bytes(data: Uint8Array): Promise<void>;
  warn(text: string): void;
  /**
   * Progress of long work. Call as often as convenient: displays are rate-limited. `total` may
   * be an estimate or unknown; the display never shows more than 100%. `errors` is the number
   * of problems met so far, for work that counts them (fsck, scrub).
   */
  progress(phase: string, done: number, total: number | undefined, unit: ProgressUnit, errors?: number): void;
  /** Ends any progress display, leaving a summary of each phase. Safe to call more than once. */
  done(outcome?: ProgressOutcome): void;
}

/** Where an Output writes, and what it reads the time from; injectable for tests. */
export interface OutputOptions {
  stdout?: NodeJS.WriteStream;
  stderr?: NodeJS.WriteStream;
  clock?: () => number;
  /** work shorter than this never loads the view (milliseconds) */
  viewDelayMs?: number;
  /** milliseconds between plain progress lines */
  lineIntervalMs?: number;
  /**
   * chalk's constructor, for colour (cli/color.ts loadChalk). Without it nothing is coloured:
   * the caller decides whether colour is worth loading chalk for.
   */
  chalk?: ChalkConstructor;
}

const VIEW_DELAY_MS = 200;
const VIEW_REDRAW_MS = 100;
const LINE_INTERVAL_MS = 3000;
/** Work quicker than this ends without a summary: a line per `put` would be noise. */
const SUMMARY_MIN_MS = 1000;

function envFlag(env: NodeJS.ProcessEnv, name: string): boolean {
  // The rule of is-in-ci, which ink itself applies: set to anything but "0" or "false".
  return name in env && env[name] !== '0' && env[name] !== 'false';
}

/** CI as ink sees it: a progress view is never drawn there, since CI logs cannot redraw. */
export function ciEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  return envFlag(env, 'CI') || envFlag(env, 'CONTINUOUS_INTEGRATION');
}

/** True when both streams are the same terminal, so text on one lands among the other's lines. */
function sameTerminal(a: NodeJS.WriteStream, b: NodeJS.WriteStream): boolean {
  const fdA = fdOf(a);
  const fdB = fdOf(b);
  if (!a.isTTY || !b.isTTY || fdA === undefined || fdB === undefined) return false;
  try {
    const sa = fstatSync(fdA);
    const sb = fstatSync(fdB);
    return sa.rdev === sb.rdev && sa.ino === sb.ino;
  } catch {
    return false;
  }
}

/** The view in its worker, as the main thread holds it. */
interface ViewWorker {
  worker: Worker;
  /** VIEW_STATE, shared with the worker */
  state: Int32Array;
  /** log lines already sent */
  sentLog: number;
  restoreCursorOnExit: () => void;
}

type ViewState =
  | { kind: 'none' }
  | { kind: 'waiting'; timer: NodeJS.Timeout; since: number }
  | { kind: 'started'; view: ViewWorker }
  | { kind: 'unavailable' };

/** How long done() waits for the view to put its final frame on the terminal. */
const VIEW_FINISH_TIMEOUT_MS = 3000;

export class StdOutput implements Output {
  readonly color: ChalkInstance;
  /** colours for stderr: warnings, errors and progress */
  readonly stderrColor: ChalkInstance;
  readonly progressMode: 'view' | 'lines' | 'off';
  private readonly stdout: NodeJS.WriteStream;
  private readonly stderr: NodeJS.WriteStream;
  private readonly clock: () => number;
  private readonly viewDelayMs: number;
  private readonly lineIntervalMs: number;
  /** work shorter than this ends without a summary; STRATA_PROGRESS_SUMMARY_MS overrides (tests) */
  private readonly summaryMinMs: number;
  private readonly tracker: ProgressTracker;
  private view: ViewState = { kind: 'none' };
  /** when the view was last sent an update, or the last plain line written */
  private lastDrawnAt = Number.NEGATIVE_INFINITY;
  /** phases already summarised on stderr (lines mode, or a view that never appeared) */
  private summarisedPhases = 0;
  /** a periodic plain line was written, so the work gets a closing summary however short */
  private linesWritten = false;
  private readonly sharesStdout: boolean;
  private closed = false;

  constructor(readonly json: boolean, private readonly env: NodeJS.ProcessEnv = process.env, options: OutputOptions = {}) {
    this.stdout = options.stdout ?? process.stdout;
    this.stderr = options.stderr ?? process.stderr;
    this.clock = options.clock ?? Date.now;
    this.viewDelayMs = options.viewDelayMs ?? VIEW_DELAY_MS;
    const summaryOverride = Number(env.STRATA_PROGRESS_SUMMARY_MS);
    this.summaryMinMs = Number.isFinite(summaryOverride) && env.STRATA_PROGRESS_SUMMARY_MS !== '' && env.STRATA_PROGRESS_SUMMARY_MS !== undefined ? summaryOverride : SUMMARY_MIN_MS;
    this.lineIntervalMs = options.lineIntervalMs ?? LINE_INTERVAL_MS;
    this.tracker = new ProgressTracker(this.clock);
    this.color = chalkFor(this.stdout, env, options.chalk);
    this.stderrColor = chalkFor(this.stderr, env, options.chalk);
    const terminal = Boolean(this.stderr.isTTY) && !ciEnabled(env) && env.TERM !== 'dumb' && fdOf(this.stderr) !== undefined;
    this.progressMode = terminal ? 'view' : json ? 'off' : 'lines';
    this.sharesStdout = terminal && sameTerminal(this.stdout, this.stderr);
    this.stdout.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') return;
      this.closed = true;
      // The reader went away (`strata dump ls img | head`): that is a normal end, not an error.
      if (this.stdout === process.stdout) process.exit(0);
    });
  }

  line(text = ''): void {
    if (this.closed) return;
    if (this.sharesStdout && this.viewShown()) {
      // Same terminal: written above the live line, or the two would overwrite each other.
      this.tracker.note(text);
      this.sendToView('update');
      return;
    }
    this.stdout.write(text + '\n');
  }

  document(doc: unknown): void {
    if (this.sharesStdout && this.viewShown()) this.done();
    this.line(JSON.stringify(doc, (_k, v) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v), 2));
  }

  bytes(data: Uint8Array): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      if (this.stdout.write(data)) resolve();
      else this.stdout.once('drain', resolve);
    });
  }

  warn(text: string): void {
    const line = `strata: ${this.stderrColor.yellow('warning:')} ${text}`;
    if (this.viewShown()) {
      this.tracker.note(line);
      this.sendToView('update');
      return;
    }
    this.stderr.write(line + '\n');
  }

  progress(phase: string, done: number, total: number | undefined, unit: ProgressUnit, errors?: number): void {
    const newPhase = this.tracker.update(phase, done, total, unit, errors);
    if (this.progressMode === 'off') return;
    const now = this.clock();
    if (this.progressMode === 'lines') {
      // The first line comes after one interval: short work prints no progress line at all.
      if (this.lastDrawnAt === Number.NEGATIVE_INFINITY) this.lastDrawnAt = now;
      if (now - this.lastDrawnAt < this.lineIntervalMs) return;
      this.lastDrawnAt = now;
      const current = this.tracker.currentPhase;
      if (current) this.stderr.write(`strata: ${plainProgressLine(current, now)}\n`);
      this.linesWritten = true;
      return;
    }
    switch (this.view.kind) {
      case 'none':
        // Work that ends within the delay never pays for the view. The timer covers work that
        // reports rarely; the check below covers work that keeps the event loop too busy for it.
        this.view = { kind: 'waiting', since: now, timer: setTimeout(() => this.startView(), this.viewDelayMs) };
        return;
      case 'waiting':
        if (now - this.view.since >= this.viewDelayMs) this.startView();
        return;
      case 'started':
        if (newPhase || now - this.lastDrawnAt >= VIEW_REDRAW_MS) this.sendToView('update');
        return;
      default:
        return;
    }
  }

  done(outcome: ProgressOutcome = 'completed'): void {
    if (this.view.kind === 'waiting') {
      clearTimeout(this.view.timer);
      this.view = { kind: 'none' };
    }
    this.tracker.end(outcome);
    if (this.view.kind === 'started') {
      const view = this.view.view;
      this.view = { kind: 'none' };
      process.off('exit', view.restoreCursorOnExit);
      const before = Atomics.compareExchange(view.state, 0, VIEW_STATE.loading, VIEW_STATE.cancelled);
      if (before === VIEW_STATE.shown) {
        this.sendToView('finish', view);
        // Block until the final frame is on the terminal: whatever the command prints next must
        // come below it, never inside the area the view redraws.
        const waited = Atomics.wait(view.state, 0, VIEW_STATE.shown, VIEW_FINISH_TIMEOUT_MS);
        // A view that cannot finish in time must not draw over what comes next.
        if (waited === 'timed-out') void view.worker.terminate();
        this.summarisedPhases = this.tracker.endedPhases().length;
        return;
      }
      if (before === VIEW_STATE.loading) void view.worker.terminate();
    }
    this.writeSummary(outcome);
  }

  private viewShown(): boolean {
    return this.view.kind === 'started' && Atomics.load(this.view.view.state, 0) === VIEW_STATE.shown;
  }

  private writeSummary(outcome: ProgressOutcome): void {
    const phases = this.tracker.endedPhases().slice(this.summarisedPhases);
    this.summarisedPhases += phases.length;
    if (phases.length === 0 || this.progressMode === 'off') return;
    const lasted = phases[phases.length - 1]!.endedAt - phases[0]!.phase.startedAt;
    // Also when the work failed: the error line that follows says what happened, and a second
    // line about one second of work would only break the one-line-per-error rule.
    if (lasted < this.summaryMinMs && !this.linesWritten) return;
    const c = this.stderrColor;
    if (this.progressMode === 'view') {
      // The view never appeared (the work was quicker than loading it): the same summary lines.
      for (const p of phases) this.stderr.write(`${outcomeMark(p.outcome, c)} ${phaseSummary(p.phase, p.endedAt, p.outcome, c)}\n`);
      return;
    }
    const word = outcome === 'completed' ? 'done' : outcome;
    this.stderr.write(`strata: ${word}: ${phases.map((p) => phaseSummary(p.phase, p.endedAt, p.outcome)).join('; ')}\n`);
  }

  private startView(): void {
    if (this.view.kind === 'waiting') clearTimeout(this.view.timer);
    else if (this.view.kind !== 'none') return;
    const fd = fdOf(this.stderr);
    if (fd === undefined) {
      this.view = { kind: 'unavailable' };
      return;
    }
    const state = new Int32Array(new SharedArrayBuffer(4));
    Atomics.store(state, 0, VIEW_STATE.loading);
    // From the compiled dist/ the worker is a .js file; run from source through tsx it is .ts.
    const script = new URL(import.meta.url.endsWith('.ts') ? './progress-worker.ts' : './progress-worker.js', import.meta.url);
    const workerData: ViewWorkerData = { fd, colorLevel: this.stderrColor.level > 0 ? 1 : 0, state: state.buffer as SharedArrayBuffer };
    let worker: Worker;
    try {
      // Required here rather than imported at the top: only a run that shows the view needs it.
      const { Worker: WorkerThread } = createRequire(import.meta.url)('node:worker_threads') as typeof import('node:worker_threads');
      // NODE_ENV=production: React's development build loads slower and renders slower.
      worker = new WorkerThread(script, { workerData, env: { ...process.env, NODE_ENV: 'production' } });
    } catch (err) {
      this.viewFailed(err);
      return;
    }
    // The worker never keeps the process alive: done() already waits for the frame that matters,
    // and awaiting its exit from an otherwise idle event loop would end the process mid-await.
    worker.unref();
    worker.on('error', (err) => this.viewFailed(err));
    const restoreCursorOnExit = () => {
      // Killed mid-view (a second Ctrl+C exits at once): give the terminal its cursor back.
      if (Atomics.load(state, 0) === VIEW_STATE.shown) writeSync(fd, '\x1b[?25h');
    };
    process.once('exit', restoreCursorOnExit);
    this.view = { kind: 'started', view: { worker, state, sentLog: 0, restoreCursorOnExit } };
    this.sendToView('update');
  }

  private viewFailed(err: unknown): void {
    if (this.env.STRATA_DEBUG === '1') this.stderr.write(`strata: progress view unavailable: ${String(err)}\n`);
    if (this.view.kind === 'started') {
      // Whatever the worker managed to draw stays; from here on the summary is printed plainly.
      process.off('exit', this.view.view.restoreCursorOnExit);
      Atomics.compareExchange(this.view.view.state, 0, VIEW_STATE.loading, VIEW_STATE.cancelled);
      this.view = { kind: 'unavailable' };
    } else if (this.view.kind !== 'none') {
      this.view = { kind: 'unavailable' };
    }
  }

  private sendToView(type: ViewMessage['type'], view: ViewWorker | undefined = this.view.kind === 'started' ? this.view.view : undefined): void {
    if (!view) return;
    const now = this.clock();
    const message: ViewMessage = {
      type,
      log: this.tracker.logFrom(view.sentLog),
      current: this.tracker.currentPhase,
      now,
      columns: this.stderr.columns,
    };
    view.sentLog = this.tracker.logLength;
    this.lastDrawnAt = now;
    view.worker.postMessage(message);
  }
}

function fdOf(stream: NodeJS.WriteStream): number | undefined {
  const fd = (stream as { fd?: unknown }).fd;
  return typeof fd === 'number' ? fd : undefined;
}
