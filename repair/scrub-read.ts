// Reading and verifying copies, for every pass of scrub (each btree level, then the data).
// Copies are read member by member in ascending offset, neighbours coalesced into runs of up
// to a few MiB, so each member file is read front to back in large sequential reads.
//
// Invariant: a copy is good only when its own bytes pass every check (a node decodes with its
// parent's expectation; an extent matches its checksum and decompresses to its uncompressed
// size). Another copy of the same thing being good proves nothing about this one.
import { decodeNode, NodeError, verifyNode } from '../format/btree/node.js';
import type { Image } from '../format/image.js';
import { MemberIOError } from '../format/io.js';
import { CSUM } from '../format/checksum.js';
import { COMPRESSION } from '../format/compress.js';
import type { VerifiedNode } from '../format/btree/node.js';
import type { Key } from '../format/keys.js';
import type { CopyRecord, NodeTarget, ScrubTarget, WorkItem } from './scrub-plan.js';
import type { CompactExtents } from './scrub-compact.js';
import { grown } from './columns.js';

/** Largest single read; a run never grows past this unless one copy alone is larger. */
export const MAX_RUN_BYTES = 4 << 20;
/** Unreferenced bytes between two copies that are still read through rather than skipped. */
export const MAX_GAP_BYTES = 64 << 10;
/** Reads in flight while one is verified. */
const READ_DEPTH = 2;
/** Give the event loop a turn (progress output, SIGINT) at least this often. */
const YIELD_EVERY_MS = 50;

/**
 * Progress over several read passes (each btree level, then the data). The total grows as the
 * metadata walk discovers more to read, so it is exact only once the data pass has started.
 */
export class ScrubProgress {
  bytesDone = 0;
  bytesTotal = 0;
  badCopies = 0;
  constructor(private readonly report?: (bytesDone: number, bytesTotal: number, errors: number) => void) {}

  emit(): void {
    this.report?.(this.bytesDone, this.bytesTotal, this.badCopies);
  }
}

export interface ReadPhaseOptions {
  signal?: AbortSignal;
  progress?: ScrubProgress;
  /**
   * A node copy that verified (called for every good node copy), with its keys: every key of an
   * interior node in `keys`; for a leaf, the keys of the types leafKeyTypes names in `leaf`.
   * Both point into a read buffer that is reused once the callback returns: copy what is kept.
   */
  onGoodNode?: (target: NodeTarget, node: VerifiedNode, keys: Key[], leaf: LeafKeys) => void;
  /**
   * The key types of this btree's leaves that onGoodNode needs. Leaves are verified without
   * building an object for any key (verifyNode): decoding every key of every node was most of
   * the cost of scanning the btrees.
   */
  leafKeyTypes?: (btreeId: number) => ReadonlySet<number> | undefined;
}

/**
 * One read buffer, reused for every run: allocating a fresh one per read cost about a third of
 * scrub's time in page faults, copying and garbage collection (docs/scrub.md, Performance).
 */
export class ReadBuffer {
  private buffer = Buffer.allocUnsafe(0);

  /** A buffer of exactly `length` bytes; its contents are replaced by the next call. */
  take(length: number): Buffer {
    if (this.buffer.length < length) this.buffer = Buffer.allocUnsafe(Math.max(length, MAX_RUN_BYTES));
    return this.buffer.subarray(0, length);
  }
}

/**
 * The keys of one leaf that a reader asked for, read in place: position, type, and where the
 * value lies in `bytes`. Reused from leaf to leaf.
 */
export class LeafKeys {
  count = 0;
  bytes: Buffer = Buffer.alloc(0);
  inode = new Float64Array(64);
  offset = new Float64Array(64);
  snapshot = new Uint32Array(64);
  type = new Uint8Array(64);
  valueAt = new Uint32Array(64);
  valueEnd = new Uint32Array(64);

  reset(bytes: Buffer): void {
    this.count = 0;
    this.bytes = bytes;
  }

  push(inode: number, offset: number, snapshot: number, type: number, valueAt: number, valueEnd: number): void {
    if (this.count === this.inode.length) this.grow();
    const i = this.count++;
    this.inode[i] = inode;
    this.offset[i] = offset;
    this.snapshot[i] = snapshot;
    this.type[i] = type;
    this.valueAt[i] = valueAt;
    this.valueEnd[i] = valueEnd;
  }

  private grow(): void {
    const n = this.count + 1;
    this.inode = grown(this.inode, n);
    this.offset = grown(this.offset, n);
    this.snapshot = grown(this.snapshot, n);
    this.type = grown(this.type, n);
    this.valueAt = grown(this.valueAt, n);
    this.valueEnd = grown(this.valueEnd, n);
  }

  /** Key `i` as an object, its value a view of the leaf's bytes. */
  key(i: number): Key {
    return { inode: this.inode[i]!, offset: this.offset[i]!, snapshot: this.snapshot[i]!, type: this.type[i]! as Key['type'], value: this.bytes.subarray(this.valueAt[i]!, this.valueEnd[i]!) };
  }
}

export interface ReadPhaseResult {
  interrupted: boolean;
}

/**
 * Check one copy's bytes against what its target says they must be; the reason it is bad,
 * or undefined when it is good. For data stored without a checksum the bytes cannot be judged
 * alone: the digest is recorded so the caller can compare replicas.
 */
export function checkCopy(img: Image, target: ScrubTarget, bytes: Buffer, copy?: CopyRecord): string | undefined {
  const checked = verifyCopy(img, target, bytes, copy);
  return typeof checked === 'string' ? checked : undefined;
}

/**
 * As checkCopy; a good node copy comes back verified, and the keys a reader wants are gathered:
 * all of an interior node's into `keys`, the leaf keys of the types in `leafKeyTypes` into `leaf`.
 */
function verifyCopy(img: Image, target: ScrubTarget, bytes: Buffer, copy?: CopyRecord, keys?: Key[], leaf?: LeafKeys, leafKeyTypes?: ReadonlySet<number>): string | VerifiedNode | undefined {
  if (target.kind === 'node') {
    const expect = { btreeId: target.btreeId, level: target.level, fsMagic: img.fsMagic, checksum: target.checksum, seq: target.seq, min: target.min, max: target.max };
    try {
      if (keys && target.level > 0) {
        const node = decodeNode(bytes, expect, img.checksums);
        keys.push(...node.keys);
        return node;
      }
      leaf?.reset(bytes);
      return verifyNode(bytes, expect, img.checksums, leaf && leafKeyTypes && ((inode, offset, snapshot, type, valueAt, valueEnd) => {
        if (leafKeyTypes.has(type)) leaf.push(inode, offset, snapshot, type, valueAt, valueEnd);
      }));
    } catch (err) {
      if (err instanceof NodeError || err instanceof RangeError) return err.message;
      throw err;
    }
  }
  const body = target.body;
  if (body.checksumType === CSUM.none && copy) copy.digest = img.checksums.crc32c(bytes);
  return dataProblem(img, body.checksumType, Number(body.checksum & 0xffffffffn), Number(body.checksum >> 32n), body.compression, body.uncompressedSize, bytes);
}

/**
 * Why an extent copy's stored bytes are not what its extent says (checksum `hi:lo` of type
 * `checksumType`, then `compression` down to `uncompressedSize` bytes), or undefined. Bytes
 * stored without a checksum pass here: only comparing replicas can judge them.
 */
function dataProblem(img: Image, checksumType: number, lo: number, hi: number, compression: number, uncompressedSize: number, bytes: Buffer): string | undefined {
  if (checksumType === CSUM.crc32c) {
    // The common case without a bigint: a crc32c is stored zero-extended.
    const sum = img.checksums.crc32c(bytes);
    if (sum !== lo || hi !== 0) return checksumMismatch(lo, hi, BigInt(sum));
  } else if (checksumType !== CSUM.none) {
    let sum: bigint;
    try {
      sum = img.checksums.compute(checksumType, bytes);
    } catch (err) {
      if (err instanceof RangeError) return err.message;
      throw err;
    }
    if (sum !== ((BigInt(hi) << 32n) | BigInt(lo))) return checksumMismatch(lo, hi, sum);
  }
  if (compression !== COMPRESSION.none) {
    try {
      img.compressor.decompress(compression, bytes, uncompressedSize);
    } catch (err) {
      // zstd reports damage with plain Errors; anything thrown here means "does not decompress".
      return `does not decompress to ${uncompressedSize} bytes: ${err instanceof Error ? err.message : String(err)}`;
    }
  }
  return undefined;
}

function checksumMismatch(lo: number, hi: number, computed: bigint): string {
  return `data checksum mismatch (stored ${((BigInt(hi) << 32n) | BigInt(lo)).toString(16)}, computed ${computed.toString(16)})`;
}

/** Verify one copy's bytes and record the verdict on it. */
export function settle(img: Image, item: WorkItem, bytes: Buffer, options: ReadPhaseOptions): void {
  const { target } = item;
  const keys = target.kind === 'node' && options.onGoodNode ? [] : undefined;
  const checked = verifyCopy(img, target, bytes, item.copy, keys, keys && leafKeys, target.kind === 'node' ? options.leafKeyTypes?.(target.btreeId) : undefined);
  item.copy.checked = true;
  if (typeof checked === 'string') {
    fail(item, checked);
    return;
  }
  item.copy.state = 'good';
  if (checked && keys && target.kind === 'node') {
    options.onGoodNode?.(target, checked, keys, leafKeys);
    leafKeys.reset(NO_BYTES);
  }
}

const NO_BYTES = Buffer.alloc(0);

/** The one batch of leaf keys: onGoodNode consumes it before the next node is verified. */
const leafKeys = new LeafKeys();

export function fail(item: WorkItem, reason: string): void {
  item.copy.state = 'bad';
  item.copy.reason = reason;
}

/**
 * Copies to read, listed in member then offset order, by position: where each lies, and what to
 * do with one whose bytes are not in the member file (never read).
 */
interface CopyList {
  count: number;
  member(i: number): number;
  offset(i: number): number;
  length(i: number): number;
  notInFile(i: number, reason: string): void;
  /** bad already: marked not in the file while the reads were planned */
  bad(i: number): boolean;
}

/** One read: [start, end) of a member, holding the copies at positions [from, to) of the list. */
interface Span {
  member: number;
  start: number;
  end: number;
  from: number;
  to: number;
}

/**
 * Group the copies into reads of up to MAX_RUN_BYTES, reading through gaps of up to
 * MAX_GAP_BYTES. A copy of a missing member, or past the end of its member file, is marked
 * there and then and never read.
 */
function planSpans(img: Image, list: CopyList, progress: ScrubProgress): Span[] {
  const spans: Span[] = [];
  for (let from = 0; from < list.count;) {
    const member = list.member(from);
    let to = from;
    while (to < list.count && list.member(to) === member) to++;
    const fileSize = img.layer.present(member) ? img.layer.size(member) : undefined;
    let span: Span | undefined;
    for (let i = from; i < to; i++) {
      const offset = list.offset(i);
      const end = offset + list.length(i);
      if (fileSize === undefined || end > fileSize) {
        list.notInFile(i, fileSize === undefined ? 'member file is missing'
          : offset >= fileSize ? `beyond the end of the member file (${fileSize} bytes): truncated` : `cut short by the end of the member file at ${fileSize}: truncated`);
        progress.badCopies++;
        progress.bytesDone += list.length(i);
        continue;
      }
      if (span && offset <= span.end + MAX_GAP_BYTES && Math.max(end, span.end) - span.start <= MAX_RUN_BYTES) {
        span.end = Math.max(span.end, end);
        span.to = i + 1;
        continue;
      }
      if (span) spans.push(span);
      span = { member, start: offset, end, from: i, to: i + 1 };
    }
    if (span) spans.push(span);
    from = to;
  }
  return spans;
}

/**
 * Read every planned span, each read ahead on the thread pool while the one before it is
 * verified, and hand each copy's bytes to `check` (which marks it good or bad). A span whose
 * read fails is read again copy by copy, to tell which copies are unreadable.
 */
async function verifySpans(img: Image, list: CopyList, spans: Span[], check: (i: number, bytes: Buffer) => void, unreadable: (i: number, reason: string) => void, options: ReadPhaseOptions, progress: ScrubProgress): Promise<ReadPhaseResult> {
  // One buffer being verified, READ_DEPTH being filled.
  const buffers = Array.from({ length: READ_DEPTH + 1 }, () => new ReadBuffer());
  const fetch = (s: number): Promise<Buffer | undefined> => {
    const span = spans[s]!;
    const into = buffers[s % buffers.length]!.take(span.end - span.start);
    return img.layer.readIntoAsync(span.member, span.start, into).then(() => into, (err: unknown) => {
      if (err instanceof MemberIOError) return undefined;
      throw err;
    });
  };
  return readAhead(spans.length, fetch, (s, bytes) => {
    const span = spans[s]!;
    for (let i = span.from; i < span.to; i++) {
      if (list.bad(i)) continue;
      const offset = list.offset(i);
      const length = list.length(i);
      if (bytes) check(i, bytes.subarray(offset - span.start, offset - span.start + length));
      else {
        try {
          check(i, img.layer.read(span.member, offset, length));
        } catch (err) {
          if (!(err instanceof MemberIOError)) throw err;
          unreadable(i, `unreadable: ${err.reason}`);
        }
      }
      progress.bytesDone += length;
      if (list.bad(i)) progress.badCopies++;
    }
  }, options, progress, READ_DEPTH);
}

/**
 * Verify every copy of the work list (ordered by member and offset, as workList returns it).
 * Runs are read ahead: the next run is read on the thread pool while this one is verified, so
 * reading and checksumming overlap.
 */
export async function readAndVerify(img: Image, work: WorkItem[], options: ReadPhaseOptions = {}): Promise<ReadPhaseResult> {
  if (options.signal?.aborted) return { interrupted: true };
  const progress = options.progress ?? new ScrubProgress();
  progress.bytesTotal += work.reduce((n, w) => n + w.copy.length, 0);
  const list: CopyList = {
    count: work.length,
    member: (i) => work[i]!.copy.member,
    offset: (i) => work[i]!.copy.offset,
    length: (i) => work[i]!.copy.length,
    notInFile: (i, reason) => {
      fail(work[i]!, reason);
      work[i]!.copy.notInFile = true;
    },
    bad: (i) => work[i]!.copy.state === 'bad',
  };
  return verifySpans(img, list, planSpans(img, list, progress), (i, bytes) => settle(img, work[i]!, bytes, options), (i, reason) => fail(work[i]!, reason), options, progress);
}

/** readAndVerify for the copy rows of the compact extents, each marked good or bad on its row. */
export async function verifyCompact(img: Image, compact: CompactExtents, options: ReadPhaseOptions = {}): Promise<ReadPhaseResult> {
  if (options.signal?.aborted) return { interrupted: true };
  const progress = options.progress ?? new ScrubProgress();
  const order = compact.readOrder();
  for (const c of order) progress.bytesTotal += compact.copyLength(c);
  const list: CopyList = {
    count: order.length,
    member: (i) => compact.copyMember(order[i]!),
    offset: (i) => compact.copyOffset(order[i]!),
    length: (i) => compact.copyLength(order[i]!),
    notInFile: (i, reason) => compact.bad(order[i]!, { reason, checked: false, notInFile: true }),
    bad: (i) => compact.isBad(order[i]!),
  };
  const check = (i: number, bytes: Buffer): void => {
    const c = order[i]!;
    const problem = compact.withExpectation(c, (type, lo, hi, compression, uncompressedSize) => dataProblem(img, type, lo, hi, compression, uncompressedSize, bytes));
    if (problem === undefined) compact.good(c);
    else compact.bad(c, { reason: problem, checked: true, notInFile: false });
  };
  return verifySpans(img, list, planSpans(img, list, progress), check, (i, reason) => compact.bad(order[i]!, { reason, checked: false, notInFile: false }), options, progress);
}

/**
 * Process `count` pieces in order, the next `depth` of them being fetched while one is
 * processed (so reading and checksumming overlap; `fetch(i)` may reuse what piece
 * i - depth - 1 held); yield to the event loop every YIELD_EVERY_MS for progress and to notice
 * an abort.
 */
export async function readAhead<L>(count: number, fetch: (i: number) => Promise<L>, process: (i: number, loaded: L) => void, options: ReadPhaseOptions, progress: ScrubProgress, depth = 1): Promise<ReadPhaseResult> {
  const pending: Array<Promise<L>> = [];
  for (let i = 0; i < Math.min(depth, count); i++) pending.push(fetch(i));
  let lastYield = Date.now();
  try {
    for (let i = 0; i < count; i++) {
      const loaded = await pending.shift()!;
      if (i + depth < count) pending.push(fetch(i + depth));
      process(i, loaded);
      if (Date.now() - lastYield >= YIELD_EVERY_MS) {
        progress.emit();
        await new Promise((resolve) => setImmediate(resolve));
        lastYield = Date.now();
        if (options.signal?.aborted) return { interrupted: true };
      }
    }
  } finally {
    // A read in flight owns a buffer and the member's file descriptor: it finishes before the
    // caller may close the image.
    await Promise.allSettled(pending);
  }
  progress.emit();
  return { interrupted: false };
}

/**
 * Data without a checksum cannot be judged copy by copy. When its replicas disagree nobody can
 * tell which one is right: every copy is marked bad and none is used as a repair source.
 */
export function compareUnchecksummedReplicas(targets: ScrubTarget[]): void {
  for (const t of targets) {
    if (t.kind !== 'extent' || t.body.checksumType !== CSUM.none) continue;
    const digests = new Set(t.copies.filter((c) => c.state === 'good').map((c) => c.digest));
    if (digests.size <= 1) continue;
    for (const c of t.copies) {
      if (c.state !== 'good') continue;
      c.state = 'bad';
      c.reason = 'replicas of data without a checksum differ; no way to tell which is right';
      c.unwritable ??= 'no copy can be trusted';
    }
  }
}
