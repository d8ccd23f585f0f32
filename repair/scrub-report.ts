// What scrub found and did, as plain data: the same object feeds the human printer and --json
// (docs/scrub.md documents the shape; "version" there is the document version, bumped only
// when a field changes meaning or goes away).
//
// Counting, per thing checked (a member file, a superblock copy, a node copy, an extent copy, a
// stripe block, a stripe's parity): errorsFound = corrected + uncorrectable + repairable. `repairable` is only ever non-zero with
// -n: damage that a run without -n would rewrite from a good copy. Exit codes follow fsck(8):
// 0 nothing found; 1 everything found was corrected; 4 something is left (always the case for
// damage found with -n); 32 interrupted.
import type { Image } from '../format/image.js';
import { formatUuid } from '../format/codec.js';
import { COMPRESSION_NAMES } from '../format/compress.js';
import { posToText } from '../format/keys.js';
import { BTREE, BTREE_NAMES } from '../format/layout.js';
import { describeMemberProblem, type MemberCheck, type SuperblockCheck } from './scrub-members.js';
import { buildPathIndex, type PathIndex } from './scrub-names.js';
import type { CopyRecord, ExtentTarget, NodeTarget, ReflinkUse, ScrubPlan, ScrubTarget, StripeBlockRecord, StripeTarget } from './scrub-plan.js';

export type TargetStatus = 'repaired' | 'damaged' | 'lost';
export type Verdict = 'clean' | 'corrected' | 'uncorrected' | 'interrupted';

export interface CopyReport {
  member: number;
  /** null when the member file was not found */
  path: string | null;
  offset: number;
  length: number;
  /** good: verified; bad: failed and still bad; repaired: failed, rewritten and verified again */
  state: 'good' | 'bad' | 'repaired';
  reason?: string;
  /** what the repair did, or why it did not happen */
  note?: string;
}

export interface FileRange {
  /** every path naming the inode ("/a/b"); empty when no name was found */
  paths: string[];
  inode: number;
  /** byte range of the file, [start, end) */
  start: number;
  end: number;
}

export interface NodeReport {
  btree: string;
  level: number;
  min: string;
  max: string;
  status: TargetStatus;
  /** no copy verified: the nodes below it (interior node) or the extents it lists (leaf of the extents or reflink btree) were not scrubbed */
  subtreeNotScrubbed: boolean;
  /** for a lost node: paths of the files whose keys it held (see docs/scrub.md) */
  affectedFiles: string[];
  copies: CopyReport[];
}

export interface ExtentReport {
  files: FileRange[];
  /** set for an indirect (shared) extent: its range of the reflink address space */
  reflink: { start: number; end: number } | null;
  storedSize: number;
  uncompressedSize: number;
  compression: string;
  status: TargetStatus;
  copies: CopyReport[];
}

export interface StripeBlockReport {
  /** 0..k-1 data, k..k+m-1 parity */
  index: number;
  kind: 'data' | 'parity';
  member: number;
  /** null when the member file was not found */
  path: string | null;
  offset: number;
  length: number;
  /** good: every chunk verified; bad: failed and still bad; repaired: rebuilt, rewritten and verified again */
  state: 'good' | 'bad' | 'repaired';
  /** chunks that failed their checksum or could not be read */
  badChunks: number;
  reason?: string;
  note?: string;
}

export interface StripeReport {
  id: number;
  dataBlocks: number;
  parityBlocks: number;
  /** bytes per block */
  blockSize: number;
  /** bytes covered by one chunk checksum */
  chunkSize: number;
  status: TargetStatus;
  /** parity recomputed from data: "unchecked" when no chunk had a good block to spare to check with */
  parity: 'matches' | 'mismatch' | 'unchecked';
  /** chunks where parity disagrees with data although every block passed its checksum there */
  parityMismatchChunks: number;
  /** chunks with more bad blocks than parity blocks: not rebuildable */
  lostChunks: number;
  /** the files with extents in the stripe's data blocks, one entry per contiguous range */
  files: FileRange[];
  blocks: StripeBlockReport[];
}

export interface MemberReport {
  index: number;
  uuid: string;
  /** null when the member file was not found */
  path: string | null;
  present: boolean;
  /** size in the member table, bytes */
  size: number;
  /** size of the file when scrub started, bytes */
  fileSize: number;
  /** node and extent copies the metadata places on this member */
  copies: number;
  bytesVerified: number;
  /** bad node and extent copies found on this member */
  badCopies: number;
  /** of those, rewritten and verified again */
  repairedCopies: number;
  /** bad copies whose bytes were not in the file (member missing, or past the end of a truncated file); not listed one by one */
  copiesNotInFile: number;
  /** of those, rewritten and verified again */
  copiesNotInFileRepaired: number;
  /** stripe blocks placed here (erasure-coded images) */
  stripeBlocks: number;
  badStripeBlocks: number;
  repairedStripeBlocks: number;
  /** bad stripe blocks some of whose bytes were not in the file; counted here, not listed */
  stripeBlocksNotInFile: number;
  stripeBlocksNotInFileRepaired: number;
  problem: null | { kind: 'missing' | 'short' | 'long'; text: string; status: 'repaired' | 'unrepaired' | 'repairable'; note: string | null };
}

export interface SuperblockReport {
  member: number;
  path: string;
  copy: 0 | 1;
  offset: number;
  reason: string;
  status: 'repaired' | 'unrepaired' | 'repairable';
  note: string | null;
}

export interface ScrubTotals {
  bytesVerified: number;
  copiesVerified: number;
  /** stripes with a block read and checked */
  stripesVerified: number;
  stripeBlocksVerified: number;
  errorsFound: number;
  corrected: number;
  uncorrectable: number;
  repairable: number;
}

export interface ScrubReport {
  uuid: string;
  dryRun: boolean;
  metadataOnly: boolean;
  degraded: boolean;
  result: Verdict;
  exitCode: 0 | 1 | 4 | 32;
  members: MemberReport[];
  superblocks: SuperblockReport[];
  nodes: NodeReport[];
  extents: ExtentReport[];
  stripes: StripeReport[];
  lost: { nodes: number; extents: number; stripes: number; files: string[] };
  totals: ScrubTotals;
  warnings: string[];
}

export interface ReportInput {
  img: Image;
  dryRun: boolean;
  metadataOnly: boolean;
  /** repairs were allowed (not -n, no newer superblock) */
  writable: boolean;
  interrupted: boolean;
  members: MemberCheck[];
  superblocks: SuperblockCheck[];
  plan: ScrubPlan;
  warnings: string[];
}

/** Whether some copy is not good: only such a target can be listed or lost. A plain loop: it runs for every target. */
function damaged(t: ScrubTarget): boolean {
  for (const c of t.copies) if (c.state !== 'good') return true;
  return false;
}

function targetStatus(t: ScrubTarget): TargetStatus {
  const source = t.copies.some((c) => c.state === 'good') || (t.kind === 'extent' && t.rebuildable);
  if (!source) return 'lost';
  return t.copies.every((c) => c.state === 'good' || c.outcome?.repaired) ? 'repaired' : 'damaged';
}

/**
 * Listed one by one: lost, or with a bad copy whose bytes are in its member file. Copies that
 * are not in the file (missing member, truncated file) are counted on the member's row.
 */
function listed(t: ScrubTarget): boolean {
  if (!damaged(t)) return false;
  return targetStatus(t) === 'lost' || t.copies.some((c) => c.state === 'bad' && !c.notInFile);
}

function stripeStatus(s: StripeTarget): TargetStatus {
  if (s.lostChunks.length > 0) return 'lost';
  return s.parity !== 'mismatch' && s.blocks.every((b) => b.state === 'good' || b.outcome?.repaired) ? 'repaired' : 'damaged';
}

/** Listed on the same rule as nodes and extents, and when parity disagrees with data. */
function stripeListed(s: StripeTarget): boolean {
  return s.lostChunks.length > 0 || s.parity === 'mismatch' || s.blocks.some((b) => b.state === 'bad' && !b.notInFile);
}

function memberRepairable(m: MemberCheck): boolean {
  return m.problem === 'short' || (m.problem === 'missing' && m.recreateAt !== undefined);
}

/** Whether a bad copy would be rewritten by a run without -n. */
function copyRepairable(img: Image, members: MemberCheck[], t: ScrubTarget, c: CopyRecord): boolean {
  const reachable = img.layer.present(c.member) || members[c.member]?.recreateAt !== undefined;
  return !c.unwritable && reachable && (t.copies.some((o) => o.state === 'good') || (t.kind === 'extent' && t.rebuildable === true));
}

/** Whether a bad stripe block would be rewritten by a run without -n. */
function blockRepairable(img: Image, members: MemberCheck[], b: StripeBlockRecord): boolean {
  const reachable = img.layer.present(b.member) || members[b.member]?.recreateAt !== undefined;
  return !b.unwritable && reachable && b.rebuildable === true;
}

/** Why a bad copy or block was not even tried, when the repair step left no outcome on it. */
function untriedNote(input: ReportInput, c: CopyRecord | StripeBlockRecord): string | undefined {
  if (input.dryRun) return 'dry run (-n)';
  if (input.interrupted) return 'not rewritten: interrupted';
  if (!input.writable) return 'not rewritten: a newer superblock exists (see superblocks)';
  return c.unwritable ? `cannot rewrite in place: ${c.unwritable}` : undefined;
}

function copyReport(input: ReportInput, c: CopyRecord): CopyReport {
  const state = c.state === 'good' ? 'good' : c.outcome?.repaired ? 'repaired' : 'bad';
  const note = c.outcome?.note ?? (c.state === 'bad' ? untriedNote(input, c) : undefined);
  return {
    member: c.member, path: input.members[c.member]?.path ?? null, offset: c.offset, length: c.length, state,
    ...(c.reason !== undefined && c.state === 'bad' ? { reason: c.reason } : {}),
    ...(note !== undefined ? { note } : {}),
  };
}

/** Inode ranges whose files a lost node affects, and whether directories count. */
function lostNodeRange(n: NodeTarget): { from: number; to: number; dirs: boolean } | undefined {
  if (n.btreeId === BTREE.extents) return { from: n.min.inode, to: n.max.inode, dirs: false };
  if (n.btreeId === BTREE.inodes || n.btreeId === BTREE.xattrs || n.btreeId === BTREE.dirents) return { from: n.min.inode, to: n.max.inode, dirs: true };
  return undefined;
}

function blockReport(input: ReportInput, s: StripeTarget, b: StripeBlockRecord): StripeBlockReport {
  const state = b.state === 'good' ? 'good' : b.outcome?.repaired ? 'repaired' : 'bad';
  const unrebuildable = b.state === 'bad' && !b.rebuildable ? `some bad chunks cannot be rebuilt: more than ${s.stripe.parityBlocks} blocks of the stripe are bad at the same place` : undefined;
  const note = b.outcome?.note ?? unrebuildable ?? (b.state === 'bad' ? untriedNote(input, b) : undefined);
  return {
    index: b.index, kind: b.index < s.stripe.dataBlocks ? 'data' : 'parity', member: b.member, path: input.members[b.member]?.path ?? null,
    offset: b.offset, length: b.length, state, badChunks: b.badChunks.length,
    ...(b.reason !== undefined && b.state === 'bad' ? { reason: b.reason } : {}),
    ...(note !== undefined ? { note } : {}),
  };
}

/** Ranges of one file that follow each other are shown as one. */
function mergeRanges(ranges: FileRange[]): FileRange[] {
  const sorted = [...ranges].sort((a, b) => a.inode - b.inode || a.start - b.start);
  const out: FileRange[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && last.inode === r.inode && last.end >= r.start) last.end = Math.max(last.end, r.end);
    else out.push({ ...r });
  }
  return out;
}

function reflinkUsers(uses: ReflinkUse[], start: number, end: number): ReflinkUse[] {
  return uses.filter((u) => u.index < end && u.index + (u.end - u.start) > start);
}

export function buildReport(input: ReportInput): ScrubReport {
  const { img, plan, members, dryRun } = input;
  const targets: ScrubTarget[] = [...plan.nodes, ...plan.extents];
  const shown = targets.filter(listed);
  const lostNodes = plan.nodes.filter((n) => targetStatus(n) === 'lost');
  const shownStripes = plan.stripes.filter(stripeListed);
  const extentsOfStripe = new Map<number, ExtentTarget[]>(shownStripes.map((s) => [s.id, []]));
  for (const e of plan.extents) extentsOfStripe.get(e.body.stripeId)?.push(e);

  // Names are looked up only when there is something to name.
  const wantedInodes = new Set<number>();
  const ranges = lostNodes.map(lostNodeRange).filter((r) => r !== undefined);
  for (const t of [...shown, ...[...extentsOfStripe.values()].flat()]) {
    if (t.kind !== 'extent') continue;
    if (t.owner.kind === 'file') wantedInodes.add(t.owner.inode);
    else for (const u of reflinkUsers(plan.reflinkUses, t.owner.start, t.owner.end)) wantedInodes.add(u.inode);
  }
  for (const n of lostNodes) {
    if (n.btreeId !== BTREE.reflink) continue;
    const lo = n.min.inode > 0 ? Infinity : n.min.offset;
    const hi = n.max.inode > 0 ? Infinity : n.max.offset;
    for (const u of reflinkUsers(plan.reflinkUses, lo, hi)) wantedInodes.add(u.inode);
  }
  let names: PathIndex | undefined;
  if (wantedInodes.size > 0 || ranges.length > 0) {
    names = buildPathIndex(img, (inode) => wantedInodes.has(inode) || ranges.some((r) => inode >= r.from && inode <= r.to));
    if (!names.complete) input.warnings.push('some directory entries could not be read: some damaged files may be named by inode only');
  }
  const pathsOf = (inode: number) => names?.pathsOf(inode) ?? [];

  const nodes: NodeReport[] = [];
  const extents: ExtentReport[] = [];
  const lostFiles = new Set<string>();
  for (const t of shown) {
    const status = targetStatus(t);
    const copies = t.copies.map((c) => copyReport(input, c));
    if (t.kind === 'node') {
      let affectedFiles: string[] = [];
      if (status === 'lost') {
        const r = lostNodeRange(t);
        if (r && names) affectedFiles = names.namedInodes().filter((n) => n.inode >= r.from && n.inode <= r.to && (r.dirs || !n.isDir)).flatMap((n) => pathsOf(n.inode));
        if (t.btreeId === BTREE.reflink) {
          const lo = t.min.inode > 0 ? Infinity : t.min.offset;
          const hi = t.max.inode > 0 ? Infinity : t.max.offset;
          affectedFiles = reflinkUsers(plan.reflinkUses, lo, hi).flatMap((u) => pathsOf(u.inode));
        }
        affectedFiles = [...new Set(affectedFiles)].sort();
        for (const p of affectedFiles) lostFiles.add(p);
      }
      nodes.push({ btree: BTREE_NAMES[t.btreeId] ?? String(t.btreeId), level: t.level, min: posToText(t.min), max: posToText(t.max), status, subtreeNotScrubbed: t.belowUnknown, affectedFiles, copies });
      continue;
    }
    const files = extentFiles(t, plan.reflinkUses, pathsOf);
    if (status === 'lost') for (const f of files) for (const p of f.paths) lostFiles.add(p);
    extents.push({
      files, reflink: t.owner.kind === 'reflink' ? { start: t.owner.start, end: t.owner.end } : null,
      storedSize: t.body.storedSize, uncompressedSize: t.body.uncompressedSize, compression: COMPRESSION_NAMES[t.body.compression] ?? String(t.body.compression), status, copies,
    });
  }

  const stripes: StripeReport[] = shownStripes.map((s) => ({
    id: s.id, dataBlocks: s.stripe.dataBlocks, parityBlocks: s.stripe.parityBlocks, blockSize: s.stripe.blockSize, chunkSize: 1 << s.stripe.checksumGranularityBits,
    status: stripeStatus(s), parity: s.parity, parityMismatchChunks: s.parityMismatchChunks.length, lostChunks: s.lostChunks.length,
    files: mergeRanges(extentsOfStripe.get(s.id)!.flatMap((e) => extentFiles(e, plan.reflinkUses, pathsOf))),
    blocks: s.blocks.map((b) => blockReport(input, s, b)),
  }));

  const superblockBytes = input.superblocks.reduce((n, s) => n + s.bytes, 0);
  const totals: ScrubTotals = { bytesVerified: superblockBytes, copiesVerified: 0, stripesVerified: 0, stripeBlocksVerified: 0, errorsFound: 0, corrected: 0, uncorrectable: 0, repairable: 0 };
  // With a newer superblock present nothing is repairable until the image is opened through it.
  const newer = input.superblocks.some((s) => s.newer);
  const wouldRepair = dryRun && !newer;
  // Called for each bad thing only: whether it is repairable costs a look at the member and the other copies.
  const countBad = (repaired: boolean | undefined, repairable: boolean) => {
    totals.errorsFound++;
    if (repaired) totals.corrected++;
    else if (wouldRepair && repairable) totals.repairable++;
    else totals.uncorrectable++;
  };
  const perMember = members.map(() => ({
    copies: 0, bytes: 0, bad: 0, repaired: 0, notInFile: 0, notInFileRepaired: 0, blocks: 0, badBlocks: 0, repairedBlocks: 0, blocksNotInFile: 0, blocksNotInFileRepaired: 0,
  }));
  for (const t of targets) {
    for (const c of t.copies) {
      const row = perMember[c.member];
      if (row) row.copies++;
      if (c.checked) {
        totals.copiesVerified++;
        // A copy inside a stripe block was read as part of the block, and its bytes are counted there.
        if (!c.inStripeBlock) {
          totals.bytesVerified += c.length;
          if (row) row.bytes += c.length;
        }
      }
      if (row && c.state === 'bad') row.bad++;
      if (row && c.outcome?.repaired) row.repaired++;
      if (row && c.notInFile) {
        row.notInFile++;
        if (c.outcome?.repaired) row.notInFileRepaired++;
      }
      if (c.state === 'bad') countBad(c.outcome?.repaired, copyRepairable(img, members, t, c));
    }
  }
  // What is left in compact rows was all verified good (scrub.ts materializes anything else).
  plan.compact.tally().forEach((rows, m) => {
    const row = perMember[m];
    if (row) {
      row.copies += rows.copies;
      row.bytes += rows.bytes;
    }
    totals.copiesVerified += rows.copies;
    totals.bytesVerified += rows.bytes;
  });
  for (const s of plan.stripes) {
    if (s.blocks.some((b) => b.checked)) totals.stripesVerified++;
    for (const b of s.blocks) {
      const row = perMember[b.member];
      if (row) row.blocks++;
      if (b.checked) {
        totals.stripeBlocksVerified++;
        totals.bytesVerified += b.length;
        if (row) row.bytes += b.length;
      }
      if (row && b.state === 'bad') row.badBlocks++;
      if (row && b.outcome?.repaired) row.repairedBlocks++;
      if (row && b.state === 'bad' && b.notInFile) {
        row.blocksNotInFile++;
        if (b.outcome?.repaired) row.blocksNotInFileRepaired++;
      }
      if (b.state === 'bad') countBad(b.outcome?.repaired, blockRepairable(img, members, b));
    }
    // Parity that disagrees with data where every block passes its checksum: nothing tells which block is wrong.
    if (s.parity === 'mismatch') countBad(false, false);
  }
  for (const s of input.superblocks) if (s.state === 'bad') countBad(s.outcome?.repaired, !s.newer);
  for (const m of members) if (m.problem !== undefined) countBad(m.outcome?.repaired, memberRepairable(m));

  const result: Verdict = input.interrupted ? 'interrupted' : totals.errorsFound === 0 ? 'clean' : totals.uncorrectable + totals.repairable === 0 ? 'corrected' : 'uncorrected';
  return {
    uuid: formatUuid(img.fs.fsUuid),
    dryRun, metadataOnly: input.metadataOnly,
    degraded: members.some((m) => m.problem === 'missing' && !m.outcome?.repaired),
    result,
    exitCode: ({ clean: 0, corrected: 1, uncorrected: 4, interrupted: 32 } as const)[result],
    members: members.map((m, i) => ({
      index: m.index, uuid: formatUuid(img.fs.members[m.index]!.uuid), path: m.path, present: m.present, size: m.tableSize, fileSize: m.fileSize,
      copies: perMember[i]!.copies, bytesVerified: perMember[i]!.bytes, badCopies: perMember[i]!.bad, repairedCopies: perMember[i]!.repaired,
      copiesNotInFile: perMember[i]!.notInFile, copiesNotInFileRepaired: perMember[i]!.notInFileRepaired,
      stripeBlocks: perMember[i]!.blocks, badStripeBlocks: perMember[i]!.badBlocks, repairedStripeBlocks: perMember[i]!.repairedBlocks,
      stripeBlocksNotInFile: perMember[i]!.blocksNotInFile, stripeBlocksNotInFileRepaired: perMember[i]!.blocksNotInFileRepaired,
      problem: m.problem ? {
        kind: m.problem, text: describeMemberProblem(m),
        status: m.outcome?.repaired ? 'repaired' : wouldRepair && memberRepairable(m) ? 'repairable' : 'unrepaired',
        note: m.outcome?.note ?? (m.problem === 'missing' && !m.recreateAt ? m.notRecreated ?? null : null),
      } : null,
    })),
    superblocks: input.superblocks.filter((s) => s.state === 'bad').map((s) => ({
      member: s.member, path: img.memberPath(s.member), copy: s.copy, offset: s.offset, reason: s.reason ?? 'bad',
      status: s.outcome?.repaired ? 'repaired' : wouldRepair ? 'repairable' : 'unrepaired',
      note: s.outcome?.note ?? (s.newer ? 'never overwritten: name this member first in the image argument' : null),
    })),
    nodes,
    extents,
    stripes,
    lost: { nodes: lostNodes.length, extents: plan.extents.filter((e) => damaged(e) && targetStatus(e) === 'lost').length, stripes: plan.stripes.filter((s) => s.lostChunks.length > 0).length, files: [...lostFiles].sort() },
    totals,
    warnings: input.warnings,
  };
}

function extentFiles(t: ExtentTarget, uses: ReflinkUse[], pathsOf: (inode: number) => string[]): FileRange[] {
  if (t.owner.kind === 'file') return [{ paths: pathsOf(t.owner.inode), inode: t.owner.inode, start: t.owner.start, end: t.owner.end }];
  const { start, end } = t.owner;
  // A file range [u.start, u.end) maps reflink [u.index, u.index + length); keep the overlap.
  return reflinkUsers(uses, start, end).map((u) => {
    const from = Math.max(start, u.index);
    const to = Math.min(end, u.index + (u.end - u.start));
    return { paths: pathsOf(u.inode), inode: u.inode, start: u.start + (from - u.index), end: u.start + (to - u.index) };
  });
}
