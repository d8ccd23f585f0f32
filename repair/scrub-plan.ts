// Scrub of the btrees, and the work list of the data. Every btree is scanned level by level
// from the superblock root table: each round reads every copy of every node of one depth, in
// member and offset order (scrub-read.ts verifies each copy on its own), and the first good
// copy of each node tells what lies below it: the child nodes of an interior node, the extents
// of a leaf of the extents btree (`extent` keys) and of the reflink btree (`indirectExtent`
// keys), and the stripes of a leaf of the stripes btree. The extent copies and stripe blocks
// are collected, not read: scrub.ts reads them afterwards, stripe by stripe and then in one
// pass ordered by member and offset.
//
// Invariant: a node none of whose copies verifies stays in the plan (its copies are reported)
// with `belowUnknown`; nothing below it can be scrubbed, which the report says.
import type { Image } from '../format/image.js';
import { NodeReadError } from '../format/image.js';
import { readAndVerify, type ScrubProgress } from './scrub-read.js';
import { replayable, scanRing } from '../format/journal.js';
import { BadValueError, decodeBtreePointer, type ExtentBody, type Key, type KeyOps, ops, type Pos, POS_MAX, POS_MIN, posToText, type Ptr, type Stripe } from '../format/keys.js';
import { BTREE, BTREE_NAMES, KEY_TYPE, MAX_BTREE_DEPTH, MAX_EXTENT_SIZE } from '../format/layout.js';
import type { DecodedNode } from '../format/btree/node.js';
import { FieldRangeError } from '../format/codec.js';
import { CompactExtents } from './scrub-compact.js';

export type CopyState = 'unread' | 'good' | 'bad';

/** One stored copy of a node or extent: where it is and what scrub found there. */
export interface CopyRecord {
  member: number;
  offset: number;
  /** bytes the copy occupies from `offset`: node_size, or the extent's stored_size */
  length: number;
  state: CopyState;
  /** why the copy is bad */
  reason?: string;
  /** why scrub must never write here: outside the member's buckets, or shared with another copy */
  unwritable?: string;
  /** the pointer names no valid place (member or offset out of range): never read or written */
  outside?: boolean;
  /** the bytes were read and checked (false when the member is missing or the read failed) */
  checked?: boolean;
  /** the copy's bytes are not in the member file at all: the member is missing, or the file ends before them */
  notInFile?: boolean;
  /** the copy lies in a stripe data block and is verified from the block's bytes (read, and counted, once) */
  inStripeBlock?: boolean;
  /** for data stored without a checksum: crc32c of the bytes, so replicas can be compared */
  digest?: number;
  /** set once a repair was tried: repaired, or why not */
  outcome?: { repaired: boolean; note?: string };
}

export interface NodeTarget {
  kind: 'node';
  btreeId: number;
  level: number;
  min: Pos;
  max: Pos;
  /** checksum and seq the parent (or the root table) records for this node */
  checksum: bigint;
  seq: number;
  /** as the parent (or the root table) records them, one per copy */
  pointers: Ptr[];
  copies: CopyRecord[];
  /** no copy verified: the nodes (interior) or extents (leaf) below it are unknown and were not scrubbed */
  belowUnknown: boolean;
}

/** What an extent holds: a range of one file, or a range of the reflink address space. */
export type ExtentOwner =
  | { kind: 'file'; inode: number; start: number; end: number }
  | { kind: 'reflink'; start: number; end: number };

export interface ExtentTarget {
  kind: 'extent';
  body: ExtentBody;
  owner: ExtentOwner;
  copies: CopyRecord[];
  /** erasure-coded, with no good copy, but its stripe rebuilds bytes that verify: not lost */
  rebuildable?: boolean;
}

export type ScrubTarget = NodeTarget | ExtentTarget;

/** One block of a stripe (a whole bucket): where it is and what scrub found there. */
export interface StripeBlockRecord {
  /** 0..k-1 data, k..k+m-1 parity */
  index: number;
  member: number;
  offset: number;
  length: number;
  state: CopyState;
  /** chunks (2^checksum_granularity_bits bytes each) that failed their checksum or could not be read */
  badChunks: number[];
  reason?: string;
  /** why scrub must never write here (see CopyRecord.unwritable) */
  unwritable?: string;
  /** the pointer names no valid place: never read or written */
  outside?: boolean;
  /** the block's bytes were read and checked */
  checked?: boolean;
  /** some of the block's bytes are not in the member file: the member is missing, or the file ends before them */
  notInFile?: boolean;
  /** every bad chunk was rebuilt from the other blocks and the result matched the chunk's checksum */
  rebuildable?: boolean;
  outcome?: { repaired: boolean; note?: string };
}

export interface StripeTarget {
  kind: 'stripe';
  id: number;
  stripe: Stripe;
  blocks: StripeBlockRecord[];
  /**
   * The extent copies lying inside each data block, verified from the block's bytes as they
   * are read (the data pass then skips them: every byte is read once).
   */
  contents: WorkItem[][];
  /**
   * Whether parity agrees with data, over the chunks where a good block was left over to check
   * it with (a chunk with as many bad blocks as parity blocks can be rebuilt but not checked).
   */
  parity: 'matches' | 'mismatch' | 'unchecked';
  /** chunks where parity disagrees with data although every block passed its chunk checksum */
  parityMismatchChunks: number[];
  /** chunks with more bad blocks than parity blocks: those bytes cannot be rebuilt */
  lostChunks: number[];
}

/** A file range mapped into the reflink address space (reflinkPointer key), for naming. */
export interface ReflinkUse {
  inode: number;
  start: number;
  end: number;
  index: number;
}

export interface ScrubPlan {
  nodes: NodeTarget[];
  /** the extents held as objects; the plain file extents of a clean image are in `compact` */
  extents: ExtentTarget[];
  compact: CompactExtents;
  /**
   * Leaves of the btrees whose keys the scan does not need (inodes, dirents, xattrs, alloc):
   * in `nodes` too, but not read by the scan. scrub.ts verifies them while the data is read.
   */
  deferredLeaves: NodeTarget[];
  /** in stripe id order */
  stripes: StripeTarget[];
  reflinkUses: ReflinkUse[];
  /** keys the scan could not interpret (a node that verifies but holds a bad value: fsck's job) */
  warnings: string[];
  interrupted: boolean;
}

/** One copy to read, pointing back at its target. */
export interface WorkItem {
  target: ScrubTarget;
  copy: CopyRecord;
}

export interface NodeVisitor {
  /** every node reached, decoded (undefined when no copy could be read) */
  node?(target: NodeTarget, decoded: DecodedNode | undefined): void;
  /** every key of every readable leaf */
  leafKey?(btreeId: number, key: Key): void;
}

export function nodeName(t: { btreeId: number; level: number; min: Pos; max: Pos }): string {
  return `btree ${BTREE_NAMES[t.btreeId] ?? t.btreeId} level ${t.level} node ${posToText(t.min)}..${posToText(t.max)}`;
}

/**
 * Walk one btree depth-first from its root through img.readNode (which falls back between
 * copies), tolerating unreadable nodes; for lookups after the scan, such as naming damaged
 * files. The stack stays small: every child is one level below its parent and the root's
 * level is checked.
 */
export function walkBtree(img: Image, btreeId: number, visitor: NodeVisitor, warnings: string[]): void {
  const root = img.fs.roots[btreeId]!;
  if (root.level >= MAX_BTREE_DEPTH) {
    warnings.push(`btree ${BTREE_NAMES[btreeId]} root claims level ${root.level}; not walked`);
    return;
  }
  const stack: NodeTarget[] = [newNodeTarget(img, btreeId, root.level, POS_MIN, POS_MAX, root.checksum, root.seq, root.pointers)];
  while (stack.length > 0) {
    const target = stack.pop()!;
    let node: DecodedNode | undefined;
    try {
      node = img.readNode(target.pointers, { btreeId, level: target.level, checksum: target.checksum, seq: target.seq, min: target.min, max: target.max });
    } catch (err) {
      if (!(err instanceof NodeReadError)) throw err;
      target.belowUnknown = true;
    }
    visitor.node?.(target, node);
    if (!node) continue;
    if (node.level === 0) {
      for (const key of node.keys) visitor.leafKey?.(btreeId, key);
      continue;
    }
    // Reversed so that the stack pops children in key order.
    stack.push(...childTargets(img, target, node.level, node.keys, warnings).reverse());
  }
}

function newNodeTarget(img: Image, btreeId: number, level: number, min: Pos, max: Pos, checksum: bigint, seq: number, pointers: Ptr[]): NodeTarget {
  return {
    kind: 'node', btreeId, level, min, max, checksum, seq, belowUnknown: false, pointers,
    copies: pointers.map((p) => newCopy(img, p, img.fs.nodeSize)),
  };
}

function newCopy(img: Image, p: Ptr, length: number): CopyRecord {
  const copy: CopyRecord = { member: p.member, offset: p.offset, length, state: 'unread' };
  const outside = locationProblem(img, p.member, p.offset, length);
  if (outside) {
    // Never read or written: the pointer itself is wrong, which only fsck can fix.
    copy.state = 'bad';
    copy.reason = outside;
    copy.unwritable = outside;
    copy.outside = true;
  }
  return copy;
}

/** Why [offset, offset + length) on `member` is not a place a node or extent can be, or undefined. */
export function locationProblem(img: Image, member: number, offset: number, length: number): string | undefined {
  const info = img.fs.members[member];
  if (!info) return `pointer to member ${member}, the image has ${img.fs.members.length}`;
  if (offset % img.fs.blockSize !== 0) return `pointer to offset ${offset}, not block-aligned`;
  if (offset < img.fs.bucketSize || offset + length > info.bucketCount * img.fs.bucketSize) return `pointer to offset ${offset} outside the member's buckets`;
  return undefined;
}

/** Whether decoding a value failed on the value's own bytes (a node that verifies can still hold one: fsck's job). */
function isBadValue(err: unknown): err is Error {
  return err instanceof BadValueError || err instanceof FieldRangeError || err instanceof RangeError;
}

function decodeOrWarn<T>(decode: () => T, where: () => string, warnings: string[]): T | undefined {
  try {
    return decode();
  } catch (err) {
    if (!isBadValue(err)) throw err;
    warnings.push(`${where()}: ${err.message} (run strata fsck)`);
    return undefined;
  }
}

function keyName(btreeId: number, key: Pos): string {
  return `btree ${BTREE_NAMES[btreeId]} key ${posToText(key)}`;
}

/** decodeOrWarn for a leaf key's value, without a closure per key. */
function decodeValue<T>(op: KeyOps<T>, btreeId: number, key: Key, warnings: string[]): T | undefined {
  try {
    return op.decode(key.value);
  } catch (err) {
    if (!isBadValue(err)) throw err;
    warnings.push(`${keyName(btreeId, key)}: ${err.message} (run strata fsck)`);
    return undefined;
  }
}

export interface ScanOptions {
  metadataOnly: boolean;
  signal?: AbortSignal;
  progress?: ScrubProgress;
}

/**
 * Scrub every node copy of every btree, and list every extent copy (unless metadata only).
 * At most MAX_BTREE_DEPTH rounds: each round is one level below the previous one. The leaves
 * of btrees none of whose keys are needed are only listed (plan.deferredLeaves): nothing
 * below them waits for them.
 */
export async function scanBtrees(img: Image, options: ScanOptions): Promise<ScrubPlan> {
  const plan: ScrubPlan = { nodes: [], extents: [], compact: new CompactExtents(img), deferredLeaves: [], stripes: [], reflinkUses: [], warnings: [], interrupted: false };
  const stripeIds = new Set<number>();
  const addExtent = (body: ExtentBody, owner: ExtentOwner, btreeId: number, key: Key): void => {
    const problem = sizesProblem(body);
    if (problem) plan.warnings.push(`${keyName(btreeId, key)}: ${problem}; its copies were not read (run strata fsck)`);
    else plan.extents.push(extentTarget(img, body, owner));
  };
  // Runs for every extent: no closure per key, the key is named only in a warning.
  const leafKey = (btreeId: number, key: Key): void => {
    if (btreeId === BTREE.extents && key.type === KEY_TYPE.extent) {
      if (options.metadataOnly || plan.compact.tryAdd(key.value, 0, key.value.length, key.inode, key.offset, plan.extents.length + plan.compact.count)) return;
      const body = decodeValue(ops.extent, btreeId, key, plan.warnings);
      if (body) addExtent(body, { kind: 'file', inode: key.inode, start: key.offset - body.liveSize, end: key.offset }, btreeId, key);
    } else if (btreeId === BTREE.extents && key.type === KEY_TYPE.reflinkPointer) {
      const r = decodeValue(ops.reflinkPointer, btreeId, key, plan.warnings);
      if (r) plan.reflinkUses.push({ inode: key.inode, start: key.offset - r.liveSize, end: key.offset, index: r.index });
    } else if (btreeId === BTREE.reflink && key.type === KEY_TYPE.indirectExtent) {
      if (options.metadataOnly) return;
      const ind = decodeValue(ops.indirectExtent, btreeId, key, plan.warnings);
      if (ind) addExtent(ind.body, { kind: 'reflink', start: key.offset - ind.body.liveSize, end: key.offset }, btreeId, key);
    } else if (btreeId === BTREE.stripes && key.type === KEY_TYPE.stripe) {
      // A stripe's blocks are data (parity included): --metadata-only leaves them out.
      if (options.metadataOnly || stripeIds.has(key.offset)) return;
      const stripe = decodeValue(ops.stripe, btreeId, key, plan.warnings);
      if (!stripe) return;
      const problem = ops.stripe.validate(key, stripe) ?? (stripe.blockSize !== img.fs.bucketSize ? `stripe blocks of ${stripe.blockSize} bytes, buckets are ${img.fs.bucketSize}` : undefined);
      if (problem) {
        plan.warnings.push(`${keyName(btreeId, key)}: ${problem}; its blocks were not read (run strata fsck)`);
        return;
      }
      stripeIds.add(key.offset);
      plan.stripes.push(stripeTarget(img, key.offset, stripe));
    }
  };
  // The leaf keys the scan needs, by btree; other keys (and the leaves of other btrees) are only verified.
  const leafKeyTypes = new Map<number, ReadonlySet<number>>([
    [BTREE.extents, new Set(options.metadataOnly ? [KEY_TYPE.reflinkPointer] : [KEY_TYPE.extent, KEY_TYPE.reflinkPointer])],
    [BTREE.reflink, new Set(options.metadataOnly ? [] : [KEY_TYPE.indirectExtent])],
    [BTREE.stripes, new Set(options.metadataOnly ? [] : [KEY_TYPE.stripe])],
  ]);

  let round: NodeTarget[] = [];
  img.fs.roots.forEach((root, btreeId) => {
    if (root.level >= MAX_BTREE_DEPTH) plan.warnings.push(`btree ${BTREE_NAMES[btreeId]} root claims level ${root.level}; not scanned`);
    else round.push(newNodeTarget(img, btreeId, root.level, POS_MIN, POS_MAX, root.checksum, root.seq, root.pointers));
  });
  for (let depth = 0; round.length > 0 && depth < MAX_BTREE_DEPTH; depth++) {
    plan.nodes.push(...round);
    const needed = (t: NodeTarget) => t.level > 0 || leafKeyTypes.has(t.btreeId);
    const now = round.filter(needed);
    plan.deferredLeaves.push(...round.filter((t) => !needed(t)));
    const expanded = new Set<NodeTarget>();
    const next: NodeTarget[] = [];
    const read = await readAndVerify(img, workList(now), {
      signal: options.signal,
      progress: options.progress,
      leafKeyTypes: (btreeId) => leafKeyTypes.get(btreeId),
      onGoodNode: (target, node, keys, leaf) => {
        // Every good copy is identical to the parent's expectation; the first one is used.
        if (expanded.has(target)) return;
        expanded.add(target);
        if (node.level > 0) {
          next.push(...childTargets(img, target, node.level, keys, plan.warnings));
          return;
        }
        for (let i = 0; i < leaf.count; i++) {
          // The common key without an object: a plain file extent goes straight into the rows.
          const plain = target.btreeId === BTREE.extents && leaf.type[i] === KEY_TYPE.extent && !options.metadataOnly
            && plan.compact.tryAdd(leaf.bytes, leaf.valueAt[i]!, leaf.valueEnd[i]!, leaf.inode[i]!, leaf.offset[i]!, plan.extents.length + plan.compact.count);
          if (!plain) leafKey(target.btreeId, leaf.key(i));
        }
      },
    });
    if (read.interrupted) {
      plan.interrupted = true;
      break;
    }
    for (const t of now) if (!expanded.has(t)) t.belowUnknown = true;
    // Children in key order per parent; the work list sorts them by place anyway.
    round = next;
  }
  if (!plan.interrupted) addJournalExtents(img, plan, leafKey);
  plan.stripes.sort((a, b) => a.id - b.id);
  return plan;
}

/**
 * Extents written by transactions the journal holds but no checkpoint contains yet (an image
 * left by a crash, before fsck replays it): their copies are as real as the checkpoint's and
 * are scrubbed too. Deletions in the journal are ignored: space a transaction frees is not
 * reused before a checkpoint, so the old copies are still intact and worth verifying.
 */
function addJournalExtents(img: Image, plan: ScrubPlan, leafKey: (btreeId: number, key: Key) => void): void {
  const scans = img.fs.members.map((_, member) => scanRing(img.layer, img.fs, member, img.checksums));
  const { entries } = replayable(scans, img.fs.journalSeq);
  if (entries.length === 0) return;
  // The journal's extents are matched against the checkpoint's as objects.
  plan.extents = plan.compact.materialize(plan.extents);
  const known = new Set(plan.extents.map(extentIdentity));
  const before = plan.extents.length;
  for (const entry of entries) for (const item of entry.items) leafKey(item.btreeId, item.key);
  plan.extents = plan.compact.materialize(plan.extents);
  // An extent the checkpoint already has is kept once: two records of one place would look cross-linked.
  const added = plan.extents.splice(before).filter((e) => !known.has(extentIdentity(e)));
  plan.extents.push(...added);
  plan.warnings.push(`the journal holds ${entries.length} transaction${entries.length === 1 ? '' : 's'} not yet checkpointed (run strata fsck to replay); ${added.length} extent${added.length === 1 ? '' : 's'} written by them were scrubbed too, files they added may be named by inode only`);
}

function extentIdentity(e: ExtentTarget): string {
  return `${e.body.checksum}:${e.body.storedSize}:${e.copies.map((c) => `${c.member}@${c.offset}`).join(',')}`;
}

function childTargets(img: Image, parent: NodeTarget, level: number, keys: Key[], warnings: string[]): NodeTarget[] {
  const children: NodeTarget[] = [];
  for (const key of keys) {
    const where = () => `${nodeName(parent)}, key ${posToText(key)}`;
    if (key.type !== KEY_TYPE.btreePointer) {
      warnings.push(`${where()}: interior node holds a key of type ${key.type}`);
      continue;
    }
    const child = decodeOrWarn(() => decodeBtreePointer(key.value), where, warnings);
    if (!child) continue;
    if (child.level !== level - 1) warnings.push(`${where()}: child claims level ${child.level}, expected ${level - 1}`);
    children.push(newNodeTarget(img, parent.btreeId, level - 1, child.min, { inode: key.inode, offset: key.offset, snapshot: key.snapshot }, child.checksum, child.seq, child.pointers));
  }
  return children;
}

function stripeTarget(img: Image, id: number, stripe: Stripe): StripeTarget {
  const blocks = stripe.pointers.map((p, index): StripeBlockRecord => {
    const block: StripeBlockRecord = { index, member: p.member, offset: p.offset, length: stripe.blockSize, state: 'unread', badChunks: [] };
    const outside = locationProblem(img, p.member, p.offset, stripe.blockSize);
    if (outside) Object.assign(block, { state: 'bad', reason: outside, unwritable: outside, outside: true });
    return block;
  });
  return { kind: 'stripe', id, stripe, blocks, contents: Array.from({ length: stripe.dataBlocks }, () => []), parity: 'unchecked', parityMismatchChunks: [], lostChunks: [] };
}

function extentTarget(img: Image, body: ExtentBody, owner: ExtentOwner): ExtentTarget {
  return { kind: 'extent', body, owner, copies: body.pointers.map((p) => newCopy(img, p, body.storedSize)) };
}

/** Sizes a reader may act on: a hostile stored or uncompressed size must never drive a read or an allocation. */
function sizesProblem(body: ExtentBody): string | undefined {
  if (body.storedSize === 0 || body.storedSize > MAX_EXTENT_SIZE) return `stored size ${body.storedSize} outside 1..${MAX_EXTENT_SIZE}`;
  if (body.uncompressedSize === 0 || body.uncompressedSize > MAX_EXTENT_SIZE) return `uncompressed size ${body.uncompressedSize} outside 1..${MAX_EXTENT_SIZE}`;
  return undefined;
}

/** The copies still to read, ordered by member then offset, so each member is read front to back. */
export function workList(targets: ScrubTarget[]): WorkItem[] {
  const items: WorkItem[] = [];
  for (const target of targets) {
    for (const copy of target.copies) if (copy.state === 'unread') items.push({ target, copy });
  }
  return items.sort((a, b) => a.copy.member - b.copy.member || a.copy.offset - b.copy.offset);
}

/** A stretch of a member that scrub may rewrite: a node or extent copy, or a stripe block. */
interface Place {
  member: number;
  offset: number;
  length: number;
  unwritable?: string;
  outside?: boolean;
}

/** Mark every place whose bytes overlap another's as unwritable: rewriting one would destroy the other. */
function markOverlaps(places: Place[]): void {
  places = places.filter((p) => !p.outside);
  places.sort((a, b) => a.member - b.member || a.offset - b.offset);
  // `reach` is the place reaching furthest among the earlier places of the same member.
  let reach: Place | undefined;
  for (const place of places) {
    if (reach && reach.member === place.member && reach.offset + reach.length > place.offset) {
      const note = `shares bytes with another copy at offset ${reach.offset}..${reach.offset + reach.length} (run strata fsck)`;
      reach.unwritable ??= note;
      place.unwritable ??= note;
    }
    if (!reach || reach.member !== place.member || place.offset + place.length > reach.offset + reach.length) reach = place;
  }
}

/**
 * Mark every copy whose bytes overlap another copy's (node or extent), and every stripe block
 * overlapping anything but the extent copies it holds, as unwritable. A cross-linked place is
 * fsck's to untangle. An extent copy inside an unwritable stripe block is unwritable too: it
 * is rewritten only as part of its block.
 */
export function markSharedPlaces(targets: ScrubTarget[], stripes: StripeTarget[] = []): void {
  const copies = targets.flatMap((t) => t.copies);
  markOverlaps(copies);
  if (stripes.length === 0) return;
  const held = new Set(stripes.flatMap((s) => s.contents.flat().map((w) => w.copy)));
  markOverlaps([...stripes.flatMap((s) => s.blocks), ...copies.filter((c) => !held.has(c))]);
  for (const s of stripes) {
    s.contents.forEach((items, b) => {
      const why = s.blocks[b]!.unwritable;
      if (why) for (const w of items) w.copy.unwritable ??= why;
    });
  }
}
