// HostSyscalls: the system calls strata needs and Node lacks (extended attributes, utimensat
// with nanoseconds, mkfifo, mknod), served by one long-lived python3 helper per instance.
//
// Why a helper process: a native addon would need a compiler at install time, and spawning a
// program per file costs milliseconds, i.e. minutes for a large tree. One helper, started on
// first use, receives requests in batches (thousands of paths per pipe round trip) and answers
// each path separately, so one unreadable file is one Error in the result, not a failed call.
//
// Lifetime invariants:
//  - the helper exits when its stdin closes: on close(), and when this process dies;
//  - while no request is outstanding its handles are unref'd, so an instance that is never
//    closed does not keep Node running; while one is outstanding they are ref'd, so awaiting a
//    result at top level does not let Node exit early;
//  - requests are answered in the order they were written, so each call writes all its frames
//    synchronously and queues one waiter per frame.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import type { Timespec, Xattr } from '../fs/entry.js';
import { HostSyscallError } from './errors.js';
import { findExecutable, runTool, setTimesWithNode } from './fallback.js';
import {
  OP,
  type Op,
  ItemReader,
  type ResponseItem,
  type TimesWrite,
  type XattrWrite,
  decodeXattrList,
  encodeFrame,
  fifoItem,
  nodeItem,
  parseItem,
  pathItem,
  timesItem,
  xattrWriteItem,
} from './protocol.js';
import { HELPER_HELLO, HELPER_SCRIPT } from './python-helper.js';

export interface HostCapabilities {
  /** extended attributes are read and written (a filesystem without them still gives ENOTSUP per path) */
  xattrs: boolean;
  /** times are set to the nanosecond; otherwise to the microsecond */
  nsTimes: boolean;
  /** fifos can be created */
  mkfifo: boolean;
  /** device nodes can be created (needs root as well as a way to call mknod) */
  mknod: boolean;
  /** one line saying what is missing and why, when anything is */
  reason?: string;
}

export interface HostOptions {
  /**
   * The interpreter: a name looked up on PATH or a path. null behaves as if there were none
   * (the degraded mode). Default: $STRATA_PYTHON if set (empty or "none" meaning null), else
   * "python3".
   */
  python?: string | null;
  /** environment for finding python3, mkfifo, mknod and touch, and for the helper; default process.env */
  env?: NodeJS.ProcessEnv;
  /** most paths per helper request; bounds the helper's memory and its time per batch (default 8192) */
  maxBatchItems?: number;
  /** most request bytes per helper request (default 4 MiB); a single larger item is sent alone */
  maxBatchBytes?: number;
}

export interface XattrItem {
  path: Buffer;
  xattrs: Xattr[];
}

export interface TimesItem {
  path: Buffer;
  atime: Timespec;
  mtime: Timespec;
}

export type DeviceKind = 'char' | 'block';

const DEFAULT_BATCH_ITEMS = 8192;
const DEFAULT_BATCH_BYTES = 4 << 20;
const STDERR_TAIL_BYTES = 4096;
const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;
const ENOSYS = 38;

/** One helper process and the requests it has not answered yet. */
interface Helper {
  child: ChildProcess;
  reader: ItemReader;
  /** one waiter per request frame written, oldest first; the hello is the first */
  waiters: Waiter[];
  /** settles once the hello arrived (or the helper failed before it did) */
  ready: Promise<void>;
  started: boolean;
  /** settles when the process is gone and its pipes are closed */
  exited: Promise<void>;
  failure?: Error;
  stderrTail: string;
  reffed: boolean;
}

interface Waiter {
  expected: number;
  items: ResponseItem[];
  resolve(items: ResponseItem[]): void;
  reject(error: Error): void;
}

export class HostSyscalls {
  private pythonPath: string | undefined;
  private capabilityReport: HostCapabilities;
  private readonly env: NodeJS.ProcessEnv;
  private readonly maxBatchItems: number;
  private readonly maxBatchBytes: number;
  private readonly tools: { mkfifo?: string; mknod?: string; touch?: string };
  private helper: Helper | undefined;
  private closed = false;
  private closing: Promise<void> | undefined;
  /** public calls not yet settled: close() waits for them */
  private readonly active = new Set<Promise<unknown>>();

  constructor(options: HostOptions = {}) {
    this.env = options.env ?? process.env;
    this.maxBatchItems = Math.max(1, options.maxBatchItems ?? DEFAULT_BATCH_ITEMS);
    this.maxBatchBytes = Math.max(1, options.maxBatchBytes ?? DEFAULT_BATCH_BYTES);
    const searchPath = this.env.PATH;
    let requested: string | null = options.python === undefined ? (this.env.STRATA_PYTHON ?? 'python3') : options.python;
    if (requested === '' || requested === 'none') requested = null;
    this.pythonPath = requested === null ? undefined : findExecutable(requested, searchPath);
    this.tools = {
      mkfifo: findExecutable('mkfifo', searchPath),
      mknod: findExecutable('mknod', searchPath),
      touch: findExecutable('touch', searchPath),
    };
    const why = requested === null ? 'python3 is disabled' : this.pythonPath === undefined ? `${requested} not found on PATH` : undefined;
    this.capabilityReport = this.describe(why);
  }

  /** What this instance can do. Final once probe() (or any first call) has started the helper. */
  get capabilities(): HostCapabilities {
    return { ...this.capabilityReport };
  }

  /** The helper's process id while one is running (for tests and diagnostics). */
  get helperPid(): number | undefined {
    return this.helper?.child.pid;
  }

  /** Starts the helper now rather than on first use, and returns the confirmed capabilities. */
  probe(): Promise<HostCapabilities> {
    return this.track(async () => {
      await this.ready();
      return this.capabilities;
    });
  }

  /**
   * Every extended attribute of each path, symlinks not followed, sorted by name bytes; names
   * carry their namespace prefix. Per path: the list, or an Error (ENOENT, ENOTSUP, ...).
   * Without the helper every list is empty (capabilities.xattrs says so).
   */
  readXattrs(paths: Buffer[]): Promise<Array<Xattr[] | Error>> {
    return this.track(() => this.readXattrsNow(paths));
  }

  private async readXattrsNow(paths: Buffer[]): Promise<Array<Xattr[] | Error>> {
    if (paths.length === 0) return [];
    const helper = await this.ready();
    if (helper === undefined) return paths.map(() => []);
    const answers = await this.exchange(helper, OP.listXattrs, paths, pathItem);
    return answers.map((answer, i) => (answer.ok ? decodeXattrList(answer.payload) : failure(answer, paths[i])));
  }

  /**
   * Sets the given attributes on each path (symlinks not followed), replacing same-named
   * values and leaving other attributes alone. Every attribute is attempted; the first failure
   * is the path's Error. Without the helper nothing is written and every result is null
   * (capabilities.xattrs says so).
   */
  writeXattrs(items: XattrItem[]): Promise<Array<Error | null>> {
    return this.track(() => this.writeXattrsNow(items));
  }

  private async writeXattrsNow(items: XattrItem[]): Promise<Array<Error | null>> {
    const work = items.filter((item) => item.xattrs.length > 0);
    if (work.length === 0) return items.map(() => null);
    const helper = await this.ready();
    if (helper === undefined) return items.map(() => null);
    const answers = await this.exchange<XattrWrite>(helper, OP.setXattrs, work, xattrWriteItem);
    const byItem = new Map<XattrItem, Error | null>();
    work.forEach((item, i) => byItem.set(item, answers[i].ok ? null : failure(answers[i], item.path)));
    return items.map((item) => byItem.get(item) ?? null);
  }

  /**
   * Sets atime and mtime of each path exactly (utimensat, symlinks not followed). Without the
   * helper: fs.lutimesSync, i.e. to the microsecond, and touch(1) for times before 1970.
   */
  setTimes(items: TimesItem[]): Promise<Array<Error | null>> {
    return this.track(() => this.setTimesNow(items));
  }

  private async setTimesNow(items: TimesItem[]): Promise<Array<Error | null>> {
    for (const item of items) {
      checkTimespec(item.atime, 'atime');
      checkTimespec(item.mtime, 'mtime');
    }
    if (items.length === 0) return [];
    const helper = await this.ready();
    if (helper === undefined) return setTimesWithNode(items, this.tools.touch, this.env);
    const answers = await this.exchange<TimesWrite>(helper, OP.setTimes, items, timesItem);
    return answers.map((answer, i) => (answer.ok ? null : failure(answer, items[i].path)));
  }

  /** Creates a fifo with exactly `perm` (umask does not apply). Throws HostSyscallError. */
  mkfifo(path: Buffer, perm: number): Promise<void> {
    return this.track(() => this.mkfifoNow(path, perm));
  }

  private async mkfifoNow(path: Buffer, perm: number): Promise<void> {
    const helper = await this.ready();
    if (helper !== undefined) {
      const [answer] = await this.exchange(helper, OP.mkfifo, [{ path, perm: perm & 0o7777 }], fifoItem);
      if (!answer.ok) throw failure(answer, path);
      return;
    }
    const program = this.tools.mkfifo;
    if (program === undefined) throw new HostSyscallError(ENOSYS, 'mkfifo', path, 'neither python3 nor mkfifo(1) is available');
    runTool(program, (target) => ['-m', (perm & 0o777).toString(8), '--', target], path, 'mkfifo', this.env, true);
    chmodExactly(path, perm);
  }

  /** Creates a device node with exactly `perm`; needs root. Throws HostSyscallError. */
  mknod(path: Buffer, kind: DeviceKind, perm: number, major: number, minor: number): Promise<void> {
    return this.track(() => this.mknodNow(path, kind, perm, major, minor));
  }

  private async mknodNow(path: Buffer, kind: DeviceKind, perm: number, major: number, minor: number): Promise<void> {
    const mode = (kind === 'char' ? S_IFCHR : S_IFBLK) | (perm & 0o7777);
    const helper = await this.ready();
    if (helper !== undefined) {
      const [answer] = await this.exchange(helper, OP.mknod, [{ path, mode, major, minor }], nodeItem);
      if (!answer.ok) throw failure(answer, path);
      return;
    }
    const program = this.tools.mknod;
    if (program === undefined) throw new HostSyscallError(ENOSYS, 'mknod', path, 'neither python3 nor mknod(1) is available');
    const typeLetter = kind === 'char' ? 'c' : 'b';
    runTool(program, (target) => ['-m', (perm & 0o777).toString(8), '--', target, typeLetter, String(major), String(minor)], path, 'mknod', this.env, true);
    chmodExactly(path, perm);
  }

  /**
   * Lets the calls already made finish, then ends the helper and waits for it to exit. Calls
   * made after close() throw.
   */
  close(): Promise<void> {
    this.closing ??= this.shutDown();
    return this.closing;
  }

  private async shutDown(): Promise<void> {
    this.closed = true;
    // A call may still be between its start and writing its frames; let it write them.
    while (this.active.size > 0) await Promise.allSettled([...this.active]);
    const helper = this.helper;
    this.helper = undefined;
    if (helper === undefined) return;
    // Keep the loop alive until the exit is observed, so `await close()` means it is gone.
    helper.child.ref();
    helper.child.stdin?.end();
    await helper.exited;
  }

  /** Runs one public call, refusing it after close() and letting close() wait for it. */
  private track<T>(work: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new Error('HostSyscalls used after close()'));
    const running = work();
    this.active.add(running);
    const forget = () => this.active.delete(running);
    running.then(forget, forget);
    return running;
  }

  // ---- helper process ----

  /** The running helper, started if need be; undefined in degraded mode. */
  private async ready(): Promise<Helper | undefined> {
    if (this.pythonPath === undefined) return undefined;
    this.helper ??= this.startHelper(this.pythonPath);
    const helper = this.helper;
    try {
      await helper.ready;
      return helper;
    } catch (error) {
      if (helper.started) throw error;
      // The interpreter exists but could not run the helper: behave as if it were missing.
      if (this.helper === helper) this.helper = undefined;
      this.pythonPath = undefined;
      this.capabilityReport = this.describe(`python3 helper did not start (${(error as Error).message})`);
      return undefined;
    }
  }

  private startHelper(python: string): Helper {
    const child = spawn(python, ['-I', '-S', '-c', HELPER_SCRIPT], { env: this.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let helloResolve!: () => void;
    let helloReject!: (error: Error) => void;
    const ready = new Promise<void>((resolve, reject) => {
      helloResolve = resolve;
      helloReject = reject;
    });
    let exitedResolve!: () => void;
    const exited = new Promise<void>((resolve) => (exitedResolve = resolve));
    const helper: Helper = { child, reader: new ItemReader(), waiters: [], ready, started: false, exited, stderrTail: '', reffed: true };
    // Nobody may be awaiting `ready` when it fails later than expected; that must not crash.
    ready.catch(() => {});

    helper.waiters.push({
      expected: 1,
      items: [],
      resolve: ([hello]) => {
        if (hello.ok && hello.payload.toString('latin1') === HELPER_HELLO) {
          helper.started = true;
          helloResolve();
        } else helloReject(new Error('unexpected hello from python3 helper'));
      },
      reject: helloReject,
    });

    child.stdout!.on('data', (chunk: Buffer) => {
      helper.reader.push(chunk);
      for (let item = helper.reader.next(); item !== undefined; item = helper.reader.next()) {
        const waiter = helper.waiters[0];
        if (waiter === undefined) {
          this.fail(helper, new Error('python3 helper sent an unrequested answer'));
          child.kill();
          return;
        }
        waiter.items.push(parseItem(item));
        if (waiter.items.length === waiter.expected) {
          helper.waiters.shift();
          waiter.resolve(waiter.items);
        }
      }
      this.updateRef(helper);
    });
    child.stderr!.on('data', (chunk: Buffer) => {
      helper.stderrTail = (helper.stderrTail + chunk.toString('utf8')).slice(-STDERR_TAIL_BYTES);
    });
    // A write after the helper died fails with EPIPE; the 'close' handler reports it.
    child.stdin!.on('error', () => {});
    child.on('error', (error) => {
      this.fail(helper, new Error(`cannot run ${python}: ${error.message}`));
      if (child.pid === undefined) exitedResolve();
    });
    child.on('close', (code, signal) => {
      const how = signal ? `signal ${signal}` : `status ${code}`;
      const stderr = helper.stderrTail.trim().split('\n').slice(-3).join(' | ');
      this.fail(helper, new Error(`python3 helper exited with ${how}${stderr ? `: ${stderr}` : ''}`));
      exitedResolve();
    });
    return helper;
  }

  /** Rejects everything the helper still owes, and forgets it so the next call starts another. */
  private fail(helper: Helper, error: Error): void {
    helper.failure ??= error;
    if (this.helper === helper) this.helper = undefined;
    const waiters = helper.waiters.splice(0);
    for (const waiter of waiters) waiter.reject(helper.failure);
    this.updateRef(helper);
  }

  /** Splits items into bounded frames, writes them all, and gathers the answers in order. */
  private async exchange<T>(helper: Helper, op: Op, items: readonly T[], codec: { size(item: T): number; write(item: T, frame: Buffer, at: number): number }): Promise<ResponseItem[]> {
    if (helper.failure) throw helper.failure;
    const pending: Array<Promise<ResponseItem[]>> = [];
    let start = 0;
    while (start < items.length) {
      let end = start;
      let bytes = 0;
      while (end < items.length && end - start < this.maxBatchItems) {
        const size = codec.size(items[end]);
        if (end > start && bytes + size > this.maxBatchBytes) break;
        bytes += size;
        end++;
      }
      const batch = items.slice(start, end);
      const frame = encodeFrame(op, batch, codec.size, codec.write);
      pending.push(new Promise<ResponseItem[]>((resolve, reject) => helper.waiters.push({ expected: batch.length, items: [], resolve, reject })));
      helper.child.stdin!.write(frame);
      start = end;
    }
    this.updateRef(helper);
    const answers = await Promise.all(pending);
    return answers.length === 1 ? answers[0] : answers.flat();
  }

  /** Ref'd exactly while answers are owed (see the lifetime invariants at the top). */
  private updateRef(helper: Helper): void {
    const wanted = helper.waiters.length > 0;
    if (wanted === helper.reffed) return;
    helper.reffed = wanted;
    const handles: Array<unknown> = [helper.child, helper.child.stdin, helper.child.stdout, helper.child.stderr];
    for (const handle of handles) {
      const refable = handle as { ref?: () => void; unref?: () => void } | null;
      if (wanted) refable?.ref?.();
      else refable?.unref?.();
    }
  }

  private describe(pythonMissing: string | undefined): HostCapabilities {
    const isRoot = process.geteuid?.() === 0;
    const withPython = pythonMissing === undefined;
    const capabilities: HostCapabilities = {
      xattrs: withPython,
      nsTimes: withPython,
      mkfifo: withPython || this.tools.mkfifo !== undefined,
      mknod: isRoot && (withPython || this.tools.mknod !== undefined),
    };
    const gaps: string[] = [];
    if (!withPython) gaps.push(`${pythonMissing}: extended attributes are neither read nor written, and times are set to the microsecond only`);
    if (!capabilities.mkfifo) gaps.push('fifos cannot be created (no mkfifo)');
    if (!capabilities.mknod) gaps.push(isRoot ? 'device nodes cannot be created (no mknod)' : 'device nodes can only be created by root');
    if (gaps.length > 0) capabilities.reason = gaps.join('; ');
    return capabilities;
  }
}

/** Constructs a HostSyscalls and starts its helper, so `capabilities` is final on return. */
export async function openHost(options: HostOptions = {}): Promise<HostSyscalls> {
  const host = new HostSyscalls(options);
  await host.probe();
  return host;
}

function failure(answer: { errno: number; syscall: string; detail: string }, path: Buffer): HostSyscallError {
  return new HostSyscallError(answer.errno, answer.syscall, path, answer.detail);
}

function checkTimespec(time: Timespec, what: string): void {
  if (!Number.isSafeInteger(time.sec) || !Number.isInteger(time.nsec) || time.nsec < 0 || time.nsec > 999_999_999) {
    throw new RangeError(`${what} is not a valid timespec: ${JSON.stringify(time)}`);
  }
}

/** chmod after creation: the creating call's mode is filtered by umask and drops special bits. */
function chmodExactly(path: Buffer, perm: number): void {
  try {
    fs.chmodSync(path, perm & 0o7777);
  } catch (error) {
    throw HostSyscallError.fromNode(error, 'chmod', path);
  }
}
