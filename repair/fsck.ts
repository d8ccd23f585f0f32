// strata fsck: check every invariant of docs/FORMAT.md and repair what can be repaired.
//
// Passes, in order, each in its own module (each opens with what it checks and builds):
//    1 superblocks          fsck-superblocks.ts   every copy on every member
//    2 journal              fsck-journal.ts       replay window, torn entries, gaps
//    3 btree structure      fsck-btrees.ts        every node copy; salvage for rebuilds
//    4 alloc                fsck-alloc.ts         usage recount vs the alloc btree; shared space
//    5 extents              fsck-extents.ts       (loads the inode table first: fsck-load.ts)
//    6 reflink              fsck-reflink.ts       refcounts, missing indirect extents
//    7 stripes              fsck-stripes.ts
//    8 inodes               fsck-inodes.ts
//    9 dirents              fsck-dirents.ts
//   10 xattrs               fsck-xattrs.ts
//   11 directory structure  fsck-dirtree.ts       reachability, loops, /lost+found
//   12 link counts          fsck-links.ts
//
// Passes 1-3 look at the bytes on disk through a read-only open. Then the volume is opened
// (journal replayed in memory; a btree with a node lost in every copy rebuilt in memory from
// its salvaged keys), writable unless -n, a member is missing, or -p met damage it must not
// repair alone. Repairs are key updates committed through the journal, so a crash mid-repair
// leaves a consistent image; superblock copies and the journal ring are rewritten directly.
// The alloc pass replaces the volume's usage table with its recount before anything is
// allocated, and the checkpoint at the end writes the alloc btree from it; a final recount of
// what the checkpoint left confirms it (and corrects it silently if a repair's accounting
// differed: the repair's problem was reported already).
import { CorruptImageError, OperationalError } from '../format/errors.js';
import { type Image, openImage } from '../format/image.js';
import type { FsInfo } from '../format/superblock.js';
import { RO_COMPAT_KNOWN } from '../format/layout.js';
import { Volume } from '../format/volume.js';
import { FsckContext, type FsckHooks, FsckInterrupted, type FsckMode, type ReportedProblem } from './fsck-context.js';
import { applySuperblockPlan, checkSuperblocks, chooseSuperblock, type SuperblockPlan } from './fsck-superblocks.js';
import { applyJournalPlan, checkJournal, type JournalPlan } from './fsck-journal.js';
import { type BtreePlan, checkBtrees, emptyBtreePlan } from './fsck-btrees.js';
import { checkAlloc } from './fsck-alloc.js';
import { type FsState, loadState } from './fsck-load.js';
import { checkExtents } from './fsck-extents.js';
import { checkReflink } from './fsck-reflink.js';
import { checkStripes } from './fsck-stripes.js';
import { checkInodes } from './fsck-inodes.js';
import { checkDirents } from './fsck-dirents.js';
import { checkXattrs } from './fsck-xattrs.js';
import { checkDirectoryTree } from './fsck-dirtree.js';
import { checkLinkCounts } from './fsck-links.js';
import { settleUsage } from './fsck-settle.js';
import { INODE } from './fsck-state.js';
import { P } from './problems.js';

export type { FsckMode, ReportedProblem } from './fsck-context.js';

/** The passes, numbered as the report prints them. */
export const PASSES = [
  'superblocks', 'journal', 'btree structure', 'alloc', 'extents', 'reflink', 'stripes', 'inodes', 'dirents', 'xattrs', 'directory structure', 'link counts',
] as const;

export interface FsckOptions extends FsckHooks {
  mode: FsckMode;
}

export interface PassTiming {
  pass: number;
  name: string;
  ms: number;
  problems: number;
}

export interface FsckSummary {
  /** problems other than 'info' */
  found: number;
  fixed: number;
  remaining: number;
  /** anything was written */
  modified: boolean;
  result: 'clean' | 'fixed' | 'uncorrected' | 'interrupted';
  exitCode: 0 | 1 | 4 | 32;
  inodes: number;
  directories: number;
  files: number;
  extents: number;
  dirents: number;
  xattrs: number;
  nodes: number;
}

export interface FsckReport {
  uuid: string;
  members: Array<{ index: number; path: string; present: boolean }>;
  mode: FsckMode;
  problems: ReportedProblem[];
  passes: PassTiming[];
  /** why the check was read-only although repairs were asked for, and the like */
  notes: string[];
  summary: FsckSummary;
  /** buckets whose usage the final recount corrected after the repairs (0 unless a repair miscounted) */
  settled: number;
}

export async function runFsck(spec: string, options: FsckOptions): Promise<FsckReport> {
  const ctx = new FsckContext(options.mode, options);
  const run = new PassRunner(ctx);
  let probe = await openImage(spec, { allowDegraded: true });
  // Copies of the newest seq that disagree: open with the one whose btrees read back.
  const superblock = chooseSuperblock(probe);
  if (superblock) {
    probe.close();
    probe = await openImage(spec, { allowDegraded: true, superblock });
  }
  const members = probe.members.map((m) => ({ index: m.index, path: m.path, present: m.present }));
  const uuid = probe.fs.fsUuid.toString('hex');
  // Known before anything is reported: no problem is answered yes that cannot be fixed.
  if (probe.degraded) run.holdWrites('a member is missing: checked degraded, nothing written');
  if (probe.fs.roCompat & ~RO_COMPAT_KNOWN) run.holdWrites(`unknown read-only-compatible features 0x${(probe.fs.roCompat & ~RO_COMPAT_KNOWN).toString(16)}: checked read-only`);
  let onDisk: OnDisk | undefined;
  let interrupted = false;
  try {
    onDisk = checkOnDisk(run, probe);
  } catch (err) {
    if (!(err instanceof FsckInterrupted)) throw err;
    interrupted = true;
  } finally {
    probe.close();
  }
  if (onDisk && !onDisk.whole) run.holdWrites('the on-disk structure could not be read whole: checked read-only');
  // -p repairs alone only what is safe alone; damage below the logical level it leaves to -y whole.
  if (options.mode === 'preen' && ctx.problems.some((p) => !p.fixed && p.severity !== 'info')) run.holdWrites('damage that -p does not repair: nothing written; run strata fsck -y');
  const result = interrupted || !onDisk ? { interrupted: true, modified: false } : await checkVolume(run, spec, superblock, onDisk);
  return {
    uuid, members, mode: options.mode, problems: ctx.problems, passes: run.timings, notes: run.notes,
    summary: summarize(ctx, result.state, onDisk?.btrees, result.modified, result.interrupted), settled: result.settled ?? 0,
  };
}

/** Runs passes by number: times them, and turns a pass that meets corruption it cannot get past into CHECK_INCOMPLETE. */
class PassRunner {
  readonly timings: PassTiming[] = [];
  readonly notes: string[] = [];

  constructor(readonly ctx: FsckContext) {}

  pass<T>(index: number, fn: () => T): T | undefined {
    const name = PASSES[index - 1]!;
    this.ctx.startPass(name);
    const before = this.ctx.problems.length;
    const start = performance.now();
    try {
      return fn();
    } catch (err) {
      if (!(err instanceof CorruptImageError)) throw err;
      this.ctx.problem(P.CHECK_INCOMPLETE, { pass: name, reason: err.message }, false);
      return undefined;
    } finally {
      this.timings.push({ pass: index, name, ms: Math.round(performance.now() - start), problems: this.ctx.problems.length - before });
    }
  }

  /** Nothing is written from now on; `why` goes into the notes when repairs were asked for. */
  holdWrites(why: string): void {
    if (this.ctx.mode !== 'check' && this.ctx.mayWrite) this.notes.push(why);
    this.ctx.forbidWrites();
  }
}

interface OnDisk {
  sb: SuperblockPlan;
  journal: JournalPlan;
  btrees: BtreePlan;
  /** every pass finished */
  whole: boolean;
}

/** Passes 1-3, on the bytes as they are on disk. */
function checkOnDisk(run: PassRunner, probe: Image): OnDisk {
  const sb = run.pass(1, () => checkSuperblocks(run.ctx, probe));
  const journal = run.pass(2, () => checkJournal(run.ctx, probe));
  const btrees = run.pass(3, () => checkBtrees(run.ctx, probe));
  return {
    sb: sb ?? { resize: [], rewrite: [], degraded: false },
    journal: journal ?? { replayed: 0, invalidate: [] },
    btrees: btrees ?? { ...emptyBtreePlan(probe.fs.nodeSize, probe.fsMagic), rebuildAgreed: false },
    whole: Boolean(sb && journal && btrees),
  };
}

interface VolumeResult {
  state?: FsState;
  modified: boolean;
  interrupted: boolean;
  settled?: number;
}

/** Passes 4-12 on the volume (journal replayed, damaged btrees rebuilt in memory), then the checkpoint. */
async function checkVolume(run: PassRunner, spec: string, superblock: FsInfo | undefined, onDisk: OnDisk): Promise<VolumeResult> {
  const ctx = run.ctx;
  let vol: Volume;
  try {
    vol = await Volume.open(spec, {
      writable: ctx.mayWrite, allowDegraded: true, superblock, rebuild: onDisk.btrees.rebuild, trackUsage: true, deferReplayCheckpoint: true, nodeBytes: onDisk.btrees.held, nodeCacheSize: 64,
      ringScans: onDisk.journal.scans,
    });
  } catch (err) {
    if (!(err instanceof CorruptImageError)) throw err;
    ctx.problem(P.CHECK_INCOMPLETE, { pass: 'open', reason: err.message }, false);
    return { modified: false, interrupted: false };
  }
  const result: VolumeResult = { modified: false, interrupted: false };
  let keep = ctx.mayWrite;
  try {
    if (ctx.mayWrite) prepareWrites(vol, ctx, onDisk);
    const recount = run.pass(4, () => checkAlloc(ctx, vol, onDisk.btrees.nodes, new Set(onDisk.btrees.rebuild.keys())));
    const generation = recount ? (m: number, b: number) => recount.generations.generation(m, b) : (m: number, b: number) => vol.space!.generation(m, b);
    const st = run.pass(5, () => {
      const state = loadState(ctx, vol, generation);
      checkExtents(ctx, vol, state, recount?.extentRuns);
      return state;
    });
    result.state = st;
    const superblockChanged: boolean[] = [];
    if (st) {
      superblockChanged.push(run.pass(6, () => checkReflink(ctx, vol, st))?.needsCheckpoint ?? false);
      superblockChanged.push(run.pass(7, () => checkStripes(ctx, vol, st))?.needsCheckpoint ?? false);
      superblockChanged.push(run.pass(8, () => checkInodes(ctx, vol, st))?.needsCheckpoint ?? false);
      run.pass(9, () => checkDirents(ctx, vol, st));
      run.pass(10, () => checkXattrs(ctx, vol, st));
      run.pass(11, () => checkDirectoryTree(ctx, vol, st));
      run.pass(12, () => checkLinkCounts(ctx, vol, st));
    }
    if (ctx.mayWrite && (vol.dirty || ctx.problems.some((p) => p.fixed) || superblockChanged.some(Boolean))) {
      vol.checkpoint();
      result.settled = settleUsage(vol);
      result.modified = true;
    }
  } catch (err) {
    if (err instanceof FsckInterrupted) {
      result.interrupted = true;
      // Committed repairs are folded in by the checkpoint at close; before the first commit the
      // usage table may not be corrected yet, so nothing is checkpointed at all.
      keep = ctx.mayWrite && ctx.beforeFirstCommit === undefined;
      ctx.unfixFrom(keep ? ctx.pass : undefined);
    } else if (err instanceof OperationalError && ctx.mayWrite) {
      // A repair could not be written (no free bucket, too few members for the replicas): what
      // was committed stays in the journal (a later open replays it), but none of it is folded
      // in, so nothing counts as fixed.
      keep = false;
      ctx.forbidWrites();
      if (err.code === 'ENOSPC') ctx.problem(P.NO_SPACE, { reason: err.message }, false);
      else ctx.problem(P.CHECK_INCOMPLETE, { pass: 'repair', reason: err.message }, false);
    } else throw err;
  } finally {
    if (keep) vol.close();
    else vol.abandon();
  }
  return result;
}

/**
 * Repairs decided before the volume opened: superblock copies and member sizes, journal ring
 * blocks, nodes to rewrite. A journal replayed in memory is checkpointed before the first
 * repair is committed (its entries would otherwise be overwritten), and only after the alloc
 * pass has corrected the usage the checkpoint allocates from.
 */
function prepareWrites(vol: Volume, ctx: FsckContext, onDisk: OnDisk): void {
  applySuperblockPlan(vol, onDisk.sb);
  applyJournalPlan(vol, onDisk.journal);
  for (const r of onDisk.btrees.rewrite) vol.trees[r.btreeId]!.rewrite(r.at);
  ctx.beforeFirstCommit = () => {
    if (vol.replay.replayed > 0) vol.checkpoint();
  };
}

function summarize(ctx: FsckContext, st: FsState | undefined, btrees: BtreePlan | undefined, modified: boolean, interrupted: boolean): FsckSummary {
  const significant = ctx.problems.filter((p) => p.severity !== 'info');
  const fixed = significant.filter((p) => p.fixed).length;
  const remaining = significant.length - fixed;
  const result = interrupted ? 'interrupted' : remaining > 0 ? 'uncorrected' : significant.length > 0 ? 'fixed' : 'clean';
  const exitCode = ({ clean: 0, fixed: 1, uncorrected: 4, interrupted: 32 } as const)[result];
  let inodes = 0;
  let directories = 0;
  let files = 0;
  if (st) {
    const t = st.inodes;
    for (let row = 0; row < t.count; row++) {
      if (t.c.flags[row]! & INODE.removed) continue;
      inodes++;
      if (t.isDir(row)) directories++;
      else if ((t.c.mode[row]! & 0o170000) === 0o100000) files++;
    }
  }
  return {
    found: significant.length, fixed, remaining, modified, result, exitCode, inodes, directories, files,
    extents: st?.totals.extents ?? 0, dirents: st?.totals.dirents ?? 0, xattrs: st?.totals.xattrs ?? 0, nodes: btrees?.checked ?? 0,
  };
}

