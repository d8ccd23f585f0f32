// Scrub of erasure-coded stripes. Every block of every stripe, data and parity, is read whole
// and checked chunk by chunk against the stripe's chunk checksums; parity is recomputed from the
// data and compared; and a chunk that fails (or cannot be read, or is not in its member file) is
// rebuilt from the same chunk of the other blocks, checked against its own checksum, and, without
// -n, written back in place, then read back and checked again.
//
// Damage is located per chunk, not per block: a chunk "column" (the same byte range of every
// block) is rebuilt whenever at most m of its blocks are bad there, so bad chunks at different
// places in more than m blocks are still rebuilt.
//
// The extent copies that lie inside a data block are verified from the block's bytes while it is
// in memory (the data pass then skips them), so each byte of an erasure-coded image is read once.
// Stripes are taken in id order, which is the order mkfs allocates their buckets, so each member
// is read front to back, one whole block at a time; the blocks of the next stripe (one on each
// of k+m members) are read together on the thread pool while this stripe is checked.
//
// Invariants: a block's bytes are never used to rebuild another unless each chunk used passed
// its checksum; a rebuilt chunk is written only when it matches its own checksum; the repair
// reads every block again just before rebuilding from it; only chunks that failed are written.
import { CSUM } from '../format/checksum.js';
import { encodeInto, reconstructInto } from '../format/ec/reed-solomon.js';
import type { Image } from '../format/image.js';
import { MemberIOError } from '../format/io.js';
import { OperationalError } from '../format/errors.js';
import { blockChecksums } from '../format/stripe.js';
import type { ExtentTarget, StripeBlockRecord, StripeTarget, WorkItem } from './scrub-plan.js';
import { checkCopy, fail, readAhead, type ReadPhaseOptions, type ReadPhaseResult, ScrubProgress, settle } from './scrub-read.js';

/** Give the event loop a turn (progress output, SIGINT) at least this often. */
/** Rewritten bytes between flush-and-read-back rounds. */
const READ_BACK_BATCH_BYTES = 64 << 20;

/** Chunk states while one stripe is held in memory. */
const CHUNK_GOOD = 0;
/** read, but fails its checksum */
const CHUNK_BAD = 1;
/** not read: member missing, past the end of the file, outside the member, or a read error */
const CHUNK_UNREAD = 2;

/** Block and parity buffers for one stripe shape, reused from stripe to stripe. */
class StripeBuffers {
  private blocks: Buffer[] = [];
  private parity: Buffer[] = [];

  take(total: number, parityBlocks: number, blockSize: number): { blocks: Buffer[]; parity: Buffer[] } {
    if (this.blocks.length < total || (this.blocks[0]?.length ?? 0) !== blockSize) {
      this.blocks = Array.from({ length: total }, () => Buffer.allocUnsafe(blockSize));
      this.parity = Array.from({ length: parityBlocks }, () => Buffer.allocUnsafe(blockSize));
    }
    if (this.parity.length < parityBlocks) this.parity = Array.from({ length: parityBlocks }, () => Buffer.allocUnsafe(blockSize));
    return { blocks: this.blocks.slice(0, total), parity: this.parity.slice(0, parityBlocks) };
  }
}

type Unread = { reason: string; notInFile: boolean } | undefined;

/** One stripe read into memory: each block's chunk states and why any part could not be read. */
interface LoadedStripe {
  blocks: Buffer[];
  parity: Buffer[];
  chunkSize: number;
  chunks: number;
  /** [block][chunk]: CHUNK_GOOD, CHUNK_BAD or CHUNK_UNREAD */
  states: Uint8Array[];
  /** per block: why some of it could not be read, and whether that is because the bytes are not in the file */
  unread: Unread[];
  /** per block: bytes actually read */
  readBytes: number[];
}

/** After rebuilding: which bad chunks came back matching their checksum, and what parity says. */
interface RebuiltStripe {
  /** [block][chunk]: 1 when the chunk was bad and its rebuilt bytes match its checksum */
  rebuilt: Uint8Array[];
  /** chunks with more than m bad blocks */
  lost: number[];
  /** chunks where parity recomputed from data differs from a parity block not rebuilt there */
  mismatch: number[];
  /** chunks with fewer than m bad blocks, where parity could be checked at all */
  checked: number;
}

/**
 * What of a block can be read: the whole chunks inside the member file (a chunk cut by the end
 * of the file cannot pass its checksum), and why the rest cannot. Sets every chunk to CHUNK_UNREAD.
 */
function readableChunks(img: Image, block: StripeBlockRecord, states: Uint8Array, chunkSize: number): { chunks: number; problem: Unread } {
  states.fill(CHUNK_UNREAD);
  if (block.outside) return { chunks: 0, problem: { reason: block.reason ?? 'outside the member', notInFile: false } };
  if (!img.layer.present(block.member)) return { chunks: 0, problem: { reason: 'member file is missing', notInFile: true } };
  const fileSize = img.layer.size(block.member);
  const inFile = Math.max(0, Math.min(block.length, fileSize - block.offset));
  const problem: Unread = inFile === block.length ? undefined : {
    reason: inFile === 0 ? `beyond the end of the member file (${fileSize} bytes): truncated` : `cut short by the end of the member file at ${fileSize}: truncated`,
    notInFile: true,
  };
  return { chunks: Math.floor(inFile / chunkSize), problem };
}

/** After a read of the whole block failed: read it chunk by chunk to tell which chunks are unreadable. */
function readChunkByChunk(img: Image, block: StripeBlockRecord, into: Buffer, states: Uint8Array, chunks: number, chunkSize: number, problem: Unread): Unread {
  for (let c = 0; c < chunks; c++) {
    try {
      img.layer.readInto(block.member, block.offset + c * chunkSize, into.subarray(c * chunkSize, (c + 1) * chunkSize));
      states[c] = CHUNK_GOOD;
    } catch (err) {
      if (!(err instanceof MemberIOError)) throw err;
      problem ??= { reason: `unreadable: ${err.reason}`, notInFile: false };
    }
  }
  return problem;
}

function readBlock(img: Image, block: StripeBlockRecord, into: Buffer, states: Uint8Array, chunkSize: number): Unread {
  const { chunks, problem } = readableChunks(img, block, states, chunkSize);
  if (chunks === 0) return problem;
  try {
    img.layer.readInto(block.member, block.offset, into.subarray(0, chunks * chunkSize));
  } catch (err) {
    if (!(err instanceof MemberIOError)) throw err;
    return readChunkByChunk(img, block, into, states, chunks, chunkSize, problem);
  }
  states.fill(CHUNK_GOOD, 0, chunks);
  return problem;
}

async function readBlockAsync(img: Image, block: StripeBlockRecord, into: Buffer, states: Uint8Array, chunkSize: number): Promise<Unread> {
  const { chunks, problem } = readableChunks(img, block, states, chunkSize);
  if (chunks === 0) return problem;
  try {
    await img.layer.readIntoAsync(block.member, block.offset, into.subarray(0, chunks * chunkSize));
  } catch (err) {
    if (!(err instanceof MemberIOError)) throw err;
    return readChunkByChunk(img, block, into, states, chunks, chunkSize, problem);
  }
  states.fill(CHUNK_GOOD, 0, chunks);
  return problem;
}

function emptyLoad(target: StripeTarget, buffers: StripeBuffers): LoadedStripe {
  const { stripe } = target;
  const total = stripe.dataBlocks + stripe.parityBlocks;
  const chunkSize = 1 << stripe.checksumGranularityBits;
  const chunks = stripe.blockSize / chunkSize;
  const { blocks, parity } = buffers.take(total, stripe.parityBlocks, stripe.blockSize);
  return { blocks, parity, chunkSize, chunks, states: blocks.map(() => new Uint8Array(chunks)), unread: [], readBytes: [] };
}

/** Check every chunk that was read against its checksum; count what was read. */
function checkChunks(img: Image, target: StripeTarget, loaded: LoadedStripe): LoadedStripe {
  const { stripe } = target;
  const { blocks, states, chunkSize, chunks } = loaded;
  states.forEach((blockStates, i) => {
    let run = 0;
    while (run < chunks && blockStates[run] === CHUNK_GOOD) run++;
    // The leading run was read at once: its checksums in one go; any chunk read on its own after.
    const sums = blockChecksums(blocks[i]!.subarray(0, run * chunkSize), stripe.checksumGranularityBits, stripe.checksumType, img.checksums);
    const expected = stripe.checksums[i]!;
    for (let c = 0; c < chunks; c++) {
      if (blockStates[c] !== CHUNK_GOOD) continue;
      const sum = c < run ? sums[c]! : img.checksums.compute(stripe.checksumType, blocks[i]!.subarray(c * chunkSize, (c + 1) * chunkSize));
      if (sum !== expected[c]) blockStates[c] = CHUNK_BAD;
    }
    loaded.readBytes[i] = blockStates.reduce((n, st) => n + (st === CHUNK_UNREAD ? 0 : chunkSize), 0);
  });
  return loaded;
}

/** Read every block of a stripe and check each chunk that could be read against its checksum. */
function loadStripe(img: Image, target: StripeTarget, buffers: StripeBuffers): LoadedStripe {
  const loaded = emptyLoad(target, buffers);
  loaded.unread = target.blocks.map((block, i) => readBlock(img, block, loaded.blocks[i]!, loaded.states[i]!, loaded.chunkSize));
  return checkChunks(img, target, loaded);
}

/**
 * Read every block of a stripe on the thread pool, all at once (they are on different members),
 * so the next stripe is read while this one is checked. Chunk checksums are left to checkChunks.
 */
async function fetchStripe(img: Image, target: StripeTarget, buffers: StripeBuffers): Promise<LoadedStripe> {
  const loaded = emptyLoad(target, buffers);
  // Settled, not Promise.all: no read may still be in flight when this one fails.
  const reads = await Promise.allSettled(target.blocks.map((block, i) => readBlockAsync(img, block, loaded.blocks[i]!, loaded.states[i]!, loaded.chunkSize)));
  loaded.unread = reads.map((r) => {
    if (r.status === 'rejected') throw r.reason;
    return r.value;
  });
  return loaded;
}

/**
 * Rebuild every bad chunk whose column has at most m bad blocks (in the loaded buffers), check
 * each rebuilt chunk against its checksum, and compare recomputed parity with every parity block
 * that was not itself rebuilt. Consecutive columns with the same bad blocks are rebuilt together.
 */
function rebuildStripe(img: Image, target: StripeTarget, loaded: LoadedStripe): RebuiltStripe {
  const { stripe } = target;
  const k = stripe.dataBlocks;
  const m = stripe.parityBlocks;
  const total = k + m;
  const { blocks, parity, chunkSize, chunks, states } = loaded;
  const erasedAt = (c: number) => {
    const out: number[] = [];
    for (let i = 0; i < total; i++) if (states[i]![c] !== CHUNK_GOOD) out.push(i);
    return out;
  };
  const result: RebuiltStripe = { rebuilt: states.map(() => new Uint8Array(chunks)), lost: [], mismatch: [], checked: 0 };
  const columns = Array.from({ length: chunks }, (_, c) => erasedAt(c));
  for (let c = 0; c < chunks;) {
    const erased = columns[c]!;
    let end = c + 1;
    while (end < chunks && sameList(columns[end]!, erased)) end++;
    if (erased.length > m) {
      for (let x = c; x < end; x++) result.lost.push(x);
    } else if (erased.length > 0) {
      const from = c * chunkSize;
      const to = end * chunkSize;
      reconstructInto(k, m, blocks.map((b) => b.subarray(from, to)), erased);
      for (const i of erased) {
        for (let x = c; x < end; x++) {
          const chunk = blocks[i]!.subarray(x * chunkSize, (x + 1) * chunkSize);
          // Data kept without checksums cannot be checked: what the other blocks give is all there is.
          if (stripe.checksumType === CSUM.none || img.checksums.compute(stripe.checksumType, chunk) === stripe.checksums[i]![x]) result.rebuilt[i]![x] = 1;
        }
      }
    }
    c = end;
  }
  // Parity from the (now whole) data, compared where a parity block was read rather than rebuilt.
  encodeInto(k, m, blocks.slice(0, k), parity);
  for (let c = 0; c < chunks; c++) {
    const erased = columns[c]!;
    if (erased.length >= m) continue;
    result.checked++;
    const from = c * chunkSize;
    const to = from + chunkSize;
    for (let p = 0; p < m; p++) {
      if (erased.includes(k + p)) continue;
      if (!parity[p]!.subarray(from, to).equals(blocks[k + p]!.subarray(from, to))) {
        result.mismatch.push(c);
        break;
      }
    }
  }
  return result;
}

function sameList(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function describeBadChunks(bad: number, chunks: number, firstAt: number): string {
  return `${bad} of ${chunks} chunks fail their checksum (first at byte ${firstAt} of the block)`;
}

/**
 * Attach each extent copy that lies wholly inside a stripe data block to that block, so the
 * stripe pass verifies it from the block's bytes. A bucket that two stripes claim is attached to
 * neither: it is cross-linked (markSharedPlaces makes it unwritable) and its copies are read by
 * the data pass.
 */
export function attachContents(stripes: StripeTarget[], extents: ExtentTarget[]): void {
  const blockSize = stripes[0]?.stripe.blockSize;
  if (!blockSize) return;
  // Stripe blocks are whole buckets (scanBtrees checks), so a copy's block starts at its
  // bucket: (member, bucket index) names it. Offsets are below 2^53 and buckets at least 4 KiB,
  // so the index fits in 41 bits and the key in a safe integer.
  const placeKey = (member: number, offset: number) => member * 2 ** 41 + Math.floor(offset / blockSize);
  const blockAt = new Map<number, { stripe: StripeTarget; index: number; start: number; end: number }>();
  const claimedTwice = new Set<number>();
  for (const s of stripes) {
    for (const b of s.blocks) {
      if (b.outside || b.index >= s.stripe.dataBlocks) continue;
      const key = placeKey(b.member, b.offset);
      if (blockAt.has(key)) claimedTwice.add(key);
      else blockAt.set(key, { stripe: s, index: b.index, start: b.offset, end: b.offset + b.length });
    }
  }
  for (const target of extents) {
    for (const copy of target.copies) {
      if (copy.state !== 'unread') continue;
      const key = placeKey(copy.member, copy.offset);
      const at = blockAt.get(key);
      if (!at || claimedTwice.has(key) || copy.offset < at.start || copy.offset + copy.length > at.end) continue;
      at.stripe.contents[at.index]!.push({ target, copy });
      copy.inStripeBlock = true;
    }
  }
  for (const s of stripes) for (const items of s.contents) items.sort((a, b) => a.copy.offset - b.copy.offset);
}

/**
 * Verify every stripe: each block's chunks, parity against data, whether each bad chunk can be
 * rebuilt, and the extent copies held in the data blocks. Writes nothing.
 */
export async function verifyStripes(img: Image, stripes: StripeTarget[], options: ReadPhaseOptions = {}): Promise<ReadPhaseResult> {
  if (options.signal?.aborted) return { interrupted: true };
  const progress = options.progress ?? new ScrubProgress();
  progress.bytesTotal += stripes.reduce((n, s) => n + s.blocks.length * s.stripe.blockSize, 0);
  // Two sets of buffers: one stripe being checked, the next being read.
  const buffers = [new StripeBuffers(), new StripeBuffers()];
  return readAhead(stripes.length, (i) => fetchStripe(img, stripes[i]!, buffers[i % 2]!),
    (i, loaded) => verifyStripe(img, stripes[i]!, checkChunks(img, stripes[i]!, loaded), options, progress), options, progress);
}

function verifyStripe(img: Image, target: StripeTarget, loaded: LoadedStripe, options: ReadPhaseOptions, progress: ScrubProgress): void {
  const { chunkSize, chunks, states } = loaded;
  target.blocks.forEach((block, i) => {
    block.checked = loaded.readBytes[i]! > 0;
    const bad: number[] = [];
    states[i]!.forEach((s, c) => s !== CHUNK_GOOD && bad.push(c));
    block.badChunks = bad;
    const unread = loaded.unread[i];
    if (unread?.notInFile) block.notInFile = true;
    if (bad.length === 0) {
      block.state = 'good';
    } else {
      block.state = 'bad';
      const failing = bad.filter((c) => states[i]![c] === CHUNK_BAD);
      const checksumText = failing.length ? describeBadChunks(failing.length, chunks, failing[0]! * chunkSize) : undefined;
      block.reason ??= [unread?.reason, checksumText].filter(Boolean).join('; ');
      progress.badCopies++;
    }
    progress.bytesDone += block.length;
  });

  // The extent copies in the data blocks, judged by their own bytes as read (before any rebuild).
  target.contents.forEach((items, b) => {
    const blockStart = target.blocks[b]!.offset;
    for (const item of items) {
      const from = item.copy.offset - blockStart;
      const firstChunk = Math.floor(from / chunkSize);
      const lastChunk = Math.floor((from + item.copy.length - 1) / chunkSize);
      let readable = true;
      for (let c = firstChunk; c <= lastChunk; c++) if (states[b]![c] === CHUNK_UNREAD) readable = false;
      if (readable) settle(img, item, loaded.blocks[b]!.subarray(from, from + item.copy.length), options);
      else {
        const unread = loaded.unread[b];
        fail(item, unread?.reason ?? 'unreadable');
        if (unread?.notInFile) item.copy.notInFile = true;
      }
      if (item.copy.state === 'bad') progress.badCopies++;
    }
  });

  const rebuilt = rebuildStripe(img, target, loaded);
  target.lostChunks = rebuilt.lost;
  target.parityMismatchChunks = rebuilt.mismatch;
  target.parity = rebuilt.mismatch.length > 0 ? 'mismatch' : rebuilt.checked > 0 ? 'matches' : 'unchecked';
  target.blocks.forEach((block, i) => {
    if (block.state === 'bad') block.rebuildable = block.badChunks.every((c) => rebuilt.rebuilt[i]![c] === 1);
  });
  // An erasure-coded extent with a bad copy is not lost when the rebuilt bytes verify.
  target.contents.forEach((items, b) => {
    const blockStart = target.blocks[b]!.offset;
    for (const item of items) {
      if (item.copy.state !== 'bad' || item.target.kind !== 'extent') continue;
      const extent = item.target;
      const from = item.copy.offset - blockStart;
      let whole = true;
      for (let c = Math.floor(from / chunkSize); c <= Math.floor((from + item.copy.length - 1) / chunkSize); c++) {
        if (states[b]![c] !== CHUNK_GOOD && rebuilt.rebuilt[b]![c] !== 1) whole = false;
      }
      const verified = whole && extent.body.checksumType !== CSUM.none && checkCopy(img, extent, loaded.blocks[b]!.subarray(from, from + item.copy.length)) === undefined;
      extent.rebuildable = verified || (extent.rebuildable ?? false);
    }
  });
}

interface PendingBlock {
  target: StripeTarget;
  block: StripeBlockRecord;
  /** bad chunks that could not be rebuilt, so were not written */
  notRebuilt: number;
}

function writeFailure(err: unknown): string {
  if (err instanceof MemberIOError) return `write failed: ${err.reason}`;
  if (err instanceof OperationalError) return `write failed: ${err.message}`;
  throw err;
}

/**
 * Rewrite every bad stripe block in place: read the stripe again, rebuild each bad chunk from
 * the other blocks, write the chunks whose rebuilt bytes match their checksum, then (after a
 * flush) read each written block back and check every chunk again. The extent copies held in a
 * rewritten block are then read back and verified too; those still bad are left to the copy
 * repair. Sets each bad block's outcome.
 */
export function repairStripes(img: Image, stripes: StripeTarget[]): void {
  const buffers = new StripeBuffers();
  let pending: PendingBlock[] = [];
  let pendingBytes = 0;
  for (const target of stripes) {
    const bad = target.blocks.filter((b) => b.state === 'bad');
    const writable = bad.filter((b) => {
      if (b.unwritable) b.outcome = { repaired: false, note: `cannot rewrite in place: ${b.unwritable}` };
      else if (!img.layer.present(b.member)) b.outcome = { repaired: false, note: 'cannot rewrite in place: member file is missing' };
      else return true;
      return false;
    });
    if (writable.length === 0) continue;
    const loaded = loadStripe(img, target, buffers);
    const rebuilt = rebuildStripe(img, target, loaded);
    for (const block of writable) {
      const i = block.index;
      const states = loaded.states[i]!;
      let notRebuilt = 0;
      let wrote = false;
      try {
        for (let c = 0; c < loaded.chunks;) {
          if (states[c] === CHUNK_GOOD || rebuilt.rebuilt[i]![c] !== 1) {
            if (states[c] !== CHUNK_GOOD) notRebuilt++;
            c++;
            continue;
          }
          let end = c + 1;
          while (end < loaded.chunks && states[end] !== CHUNK_GOOD && rebuilt.rebuilt[i]![end] === 1) end++;
          const from = c * loaded.chunkSize;
          const to = end * loaded.chunkSize;
          img.layer.write(block.member, block.offset + from, loaded.blocks[i]!.subarray(from, to));
          pendingBytes += to - from;
          wrote = true;
          c = end;
        }
      } catch (err) {
        block.outcome = { repaired: false, note: writeFailure(err) };
        continue;
      }
      if (!wrote && notRebuilt === 0) {
        // Good when read again: a transient read error, or something else rewrote it meanwhile.
        block.outcome = { repaired: true, note: 'good when read again for the repair; nothing rewritten' };
        continue;
      }
      if (!wrote) {
        block.outcome = { repaired: false, note: unrebuiltNote(notRebuilt, target) };
        continue;
      }
      pending.push({ target, block, notRebuilt });
    }
    if (pendingBytes >= READ_BACK_BATCH_BYTES) {
      flushAndReadBack(img, pending, buffers);
      pending = [];
      pendingBytes = 0;
    }
  }
  flushAndReadBack(img, pending, buffers);
}

function unrebuiltNote(chunks: number, target: StripeTarget): string {
  return `${chunks} chunk${chunks === 1 ? '' : 's'} cannot be rebuilt: more than ${target.stripe.parityBlocks} blocks of the stripe are bad at the same place`;
}

function flushAndReadBack(img: Image, pending: PendingBlock[], buffers: StripeBuffers): void {
  const flushFailed = new Map<number, string>();
  for (const member of new Set(pending.map((p) => p.block.member))) {
    try {
      img.layer.flush(member);
    } catch (err) {
      flushFailed.set(member, `flush failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  for (const { target, block, notRebuilt } of pending) {
    const failed = flushFailed.get(block.member);
    if (failed) {
      block.outcome = { repaired: false, note: failed };
      continue;
    }
    const { stripe } = target;
    const chunkSize = 1 << stripe.checksumGranularityBits;
    const into = buffers.take(stripe.dataBlocks + stripe.parityBlocks, stripe.parityBlocks, stripe.blockSize).blocks[0]!;
    const states = new Uint8Array(stripe.blockSize / chunkSize);
    const problem = readBlock(img, block, into, states, chunkSize);
    let stillBad = 0;
    states.forEach((s, c) => {
      if (s !== CHUNK_GOOD || img.checksums.compute(stripe.checksumType, into.subarray(c * chunkSize, (c + 1) * chunkSize)) !== stripe.checksums[block.index]![c]) stillBad++;
    });
    if (stillBad === 0) block.outcome = { repaired: true, note: 'rebuilt from the other blocks of its stripe and rewritten in place' };
    else if (notRebuilt > 0 && stillBad === notRebuilt) block.outcome = { repaired: false, note: `${unrebuiltNote(notRebuilt, target)}; the others were rewritten` };
    else block.outcome = { repaired: false, note: `read back still bad after rewriting in place: ${problem?.reason ?? `${stillBad} chunks fail their checksum`}` };
    if (block.index < stripe.dataBlocks) readBackContents(img, target.contents[block.index]!);
  }
}

/** The extent copies held in a rewritten data block: read back, verified, and marked repaired when they now pass. */
function readBackContents(img: Image, items: WorkItem[]): void {
  for (const { target, copy } of items) {
    if (copy.state !== 'bad' || copy.outcome || copy.unwritable) continue;
    try {
      if (checkCopy(img, target, img.layer.read(copy.member, copy.offset, copy.length)) === undefined) {
        copy.outcome = { repaired: true, note: 'rebuilt from its stripe and rewritten in place' };
      }
    } catch (err) {
      if (!(err instanceof MemberIOError)) throw err;
    }
  }
}
