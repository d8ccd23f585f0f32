// What every fsck pass gets: the mode, the problem list (every problem comes from the registry
// in problems.ts through `problem`), whether writing is allowed, interruption, progress, and
// a batch of key updates that a pass commits through the volume's journal at its end.
import { CorruptImageError, InterruptedError } from '../format/errors.js';
import { entrySize, type JournalItem } from '../format/journal.js';
import { BTREE, KEY_TYPE } from '../format/layout.js';
import { type DecodedInode, type Key, ops, type Pos } from '../format/keys.js';
import type { Volume } from '../format/volume.js';
import type { ContextValue, ProblemDef, Severity } from './problems.js';

/** -n, -y, -p */
export type FsckMode = 'check' | 'yes' | 'preen';

export interface ReportedProblem {
  code: string;
  severity: Severity;
  /** the pass that found it */
  pass: string;
  message: string;
  /** what fsck does (or would do) about it */
  fix: string;
  context: Record<string, ContextValue>;
  /** the fix was made (false with -n, with -p for what is not preen-ok, and when writing is impossible) */
  fixed: boolean;
}

export interface FsckHooks {
  signal?: AbortSignal;
  /** each problem as it is found (the command prints them as they come) */
  onProblem?: (p: ReportedProblem) => void;
  /** progress inside the current pass; `problems` found so far in the whole run */
  onProgress?: (pass: string, done: number, total: number | undefined, problems: number) => void;
}

/** The run was interrupted (SIGINT/SIGTERM); what was committed stays committed. */
export class FsckInterrupted extends InterruptedError {
  constructor() {
    super('fsck interrupted');
  }
}

export class FsckContext {
  readonly problems: ReportedProblem[] = [];
  /** name of the pass running now */
  pass = '';
  private writesAllowed: boolean;
  private lastProgress = 0;

  constructor(readonly mode: FsckMode, private readonly hooks: FsckHooks = {}) {
    this.writesAllowed = mode !== 'check';
  }

  /** Writing is allowed and wanted (not -n, not degraded, not held back by -p). */
  get mayWrite(): boolean {
    return this.writesAllowed;
  }

  /**
   * Record a problem; true when fsck is to fix it now. A call site reads as one line:
   * `if (ctx.problem(P.DIRENT_TARGET_MISSING, { dir, name, target })) fixes.delete(...)`.
   */
  problem<C extends Record<string, ContextValue>>(def: ProblemDef<C>, context: C, canFix = true): boolean {
    const wanted = this.mode === 'yes' || (this.mode === 'preen' && Boolean(def.preenOk || def.autofix));
    const fixed = canFix && this.writesAllowed && wanted;
    const reported: ReportedProblem = { code: def.code, severity: def.severity, pass: this.pass, message: def.message(context), fix: def.fix(context), context, fixed };
    this.problems.push(reported);
    this.hooks.onProblem?.(reported);
    return fixed;
  }

  /**
   * From now on nothing is written (a member is missing, or -p met damage it must not repair
   * alone). Problems found before were not fixed yet: their fixes happen once the volume is
   * open for writing, which now it will not be.
   */
  forbidWrites(): void {
    this.writesAllowed = false;
    for (const p of this.problems) p.fixed = false;
  }

  /**
   * Run once before the first repair is committed (set by the run: a journal replayed in memory
   * must be checkpointed first, or new entries would overwrite entries not yet folded in).
   */
  beforeFirstCommit: (() => void) | undefined;

  /**
   * After an interruption: the problems of pass `from` and later were answered yes but their
   * repairs were never committed (all of them when `from` is undefined).
   */
  unfixFrom(from: string | undefined): void {
    const first = from === undefined ? 0 : this.problems.findIndex((p) => p.pass === from);
    if (first < 0) return;
    for (const p of this.problems.slice(first)) p.fixed = false;
  }

  /** Throws FsckInterrupted when the run was interrupted; call between units of work. */
  checkpointSignal(): void {
    if (this.hooks.signal?.aborted) throw new FsckInterrupted();
  }

  /** Progress of the current pass, rate-limited to one report per 256 items. */
  progress(done: number, total?: number): void {
    if (done - this.lastProgress < 256 && done !== total) return;
    this.lastProgress = done;
    this.checkpointSignal();
    this.hooks.onProgress?.(this.pass, done, total, this.problems.length);
  }

  startPass(name: string): void {
    this.pass = name;
    this.lastProgress = 0;
    this.checkpointSignal();
    this.hooks.onProgress?.(name, 0, undefined, this.problems.length);
  }
}

/**
 * Key updates a pass decided on, committed together at the end of the pass as journaled
 * transactions (in entries of at most a quarter of the journal ring, so no entry can outgrow
 * it). Committing through the journal makes every repair crash-safe: a crash leaves either
 * the old keys or the new.
 */
export class Fixes {
  private items: JournalItem[] = [];
  /** inode values changed by this pass, written at commit: several checks may change one inode */
  private inodes = new Map<number, DecodedInode>();

  constructor(private readonly vol: Volume, private readonly ctx: FsckContext) {}

  put(btreeId: number, key: Key): void {
    this.items.push({ btreeId, key });
  }

  delete(btreeId: number, p: Pos): void {
    this.items.push({ btreeId, key: { inode: p.inode, offset: p.offset, snapshot: p.snapshot, type: KEY_TYPE.deleted, value: Buffer.alloc(0) } });
  }

  /** The inode as this pass left it so far (undefined: no such inode, or it does not decode). */
  inode(inum: number): DecodedInode | undefined {
    const pending = this.inodes.get(inum);
    if (pending) return pending;
    const key = this.vol.trees[BTREE.inodes]!.get({ inode: inum, offset: 0, snapshot: 0 });
    if (!key || key.type !== KEY_TYPE.inode) return undefined;
    try {
      return ops.inode.decode(key.value);
    } catch (err) {
      if (err instanceof CorruptImageError) return undefined;
      throw err;
    }
  }

  /** Change fields of an inode; written with the pass's other updates. */
  updateInode(inum: number, change: Partial<DecodedInode>): void {
    const current = this.inode(inum);
    if (current) this.inodes.set(inum, { ...current, ...change });
  }

  /** A whole new inode value (created, or replaced). */
  setInode(inum: number, value: DecodedInode): void {
    this.inodes.set(inum, value);
  }

  get size(): number {
    return this.items.length + this.inodes.size;
  }

  /** Commit every collected update; returns the number of key updates. */
  commit(label: string): number {
    for (const [inum, value] of this.inodes) this.put(BTREE.inodes, { inode: inum, offset: 0, snapshot: 0, type: KEY_TYPE.inode, value: ops.inode.encode(value) });
    this.inodes.clear();
    const items = this.items;
    this.items = [];
    if (items.length === 0) return 0;
    const prepare = this.ctx.beforeFirstCommit;
    this.ctx.beforeFirstCommit = undefined;
    prepare?.();
    const limit = Math.max(this.vol.fs.blockSize, Math.floor(journalRingBytes(this.vol) / 4));
    let chunk: JournalItem[] = [];
    for (const it of items) {
      chunk.push(it);
      if (chunk.length > 1 && entrySize(chunk, this.vol.fs.blockSize) > limit) {
        const last = chunk.pop()!;
        this.vol.commit(chunk, `fsck ${label}`);
        chunk = [last];
      }
    }
    this.vol.commit(chunk, `fsck ${label}`);
    return items.length;
  }
}

/** The smallest journal ring among the members that journal (what one entry must fit in). */
export function journalRingBytes(vol: Volume): number {
  const rings = vol.fs.members
    .map((m, i) => (vol.layer.present(i) && m.journalBuckets > 0 ? m.journalBuckets * vol.fs.bucketSize : Infinity))
    .filter((n) => Number.isFinite(n));
  return rings.length ? Math.min(...rings) : vol.fs.bucketSize;
}
