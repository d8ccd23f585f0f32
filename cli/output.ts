// Everything a command prints goes through an Output: results on stdout (human text or one
// JSON document), warnings and progress on stderr. Colour is on only when the stream is a TTY
// and NO_COLOR is unset, or when FORCE_COLOR is set. A closed stdout (`| head`) ends quietly.
import { Chalk, type ChalkInstance } from 'chalk';

export interface Output {
  readonly json: boolean;
  readonly color: ChalkInstance;
  /** one or more lines of human output on stdout */
  line(text?: string): void;
  /** the command's one JSON document (only with --json) */
  document(doc: unknown): void;
  /** raw bytes on stdout with backpressure (cat, tar) */
  bytes(data: Uint8Array): Promise<void>;
  warn(text: string): void;
  /** progress of long work; rate-limited; silent with --json unless stderr is a TTY */
  progress(phase: string, done: number, total: number | undefined, unit: 'bytes' | 'items'): void;
  /** end any progress display */
  done(): void;
}

export function colorEnabled(stream: NodeJS.WriteStream, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '0') return true;
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  return Boolean(stream.isTTY);
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(v < 10 ? 2 : 1)} ${units[u]}`;
}

export class StdOutput implements Output {
  readonly color: ChalkInstance;
  private lastProgress = 0;
  private progressShown = false;
  private readonly interactive: boolean;
  private closed = false;

  constructor(readonly json: boolean, private readonly env: NodeJS.ProcessEnv = process.env) {
    this.color = new Chalk({ level: colorEnabled(process.stdout, env) ? 1 : 0 });
    this.interactive = Boolean(process.stderr.isTTY) && !env.CI;
    process.stdout.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE') {
        this.closed = true;
        process.exit(0);
      }
    });
  }

  line(text = ''): void {
    if (!this.closed) process.stdout.write(text + '\n');
  }

  document(doc: unknown): void {
    this.line(JSON.stringify(doc, (_k, v) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v), 2));
  }

  bytes(data: Uint8Array): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      if (process.stdout.write(data)) resolve();
      else process.stdout.once('drain', resolve);
    });
  }

  warn(text: string): void {
    this.clearProgress();
    process.stderr.write(`strata: warning: ${text}\n`);
  }

  progress(phase: string, done: number, total: number | undefined, unit: 'bytes' | 'items'): void {
    const now = Date.now();
    const every = this.interactive ? 100 : 2000;
    if (now - this.lastProgress < every) return;
    this.lastProgress = now;
    const shown = Math.min(done, total ?? done);
    const fmt = (n: number) => (unit === 'bytes' ? formatBytes(n) : String(n));
    const pct = total ? ` (${Math.min(100, Math.floor((shown / total) * 100))}%)` : '';
    const text = `${phase}: ${fmt(shown)}${total !== undefined ? ` of ${fmt(total)}` : ''}${pct}`;
    if (this.interactive) {
      process.stderr.write(`\r\x1b[2K${text}`);
      this.progressShown = true;
    } else {
      process.stderr.write(`strata: ${text}\n`);
    }
  }

  done(): void {
    this.clearProgress();
  }

  private clearProgress(): void {
    if (this.progressShown) process.stderr.write('\r\x1b[2K');
    this.progressShown = false;
  }
}
