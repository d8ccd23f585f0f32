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
import { CorruptImageError } from '../format/errors.js';
import { openImage } from '../format/image.js';
import { RO_COMPAT_KNOWN } from '../format/layout.js';
import { Volume } from '../format/volume.js';
import { FsckContext, type FsckHooks, FsckInterrupted, type FsckMode, type ReportedProblem } from './fsck-context.js';
import { applySuperblockPlan, checkSuperblocks, type SuperblockPlan } from './fsck-superblocks.js';
import { applyJournalPlan, checkJournal, type JournalPlan } from './fsck-journal.js';
import { type BtreePlan, checkBtrees } from './fsck-btrees.js';
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
  const passes: PassTiming[] = [];
  const notes: string[] = [];
  const run = <T>(index: number, fn: () => T): T | undefined => {
    const name = PASSES[index - 1]!;
    ctx.startPass(name);
    const before = ctx.problems.length;
    const start = performance.now();
    try {
      return fn();
    } catch (err) {
      if (!(err instanceof CorruptImageError)) throw err;
      ctx.problem(P.CHECK_INCOMPLETE, { pass: name, reason: err.message }, false);
      return undefined;
    } finally {
      passes.push({ pass: index, name, ms: Math.round(performance.now() - start), problems: ctx.problems.length - before });
    }
  };

  const probe = await openImage(spec, { allowDegraded: true });
  const members = probe.members.map((m) => ({ index: m.index, path: m.path, present: m.present }));
  const uuid = probe.fs.fsUuid.toString('hex');
  let sb: SuperblockPlan | undefined;
  let journal: JournalPlan | undefined;
  let btrees: BtreePlan | undefined;
  let interrupted = false;
  try {
    sb = run(1, () => checkSuperblocks(ctx, probe));
    if (sb?.degraded) holdWrites(ctx, notes, 'a member is missing: checked degraded, nothing written');
    if (probe.fs.roCompat & ~RO_COMPAT_KNOWN) holdWrites(ctx, notes, `unknown read-only-compatible features 0x${(probe.fs.roCompat & ~RO_COMPAT_KNOWN).toString(16)}: checked read-only`);
    journal = run(2, () => checkJournal(ctx, probe));
    btrees = run(3, () => checkBtrees(ctx, probe));
  } catch (err) {
    if (!(err instanceof FsckInterrupted)) throw err;
    interrupted = true;
  } finally {
    probe.close();
  }
  if (!sb || !journal || !btrees) holdWrites(ctx, notes, 'the on-disk structure could not be read whole: checked read-only');
  // -p repairs alone only what is safe alone; damage below the logical level it leaves to -y whole.
  if (options.mode === 'preen' && ctx.problems.some((p) => !p.fixed && p.severity !== 'info')) holdWrites(ctx, notes, 'damage that -p does not repair: nothing written; run strata fsck -y');

  let st: FsState | undefined;
  let settled = 0;
  let modified = false;
  if (!interrupted) {
    let vol: Volume | undefined;
    try {
      vol = await Volume.open(spec, {
        writable: ctx.mayWrite, allowDegraded: true, rebuild: btrees?.rebuild ?? new Map(), trackUsage: true, deferReplayCheckpoint: true,
      });
    } catch (err) {
      if (!(err instanceof CorruptImageError)) throw err;
      ctx.problem(P.CHECK_INCOMPLETE, { pass: 'open', reason: err.message }, false);
    }
    if (vol) {
      try {
        if (ctx.mayWrite) prepareWrites(vol, ctx, sb!, journal!, btrees!);
        const needsCheckpoint: boolean[] = [];
        run(4, () => checkAlloc(ctx, vol!, btrees?.nodes ?? []));
        st = run(5, () => {
          const state = loadState(ctx, vol!);
          checkExtents(ctx, vol!, state);
          return state;
        });
        if (st) {
          const state = st;
          needsCheckpoint.push(run(6, () => checkReflink(ctx, vol!, state))?.needsCheckpoint ?? false);
          needsCheckpoint.push(run(7, () => checkStripes(ctx, vol!, state))?.needsCheckpoint ?? false);
          needsCheckpoint.push(run(8, () => checkInodes(ctx, vol!, state))?.needsCheckpoint ?? false);
          run(9, () => checkDirents(ctx, vol!, state));
          run(10, () => checkXattrs(ctx, vol!, state));
          run(11, () => checkDirectoryTree(ctx, vol!, state));
          run(12, () => checkLinkCounts(ctx, vol!, state));
        }
        if (ctx.mayWrite && (vol.dirty || ctx.problems.some((p) => p.fixed) || needsCheckpoint.some(Boolean))) {
          vol.checkpoint();
          settled = settleUsage(vol);
          modified = true;
        }
      } catch (err) {
        if (!(err instanceof FsckInterrupted)) throw err;
        interrupted = true;
      } finally {
        // Interrupted or not, what was committed is folded in: the image is left consistent.
        if (ctx.mayWrite) vol.close();
        else vol.abandon();
      }
    }
  }
  return { uuid, members, mode: options.mode, problems: ctx.problems, passes, notes, summary: summarize(ctx, st, btrees, modified, interrupted), settled };
}

function holdWrites(ctx: FsckContext, notes: string[], why: string): void {
  if (ctx.mode !== 'check' && ctx.mayWrite) notes.push(why);
  ctx.forbidWrites();
}

/**
 * Repairs decided before the volume opened: superblock copies and member sizes, journal ring
 * blocks, nodes to rewrite. A journal replayed in memory is checkpointed before the first
 * repair is committed (its entries would otherwise be overwritten), and only after the alloc
 * pass has corrected the usage the checkpoint allocates from.
 */
function prepareWrites(vol: Volume, ctx: FsckContext, sb: SuperblockPlan, journal: JournalPlan, btrees: BtreePlan): void {
  applySuperblockPlan(vol, sb);
  applyJournalPlan(vol, journal);
  for (const r of btrees.rewrite) vol.trees[r.btreeId]!.rewrite(r.at);
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

