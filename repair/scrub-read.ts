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

/** Largest single read; a run never grows past this unless one copy alone is larger. */
export const MAX_RUN_BYTES = 4 << 20;
/** Unreferenced bytes between two copies that are still read through rather than skipped. */
export const MAX_GAP_BYTES = 64 << 10;
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
   * interior node, and the keys of a leaf whose types leafKeyTypes names. Keys' values point
   * into a read buffer that is reused once the callback returns: copy what is kept.
   */
  onGoodNode?: (target: NodeTarget, node: VerifiedNode, keys: Key[]) => void;
  /**
   * The key types of this btree's leaves that onGoodNode needs. Leaves are verified without
   * building an object for any other key (verifyNode): decoding every key of every node was
   * most of the cost of scanning the btrees.
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
 * As checkCopy; a good node copy comes back verified, and `keys` (when given) receives the keys
 * a reader wants: all of an interior node's, the leaf keys of the types in `leafKeyTypes`.
 */
function verifyCopy(img: Image, target: ScrubTarget, bytes: Buffer, copy?: CopyRecord, keys?: Key[], leafKeyTypes?: ReadonlySet<number>): string | VerifiedNode | undefined {
  if (target.kind === 'node') {
    const expect = { btreeId: target.btreeId, level: target.level, fsMagic: img.fsMagic, checksum: target.checksum, seq: target.seq, min: target.min, max: target.max };
    try {
      if (keys && target.level > 0) {
        const node = decodeNode(bytes, expect, img.checksums);
        keys.push(...node.keys);
        return node;
      }
      return verifyNode(bytes, expect, img.checksums, keys && leafKeyTypes && ((inode, offset, snapshot, type, valueAt, valueEnd) => {
        if (leafKeyTypes.has(type)) keys.push({ inode, offset, snapshot, type: type as Key['type'], value: bytes.subarray(valueAt, valueEnd) });
      }));
    } catch (err) {
      if (err instanceof NodeError || err instanceof RangeError) return err.message;
      throw err;
    }
  }
  const body = target.body;
  if (body.checksumType === CSUM.none) {
    if (copy) copy.digest = img.checksums.crc32c(bytes);
  } else {
    let sum: bigint;
    try {
      sum = img.checksums.compute(body.checksumType, bytes);
    } catch (err) {
      if (err instanceof RangeError) return err.message;
      throw err;
    }
    if (sum !== body.checksum) return `data checksum mismatch (stored ${body.checksum.toString(16)}, computed ${sum.toString(16)})`;
  }
  if (body.compression !== COMPRESSION.none) {
    try {
      img.compressor.decompress(body.compression, bytes, body.uncompressedSize);
    } catch (err) {
      // zstd reports damage with plain Errors; anything thrown here means "does not decompress".
      return `does not decompress to ${body.uncompressedSize} bytes: ${err instanceof Error ? err.message : String(err)}`;
    }
  }
  return undefined;
}

/** Verify one copy's bytes and record the verdict on it. */
export function settle(img: Image, item: WorkItem, bytes: Buffer, options: ReadPhaseOptions): void {
  const { target } = item;
  const keys = target.kind === 'node' && options.onGoodNode ? [] : undefined;
  const checked = verifyCopy(img, target, bytes, item.copy, keys, target.kind === 'node' ? options.leafKeyTypes?.(target.btreeId) : undefined);
  item.copy.checked = true;
  if (typeof checked === 'string') {
    fail(item, checked);
    return;
  }
  item.copy.state = 'good';
  if (checked && keys && target.kind === 'node') options.onGoodNode?.(target, checked, keys);
}

export function fail(item: WorkItem, reason: string): void {
  item.copy.state = 'bad';
  item.copy.reason = reason;
}

/**
 * Group one member's items (ascending offset) into runs to read at once. Items that lie past the
 * end of the member file are marked bad here and never read.
 */
function* runsOf(items: WorkItem[], fileSize: number, progress: ScrubProgress): Generator<{ start: number; end: number; items: WorkItem[] }> {
  let run: { start: number; end: number; items: WorkItem[] } | undefined;
  for (const item of items) {
    const { offset, length } = item.copy;
    const end = offset + length;
    if (end > fileSize) {
      fail(item, offset >= fileSize ? `beyond the end of the member file (${fileSize} bytes): truncated` : `cut short by the end of the member file at ${fileSize}: truncated`);
      item.copy.notInFile = true;
      progress.badCopies++;
      progress.bytesDone += length;
      continue;
    }
    if (run && offset <= run.end + MAX_GAP_BYTES && Math.max(end, run.end) - run.start <= MAX_RUN_BYTES) {
      run.end = Math.max(run.end, end);
      run.items.push(item);
      continue;
    }
    if (run) yield run;
    run = { start: offset, end, items: [item] };
  }
  if (run) yield run;
}

interface Run {
  member: number;
  start: number;
  end: number;
  items: WorkItem[];
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
  const runs: Run[] = [];
  for (let from = 0; from < work.length;) {
    const member = work[from]!.copy.member;
    let to = from;
    while (to < work.length && work[to]!.copy.member === member) to++;
    const items = work.slice(from, to);
    from = to;
    if (!img.layer.present(member)) {
      for (const item of items) {
        fail(item, 'member file is missing');
        item.copy.notInFile = true;
      }
      progress.badCopies += items.length;
      progress.bytesDone += items.reduce((n, w) => n + w.copy.length, 0);
      continue;
    }
    for (const run of runsOf(items, img.layer.size(member), progress)) runs.push({ member, ...run });
  }
  // Two buffers: one being verified, one being filled.
  const buffers = [new ReadBuffer(), new ReadBuffer()];
  const fetch = (i: number): Promise<Buffer | undefined> => {
    const run = runs[i]!;
    const into = buffers[i % 2]!.take(run.end - run.start);
    return img.layer.readIntoAsync(run.member, run.start, into).then(() => into, (err: unknown) => {
      if (err instanceof MemberIOError) return undefined;
      throw err;
    });
  };
  return readAhead(runs.length, fetch, (i, bytes) => {
    const run = runs[i]!;
    for (const item of run.items) {
      if (bytes) {
        const at = item.copy.offset - run.start;
        settle(img, item, bytes.subarray(at, at + item.copy.length), options);
      } else {
        // The run failed as a whole: read its copies one by one to tell which are unreadable.
        try {
          settle(img, item, img.layer.read(run.member, item.copy.offset, item.copy.length), options);
        } catch (err) {
          if (!(err instanceof MemberIOError)) throw err;
          fail(item, `unreadable: ${err.reason}`);
        }
      }
      progress.bytesDone += item.copy.length;
      if (item.copy.state === 'bad') progress.badCopies++;
    }
  }, options, progress);
}

/**
 * Process `count` pieces in order, each fetched while the one before it is processed (so
 * reading and checksumming overlap); yield to the event loop every YIELD_EVERY_MS for progress
 * and to notice an abort.
 */
export async function readAhead<L>(count: number, fetch: (i: number) => Promise<L>, process: (i: number, loaded: L) => void, options: ReadPhaseOptions, progress: ScrubProgress): Promise<ReadPhaseResult> {
  let next = count > 0 ? fetch(0) : undefined;
  let lastYield = Date.now();
  try {
    for (let i = 0; i < count; i++) {
      const loaded = await next!;
      next = i + 1 < count ? fetch(i + 1) : undefined;
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
    await next?.catch(() => undefined);
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
