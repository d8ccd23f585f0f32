// strata scrub: verify every checksum on every member, repair from good replicas, and say
// plainly what was found, what was fixed and what is lost.
//
// Steps, each in its own module:
//   members and superblocks  (scrub-members.ts)  presence, size, both superblock copies
//   btrees                   (scrub-plan.ts)     every btree level by level from the roots: read
//                                                and verify every node copy; list extent copies
//                                                and stripes
//   stripes                  (scrub-stripes.ts)  read every block of every stripe, data and
//                                                parity; verify chunk checksums, parity against
//                                                data, and the extent copies in the data blocks
//   data                     (scrub-read.ts)     read the other extent copies member by member,
//                                                ascending offset, in large runs; verify each
//   repair                   (scrub-stripes.ts)  rebuild bad stripe chunks from the other blocks,
//                            (scrub-repair.ts)   rewrite bad copies in place from a good one,
//                                                flush, read back, verify again
//   report                   (scrub-report.ts)   name damaged files and nodes; totals; exit code
//
// With dryRun the image is opened read-only: the block layer refuses every write, so -n cannot
// change a byte even by mistake.
//
// Members are verified one after the other on this thread, while the next run (or stripe) is
// read on libuv's thread pool; one worker thread per member measured slower on the 2-core
// machines here (docs/scrub.md, Performance).
//
// Scrub expects to be the only process using the image: nothing in the format locks it.
import fs from 'node:fs';
import { OperationalError } from '../format/errors.js';
import { type Image, openImage, splitImageSpec } from '../format/image.js';
import type { BlockLayer } from '../format/io.js';
import { RO_COMPAT_KNOWN } from '../format/layout.js';
import { checkMembers, checkSuperblocks, extendShortMembers, type MemberCheck, memberLossTolerated, planRecreation, recreateMemberFile, repairSuperblocks, type SuperblockCheck } from './scrub-members.js';
import { markSharedPlaces, scanBtrees, type ScrubPlan, workList } from './scrub-plan.js';
import { compareUnchecksummedReplicas, type ReadPhaseOptions, readAndVerify, ScrubProgress, verifyCompact } from './scrub-read.js';
import { readGoodCopy, rebuildFromStripe, repairCopies } from './scrub-repair.js';
import { relocateCopies } from './scrub-relocate.js';
import { attachContents, repairStripes, verifyStripes } from './scrub-stripes.js';
import { buildReport, type ScrubReport } from './scrub-report.js';

export type { ScrubReport } from './scrub-report.js';

export interface ScrubOptions {
  /** -n: verify and report, write nothing */
  dryRun: boolean;
  /** --metadata-only: superblocks and btree nodes; skip extent data */
  metadataOnly: boolean;
  signal?: AbortSignal;
  /** `errors`: bad copies found so far */
  onProgress?: (bytesDone: number, bytesTotal: number, errors: number) => void;
  /** wrap every block layer scrub opens (tests simulate unusable places with it) */
  wrapLayer?: (layer: BlockLayer) => BlockLayer;
}

function missingPaths(named: string[]): string[] {
  return named.filter((p) => {
    try {
      fs.statSync(p);
      return false;
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === 'ENOENT';
    }
  });
}

interface Opened {
  img: Image;
  members: MemberCheck[];
  superblocks: SuperblockCheck[];
  warnings: string[];
}

/**
 * Open the image degraded-tolerant and check its member files and superblocks. A named member
 * path that does not exist is left out of the open (openImage refuses named paths that are
 * missing) and, without -n, the missing member is recreated there when that is safe.
 */
async function openForScrub(spec: string, dryRun: boolean, wrapLayer: ScrubOptions['wrapLayer']): Promise<Opened> {
  const named = splitImageSpec(spec);
  const absent = missingPaths(named);
  const present = named.filter((p) => !absent.includes(p));
  // With nothing left to open, openImage reports the first named path as missing.
  let img = await openImage(present.length > 0 ? present.join(':') : spec, { writable: !dryRun, allowDegraded: true, wrapLayer });
  try {
    if (!dryRun && (img.fs.roCompat & ~RO_COMPAT_KNOWN) !== 0) {
      throw new OperationalError('RO_COMPAT', `image has read-only-compatible features 0x${(img.fs.roCompat & ~RO_COMPAT_KNOWN).toString(16)} this strata does not know: it may not write to it`, 'run strata scrub -n');
    }
    let members = checkMembers(img);
    planRecreation(named, absent, members, memberLossTolerated(img));
    let superblocks = checkSuperblocks(img);
    const warnings: string[] = [];
    for (const p of absent) if (!members.some((m) => m.recreateAt === p)) warnings.push(`${p}: No such file or directory (not a member this image is missing)`);
    const newer = superblocks.some((s) => s.newer);
    if (newer) warnings.push('a member holds a newer superblock than the one the image was opened with: nothing is repaired; name that member first');
    const recreate = dryRun || newer ? [] : members.filter((m) => m.recreateAt !== undefined);
    if (recreate.length === 0) return { img, members, superblocks, warnings };

    for (const m of recreate) {
      const failure = recreateMemberFile(img.fs, img.checksums.crc32c, m.index, m.recreateAt!);
      m.outcome = failure ? { repaired: false, note: failure } : { repaired: true, note: `recreated at ${m.recreateAt}` };
    }
    const created = recreate.filter((m) => m.outcome?.repaired).map((m) => m.recreateAt!);
    if (created.length === 0) return { img, members, superblocks, warnings };
    img.close();
    img = await openImage([...present, ...created].join(':'), { writable: true, allowDegraded: true, wrapLayer });
    // The recreated members count as found missing and repaired; everything else is re-checked.
    const before = members;
    members = checkMembers(img).map((m, i) => (before[i]!.problem === 'missing' ? { ...before[i]!, present: m.present, path: m.path } : m));
    superblocks = checkSuperblocks(img);
    return { img, members, superblocks, warnings };
  } catch (err) {
    img.close();
    throw err;
  }
}

/**
 * The data pass (stripes, then extent copies: the rows, then the objects) and the leaves the
 * scan deferred, as two loops at once: the leaves are verified on this thread while it waits for
 * a data read, and their reads take turns with the data's on the thread pool. Interrupted: true.
 */
async function verifyDataAndLeaves(img: Image, plan: ScrubPlan, options: ReadPhaseOptions): Promise<boolean> {
  const data = async (): Promise<boolean> => {
    if ((await verifyStripes(img, plan.stripes, options)).interrupted) return true;
    const work = workList(plan.extents);
    if ((await verifyCompact(img, plan.compact, options)).interrupted) return true;
    return (await readAndVerify(img, work, options)).interrupted;
  };
  // Both loops finish before the image may close, whichever fails.
  const [leaves, rest] = await Promise.allSettled([readAndVerify(img, workList(plan.deferredLeaves), options), data()]);
  if (leaves.status === 'rejected') throw leaves.reason;
  if (rest.status === 'rejected') throw rest.reason;
  return leaves.value.interrupted || rest.value;
}

/** Every node and extent copy and every stripe block of the plan (the rows aside) verified good. */
function allGood(plan: ScrubPlan): boolean {
  for (const t of plan.nodes) for (const c of t.copies) if (c.state !== 'good') return false;
  for (const t of plan.extents) for (const c of t.copies) if (c.state !== 'good') return false;
  for (const s of plan.stripes) for (const b of s.blocks) if (b.state !== 'good') return false;
  return true;
}

export async function scrubImage(spec: string, options: ScrubOptions): Promise<ScrubReport> {
  const { img, members, superblocks, warnings } = await openForScrub(spec, options.dryRun, options.wrapLayer);
  try {
    const writable = !options.dryRun && !superblocks.some((s) => s.newer);
    const progress = new ScrubProgress(options.onProgress);
    const plan = await scanBtrees(img, { metadataOnly: options.metadataOnly, signal: options.signal, progress });
    warnings.push(...plan.warnings);
    let interrupted = plan.interrupted;
    // Extent copies inside stripe blocks are verified from the blocks' bytes, as objects.
    if (plan.stripes.length > 0) plan.extents = plan.compact.materialize(plan.extents);
    attachContents(plan.stripes, plan.extents);
    if (!interrupted) interrupted = await verifyDataAndLeaves(img, plan, { signal: options.signal, progress });
    compareUnchecksummedReplicas(plan.extents);
    // Anything but a clean run is reported and repaired from objects: a bad copy of anything
    // may share bytes with a good extent copy in the rows, and must then be left alone.
    if (!plan.compact.allGood() || !allGood(plan)) plan.extents = plan.compact.materialize(plan.extents);
    const targets = [...plan.nodes, ...plan.extents];
    // A recreated member held none of its copies or blocks: they count as not in the file, like a missing member's.
    const recreated = (member: number) => members[member]?.problem === 'missing' && members[member]?.present === true;
    const wasMissing = 'member file was missing (recreated empty)';
    for (const t of targets) for (const c of t.copies) if (c.state === 'bad' && recreated(c.member)) Object.assign(c, { notInFile: true, reason: wasMissing });
    for (const s of plan.stripes) for (const b of s.blocks) if (b.state === 'bad' && recreated(b.member)) Object.assign(b, { notInFile: true, reason: wasMissing });
    // Only a bad copy or block is ever rewritten, so only then does it matter what shares its bytes.
    if (targets.some((t) => t.copies.some((c) => c.state === 'bad')) || plan.stripes.some((s) => s.blocks.some((b) => b.state === 'bad'))) markSharedPlaces(targets, plan.stripes);
    // Erasure-coded extents the stripe pass did not judge (their stripe key unreadable, say).
    for (const e of plan.extents) {
      if (e.body.stripeId && e.rebuildable === undefined && !e.copies.some((c) => c.state === 'good')) e.rebuildable = rebuildFromStripe(img, e) !== undefined;
    }
    if (writable && !interrupted) {
      extendShortMembers(img, members);
      repairStripes(img, plan.stripes);
      const relocations = repairCopies(img, targets);
      repairSuperblocks(img, superblocks);
      // Last: moving copies commits and checkpoints, which writes every superblock anew.
      await relocateCopies(img, relocations, (t) => readGoodCopy(img, t), { wrapLayer: options.wrapLayer });
    }
    return buildReport({
      img, dryRun: options.dryRun, metadataOnly: options.metadataOnly, writable, interrupted, members, superblocks, plan, warnings,
    });
  } finally {
    img.close();
  }
}
