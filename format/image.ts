// Opening an image: find its members, pick the newest valid superblock, and read btrees and
// extents through the block layer with replica fallback. Every damaged copy met on the way is
// reported through `onDamage` once, and reading carries on with a good copy.
import fs from 'node:fs';
import path from 'node:path';
import { loadChecksummer, type Checksummer } from './checksum.js';
import { loadCompressor, uncompressedOnly, type Compressor } from './compress.js';
import { CorruptImageError, OperationalError } from './errors.js';
import { FileBlockLayer, type BlockLayer, type MemberFile, MemberIOError } from './io.js';
import { BTREE, BTREE_NAMES, INCOMPAT, KEY_TYPE, MAX_BTREE_DEPTH, SB_MAGIC, SB_OFFSET, Superblock } from './layout.js';
import { readU64 } from './codec.js';
import { rebuildRange } from './stripe.js';
import { checkKey, comparePos, decodeBtreePointer, type ExtentBody, type Key, ops, type Pos, POS_MAX, POS_MIN, posToText, type Ptr, type Stripe } from './keys.js';
import { decodeNode, type DecodedNode, forEachKey, type LeafKeyVisitor, NodeError, type NodeExpectation, verifyNode, type VerifiedNode } from './btree/node.js';
import { bestCopy, readSuperblockCopies, type CopyResult, type FsInfo } from './superblock.js';

export interface DamageReport {
  kind: 'superblock' | 'node' | 'extent' | 'member';
  member: number;
  memberPath: string;
  offset: number;
  /** what was being read: "btree extents level 0 node 3:0:0..POS_MAX" */
  structure: string;
  reason: string;
  /** true when another copy served the read */
  recovered: boolean;
}

export interface OpenOptions {
  writable?: boolean;
  /** open even when members are missing (reads fall back to other copies) */
  allowDegraded?: boolean;
  onDamage?: (report: DamageReport) => void;
  /** wrap the block layer, e.g. to record writes in crash tests */
  wrapLayer?: (layer: BlockLayer) => BlockLayer;
  /**
   * Open with this superblock instead of the newest valid copy: fsck picks among valid copies
   * of the newest seq that disagree, by which of them leads to readable btrees.
   */
  superblock?: FsInfo;
  /**
   * Verified node bytes by place, decoded instead of reading the member: fsck hands the volume
   * the nodes its structure pass read, so the logical passes do not read them again.
   */
  nodeBytes?: NodeBytes;
  /** decoded nodes kept for repeated reads (default 512) */
  nodeCacheSize?: number;
}

/**
 * Node bytes by the place they were read from, at most `capacity` nodes (a large image's do not
 * all fit), each with what its verification found (header fields, checked against
 * `fsMagic`). A use that expects exactly that node takes the bytes as verified: every check
 * that depends on the expectation compares it with those header fields, and the others
 * depend on the bytes alone, which nothing writes. Any other use decodes them afresh with
 * every check, so bytes that no longer match what a pointer expects (the place was
 * rewritten) are never taken for the node.
 */
export class NodeBytes {
  private readonly nodes = new Map<string, { bytes: Buffer; verified: VerifiedNode }>();

  constructor(readonly capacity: number, readonly fsMagic: Buffer) {}

  get full(): boolean {
    return this.nodes.size >= this.capacity;
  }

  get(p: Ptr): { bytes: Buffer; verified: VerifiedNode } | undefined {
    return this.nodes.get(`${p.member}:${p.offset}`);
  }

  /** `verified`: what verifyNode or decodeNode returned for exactly these bytes. */
  add(p: Ptr, bytes: Buffer, verified: VerifiedNode): void {
    if (!this.full) this.nodes.set(`${p.member}:${p.offset}`, { bytes, verified });
  }

  delete(p: Ptr): void {
    this.nodes.delete(`${p.member}:${p.offset}`);
  }
}

export interface MemberStatus {
  index: number;
  path: string;
  present: boolean;
  copies: CopyResult[];
}

/** Read access to one btree: on disk as written (Btree) or with changes in memory (MutableBtree). */
export interface BtreeView {
  readonly id: number;
  range(from?: Pos, to?: Pos): Generator<Key>;
  get(p: Pos): Key | undefined;
  next(p: Pos): Key | undefined;
  nodes(): Generator<{ node: DecodedNode; depth: number }>;
}

export class Image {
  /** replaced by a Volume with in-memory btrees once the journal is replayed */
  btrees: BtreeView[];
  private readonly nodeCache = new Map<string, DecodedNode>();
  private readonly seenDamage = new Set<string>();

  constructor(
    readonly fs: FsInfo,
    readonly layer: BlockLayer,
    readonly members: MemberStatus[],
    readonly checksums: Checksummer,
    readonly compressor: Compressor,
    readonly options: OpenOptions,
  ) {
    this.btrees = BTREE_NAMES.map((_, id) => new Btree(this, id));
  }

  get fsMagic(): Buffer {
    return this.fs.fsUuid.subarray(0, 8);
  }

  get degraded(): boolean {
    return this.members.some((m) => !m.present);
  }

  memberPath(member: number): string {
    return this.members[member]?.path ?? `member ${member}`;
  }

  damage(report: DamageReport): void {
    // A missing member is reported once, as such; every read that then falls back to another
    // copy or to parity because of it says nothing new.
    if (report.kind !== 'member' && !this.layer.present(report.member) && this.members[report.member]?.present === false) return;
    const id = `${report.kind}:${report.member}:${report.offset}`;
    if (this.seenDamage.has(id)) return;
    this.seenDamage.add(id);
    this.options.onDamage?.(report);
  }

  /** Read one node, trying each copy in turn; throws NodeReadError when none is good. */
  readNode(pointers: Ptr[], expect: NodeExpect): DecodedNode {
    return this.someCopy(pointers, expect, (p, cacheKey) => {
      const node = this.heldNode(p, expect) ?? decodeNode(this.layer.read(p.member, p.offset, this.fs.nodeSize), { ...expect, fsMagic: this.fsMagic }, this.checksums);
      if (this.nodeCache.size >= (this.options.nodeCacheSize ?? 512)) this.nodeCache.delete(this.nodeCache.keys().next().value!);
      this.nodeCache.set(cacheKey, node);
      return node;
    });
  }

  /**
   * Every key of one leaf, in order, as readNode would give them (the same copies tried, the
   * same checks, the same errors), read in place instead of built into key objects: a reader
   * that walks every key once (fsck) keeps nothing. Held bytes already verified as this very
   * node are not checked again; the leaf is not cached.
   */
  visitLeaf(pointers: Ptr[], expect: NodeExpect, visit: LeafKeyVisitor): void {
    const found = this.someCopy(pointers, expect, (p) => this.heldLeaf(p, expect) ?? verifiedBytes(this.layer.read(p.member, p.offset, this.fs.nodeSize), { ...expect, fsMagic: this.fsMagic }, this.checksums));
    if (Buffer.isBuffer(found)) forEachKey(found, visit);
    else for (const k of found.keys) visit(k.inode, k.offset, k.snapshot, k.type, k.value, 0, k.value.length);
  }

  /**
   * The first copy `use` accepts, a cached node matching `expect` first: a copy outside its
   * member's buckets, unreadable, or failing a check is reported as damage (recovered when a
   * later copy serves); none good throws NodeReadError.
   */
  private someCopy<T>(pointers: Ptr[], expect: NodeExpect, use: (p: Ptr, cacheKey: string) => T): T | DecodedNode {
    const structure = `btree ${BTREE_NAMES[expect.btreeId] ?? expect.btreeId} level ${expect.level} node${expect.min && expect.max ? ` ${posToText(expect.min)}..${posToText(expect.max)}` : ''}`;
    const failures: DamageReport[] = [];
    for (const p of pointers) {
      const cacheKey = `${p.member}:${p.offset}`;
      const cached = this.nodeCache.get(cacheKey);
      // A cached node answers only the question a fresh decode would have answered the same way.
      if (cached && cachedNodeMatches(cached, expect)) return cached;
      try {
        if (p.member >= this.fs.members.length) throw new NodeError('read', `pointer to member ${p.member} of ${this.fs.members.length}`);
        const m = this.fs.members[p.member]!;
        if (p.offset % this.fs.blockSize !== 0 || p.offset < this.fs.bucketSize || p.offset + this.fs.nodeSize > m.bucketCount * this.fs.bucketSize) {
          throw new NodeError('read', `node offset ${p.offset} outside the member's buckets`);
        }
        const result = use(p, cacheKey);
        for (const f of failures) this.damage({ ...f, recovered: true });
        return result;
      } catch (err) {
        if (!(err instanceof NodeError || err instanceof MemberIOError)) throw err;
        failures.push({ kind: 'node', member: p.member, memberPath: this.memberPath(p.member), offset: p.offset, structure, reason: err instanceof MemberIOError ? err.reason : err.message, recovered: false });
      }
    }
    for (const f of failures) this.damage(f);
    const first = failures[0];
    throw new NodeReadError(structure, first ? { member: first.memberPath, offset: first.offset } : {}, failures.map((f) => f.reason).join('; ') || 'no pointers');
  }

  /** The node from bytes held in `nodeBytes`; undefined when none are held or they are not this node (any more). */
  private heldNode(p: Ptr, expect: NodeExpect): DecodedNode | undefined {
    return this.fromHeld(p, (bytes) => decodeNode(bytes, { ...expect, fsMagic: this.fsMagic }, this.checksums));
  }

  /** Held leaf bytes that verify as the leaf `expect` describes, unchecked when verified as exactly that node already. */
  private heldLeaf(p: Ptr, expect: NodeExpect): Buffer | undefined {
    const held = this.options.nodeBytes?.get(p);
    if (held && cachedNodeMatches(held.verified, expect) && this.options.nodeBytes!.fsMagic.compare(this.fs.fsUuid, 0, 8) === 0) return held.bytes;
    return this.fromHeld(p, (bytes) => verifiedBytes(bytes, { ...expect, fsMagic: this.fsMagic }, this.checksums));
  }

  /** `check` of the bytes held for place `p`; bytes that fail it are no longer held. */
  private fromHeld<T>(p: Ptr, check: (bytes: Buffer) => T): T | undefined {
    const held = this.options.nodeBytes?.get(p);
    if (!held) return undefined;
    try {
      return check(held.bytes);
    } catch (err) {
      if (!(err instanceof NodeError)) throw err;
      this.options.nodeBytes!.delete(p);
      return undefined;
    }
  }

  /**
   * The uncompressed chunk an extent maps, sliced to its live range; tries each replica and
   * verifies the checksum before trusting a copy.
   */
  readExtent(body: ExtentBody, what: string): Buffer {
    const failures: DamageReport[] = [];
    for (const p of body.pointers) {
      try {
        const stored = this.readVerifiedChunk(body, p);
        const chunk = this.compressor.decompress(body.compression, stored, body.uncompressedSize);
        for (const f of failures) this.damage({ ...f, recovered: true });
        return chunk.subarray(body.chunkOffset, body.chunkOffset + body.liveSize);
      } catch (err) {
        if (!(err instanceof MemberIOError || err instanceof ExtentCopyError || err instanceof RangeError || err instanceof Error)) throw err;
        failures.push({ kind: 'extent', member: p.member, memberPath: this.memberPath(p.member), offset: p.offset, structure: what, reason: err instanceof MemberIOError ? err.reason : err.message, recovered: false });
      }
    }
    if (body.stripeId) {
      const rebuilt = this.rebuildFromStripe(body, what);
      if (rebuilt) {
        for (const f of failures) this.damage({ ...f, reason: `${f.reason}; rebuilt from stripe ${body.stripeId}`, recovered: true });
        return rebuilt;
      }
    }
    for (const f of failures) this.damage(f);
    const first = failures[0];
    throw new DataLostError(what, first ? { member: first.memberPath, offset: first.offset } : {}, failures.map((f) => f.reason).join('; '));
  }

  /** The stripe key of an erasure-coded extent, or undefined when it is missing or damaged. */
  stripe(stripeId: number): Stripe | undefined {
    const key = this.btrees[BTREE.stripes]!.get({ inode: 0, offset: stripeId, snapshot: 0 });
    if (!key || key.type !== KEY_TYPE.stripe || checkKey(key)) return undefined;
    return ops.stripe.decode(key.value);
  }

  /**
   * The stored bytes of an erasure-coded extent rebuilt from the other blocks of its stripe
   * and verified against the extent checksum; undefined when that is not possible. Throws
   * when the stripe has too many bad blocks.
   */
  rebuildStoredFromStripe(body: ExtentBody): Buffer | undefined {
    const stripe = this.stripe(body.stripeId);
    const p = body.pointers[0];
    if (!stripe || !p || body.stripeBlock >= stripe.dataBlocks + stripe.parityBlocks) return undefined;
    const blockStart = stripe.pointers[body.stripeBlock]!.offset;
    const from = p.offset - blockStart;
    if (from < 0 || from + body.storedSize > stripe.blockSize) return undefined;
    const stored = rebuildRange(stripe, body.stripeBlock, from, body.storedSize, (i, start, len) => {
      const bp = stripe.pointers[i]!;
      return this.layer.read(bp.member, bp.offset + start, len);
    }, this.checksums);
    return this.checksums.compute(body.checksumType, stored) === body.checksum ? stored : undefined;
  }

  /**
   * Reconstruct-read: rebuild the extent's stored bytes from the other blocks of its stripe,
   * verify them against the extent checksum, and decompress. Undefined when it cannot.
   */
  private rebuildFromStripe(body: ExtentBody, what: string): Buffer | undefined {
    const p = body.pointers[0]!;
    try {
      const stored = this.rebuildStoredFromStripe(body);
      if (!stored) return undefined;
      const chunk = this.compressor.decompress(body.compression, stored, body.uncompressedSize);
      return chunk.subarray(body.chunkOffset, body.chunkOffset + body.liveSize);
    } catch (err) {
      if (err instanceof Error && !(err instanceof TypeError)) {
        this.damage({ kind: 'extent', member: p.member, memberPath: this.memberPath(p.member), offset: p.offset, structure: `${what} (stripe ${body.stripeId})`, reason: `reconstruction failed: ${err.message}`, recovered: false });
        return undefined;
      }
      throw err;
    }
  }

  /** The stored bytes of one copy, checked against the extent's checksum. */
  readVerifiedChunk(body: ExtentBody, p: Ptr): Buffer {
    if (p.member >= this.fs.members.length) throw new ExtentCopyError(`pointer to member ${p.member}`);
    const m = this.fs.members[p.member]!;
    if (p.offset < this.fs.bucketSize || p.offset + body.storedSize > m.bucketCount * this.fs.bucketSize) throw new ExtentCopyError(`extent offset ${p.offset} outside the member's buckets`);
    const stored = this.layer.read(p.member, p.offset, body.storedSize);
    const sum = this.checksums.compute(body.checksumType, stored);
    if (sum !== body.checksum) throw new ExtentCopyError(`data checksum mismatch (stored ${body.checksum.toString(16)}, computed ${sum.toString(16)})`);
    return stored;
  }

  close(): void {
    this.layer.close();
  }
}

export class ExtentCopyError extends Error {}

/** What a parent pointer says of the node it names. */
type NodeExpect = { btreeId: number; level: number; checksum?: bigint; seq?: number; min?: Pos; max?: Pos };

/** `bytes` when they pass every check decodeNode makes for `expect` (which throws what it throws). */
function verifiedBytes(bytes: Buffer, expect: NodeExpectation, checksums: Checksummer): Buffer {
  verifyNode(bytes, expect, checksums);
  return bytes;
}

function cachedNodeMatches(node: VerifiedNode, expect: NodeExpect): boolean {
  return node.btreeId === expect.btreeId && node.level === expect.level
    && (expect.checksum === undefined || node.checksum === expect.checksum)
    && (expect.seq === undefined || node.seq === expect.seq)
    && (expect.min === undefined || comparePos(node.min, expect.min) === 0)
    && (expect.max === undefined || comparePos(node.max, expect.max) === 0);
}

/** No copy of a btree node could be read. */
export class NodeReadError extends CorruptImageError {
  constructor(readonly structure: string, where: { member?: string; offset?: number }, reason: string) {
    super(`cannot read ${structure}: ${reason}`, { ...where, structure }, 'run strata fsck');
  }
}

/** No copy of an extent could be read: the data is lost unless parity can rebuild it. */
export class DataLostError extends CorruptImageError {
  constructor(readonly what: string, where: { member?: string; offset?: number }, reason: string) {
    super(`cannot read ${what}: ${reason}`, where, 'run strata scrub');
  }
}

/** Reads one btree. Iteration is an explicit stack bounded by MAX_BTREE_DEPTH, never recursion. */
export class Btree {
  constructor(private readonly img: Image, readonly id: number) {}

  get name(): string {
    return BTREE_NAMES[this.id]!;
  }

  rootNode(): DecodedNode {
    const root = this.img.fs.roots[this.id]!;
    return this.img.readNode(root.pointers, { btreeId: this.id, level: root.level, checksum: root.checksum, seq: root.seq, min: POS_MIN, max: POS_MAX });
  }

  /** Keys with from <= position <= to, in order. */
  *range(from: Pos = POS_MIN, to: Pos = POS_MAX): Generator<Key> {
    for (const { node } of this.nodes(from, to, 0)) {
      if (node.level !== 0) continue;
      for (const k of node.keys) {
        if (comparePos(k, from) < 0) continue;
        if (comparePos(k, to) > 0) return;
        yield k;
      }
    }
  }

  /** The key at exactly `p`, or undefined. */
  get(p: Pos): Key | undefined {
    for (const k of this.range(p, p)) return k;
    return undefined;
  }

  /** The first key at or after `p`, or undefined. */
  next(p: Pos): Key | undefined {
    for (const k of this.range(p, POS_MAX)) return k;
    return undefined;
  }

  /**
   * Nodes overlapping [from, to] at `stopLevel` and above in depth-first order (interior nodes
   * before their children when stopLevel is below them), each with its parent expectation.
   */
  *nodes(from: Pos = POS_MIN, to: Pos = POS_MAX, stopLevel = 0): Generator<{ node: DecodedNode; depth: number }> {
    const root = this.rootNode();
    if (root.level >= MAX_BTREE_DEPTH) throw new CorruptImageError(`btree ${this.name} claims depth ${root.level}`, { structure: `btree ${this.name} root` });
    type Frame = { node: DecodedNode; index: number };
    const stack: Frame[] = [{ node: root, index: 0 }];
    yield { node: root, depth: 0 };
    if (root.level === stopLevel) return;
    // Position the root frame at the first child whose max >= from.
    stack[0]!.index = firstChildAtOrAfter(root, from);
    while (stack.length > 0) {
      const frame = stack[stack.length - 1]!;
      if (frame.index >= frame.node.keys.length) {
        stack.pop();
        continue;
      }
      const key = frame.node.keys[frame.index++]!;
      const ptr = decodeBtreePointer(key.value);
      const childMin = ptr.min;
      if (comparePos(childMin, to) > 0) {
        stack.length = 0;
        return;
      }
      const child = this.img.readNode(ptr.pointers, {
        btreeId: this.id, level: frame.node.level - 1, checksum: ptr.checksum, seq: ptr.seq, min: childMin, max: { inode: key.inode, offset: key.offset, snapshot: key.snapshot },
      });
      yield { node: child, depth: stack.length };
      if (child.level > stopLevel) {
        if (stack.length >= MAX_BTREE_DEPTH) throw new CorruptImageError(`btree ${this.name} deeper than ${MAX_BTREE_DEPTH}`, { structure: `btree ${this.name}` });
        stack.push({ node: child, index: firstChildAtOrAfter(child, from) });
      }
    }
  }
}

function firstChildAtOrAfter(node: DecodedNode, from: Pos): number {
  let lo = 0;
  let hi = node.keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (comparePos(node.keys[mid]!, from) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

// ---------------------------------------------------------------------------------------------
// Finding and opening members

/** `a:b:c` -> member paths; discovery of unnamed members happens in openImage. */
export function splitImageSpec(spec: string): string[] {
  return spec.split(':').filter((p) => p.length > 0);
}

function openFd(p: string, writable: boolean): number {
  try {
    return fs.openSync(p, writable ? 'r+' : 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new OperationalError('ENOENT', `${p}: No such file or directory`);
    if (code === 'EISDIR') throw new OperationalError('EISDIR', `${p}: is a directory, not an image member`);
    if (code === 'EACCES' || code === 'EPERM') throw new OperationalError(code, `${p}: permission denied`);
    throw new OperationalError(code ?? 'EIO', `${p}: cannot open (${code ?? String(err)})`);
  }
}

/** Read the member uuid and fs uuid of a file that looks like a strata member, or undefined. */
function peekIdentity(p: string): { fsUuid: Buffer; memberUuid: Buffer; seq: number } | undefined {
  let fd: number | undefined;
  try {
    fd = fs.openSync(p, 'r');
    const head = Buffer.alloc(Superblock.size);
    const tries = [SB_OFFSET, fs.fstatSync(fd).size - 65536];
    let found: { fsUuid: Buffer; memberUuid: Buffer; seq: number } | undefined;
    for (const off of tries) {
      if (off < 0) continue;
      if (fs.readSync(fd, head, 0, head.length, off) === head.length && head.subarray(0, 8).equals(SB_MAGIC)) {
        const seq = readU64(head, Superblock.field('seq').offset);
        if (!found || seq > found.seq) found = { fsUuid: Buffer.from(head.subarray(48, 64)), memberUuid: Buffer.from(head.subarray(64, 80)), seq };
      }
    }
    return found;
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

export async function openImage(spec: string, options: OpenOptions = {}): Promise<Image> {
  const named = splitImageSpec(spec);
  if (named.length === 0) throw new OperationalError('ENOENT', 'no image member named');
  const checksums = await loadChecksummer();
  const writable = options.writable ?? false;

  // Open the named members and read their superblocks; the newest valid copy over all of them
  // defines the filesystem.
  const probes: Array<{ path: string; fd: number; copies: CopyResult[] }> = [];
  try {
    const namedMissing: string[] = [];
    for (const p of named) {
      // A named member that is gone counts as missing when degraded reads are allowed and
      // another named member can speak for the image.
      if (options.allowDegraded && named.length > 1 && !fs.existsSync(p)) {
        namedMissing.push(p);
        continue;
      }
      const fd = openFd(p, writable);
      const layer = new FileBlockLayer([{ path: p, fd }], false);
      probes.push({ path: p, fd, copies: readSuperblockCopies(layer, 0, p, checksums.crc32c) });
    }
    // Newest seq first; among copies of one seq, the filesystem most copies name (one copy
    // damaged with its checksum made to agree must not outvote the rest).
    const uuidVotes = new Map<string, number>();
    for (const probe of probes) for (const c of probe.copies) if (c.result) uuidVotes.set(c.result.fs.fsUuid.toString('hex'), (uuidVotes.get(c.result.fs.fsUuid.toString('hex')) ?? 0) + 1);
    const votes = (c: CopyResult) => uuidVotes.get(c.result!.fs.fsUuid.toString('hex'))!;
    let best: { probe: number; copy: CopyResult } | undefined;
    probes.forEach((probe, i) => {
      for (const c of probe.copies) {
        if (!c.result) continue;
        const seq = c.result.fs.seq;
        if (!best || seq > best.copy.result!.fs.seq || (seq === best.copy.result!.fs.seq && votes(c) > votes(best.copy))) best = { probe: i, copy: c };
      }
    });
    if (!best) {
      const p = probes[0]!;
      const magicless = p.copies.every((c) => c.error?.includes('bad magic') || c.error?.includes('too small'));
      if (magicless) throw new OperationalError('NOT_STRATA', `${p.path}: not a strata image (no superblock at offset ${SB_OFFSET} or at the end)`);
      throw new CorruptImageError(`no valid superblock: ${p.copies.map((c) => `copy ${c.copy}: ${c.error}`).join('; ')}`, { member: p.path }, 'run strata fsck -y');
    }
    const fsInfo = options.superblock ?? best.copy.result!.fs;
    // The zstd decoder (WASM) is loaded only for images that use it: it costs startup time.
    const compressor = fsInfo.incompat & INCOMPAT.zstd ? await loadCompressor() : uncompressedOnly;
    // A member's own copy is the one agreeing with the superblock in use, not just its newest.
    const ownCopy = (copies: CopyResult[]) => copies.find((x) => x.result?.fs.seq === fsInfo.seq && x.result.fs.fsUuid.equals(fsInfo.fsUuid)) ?? bestCopy(copies);
    for (const probe of probes) {
      const c = ownCopy(probe.copies);
      if (c && !c.result!.fs.fsUuid.equals(fsInfo.fsUuid)) throw new OperationalError('FOREIGN_MEMBER', `${probe.path}: member of another filesystem`);
    }

    // Place each named member at its index and look for the others in the same folders.
    const files: MemberFile[] = fsInfo.members.map(() => ({ path: '', fd: null }));
    for (const probe of probes) {
      const c = ownCopy(probe.copies);
      let index = c?.result!.memberIndex;
      if (index === undefined) {
        const id = peekIdentity(probe.path);
        index = id ? fsInfo.members.findIndex((m) => m.uuid.equals(id.memberUuid)) : -1;
      }
      if (index === undefined || index < 0) throw new CorruptImageError('no readable superblock names this member', { member: probe.path }, 'run strata fsck -y');
      files[index] = { path: probe.path, fd: probe.fd };
    }
    const folders = [...new Set(named.map((p) => path.dirname(path.resolve(p))))];
    // Unnamed members: the file in the named members' folders carrying the member's uuid and,
    // when a stale copy (a backup) carries it too, the newest superblock.
    const candidates = new Map<number, { path: string; seq: number }>();
    for (const folder of folders) {
      let entries: string[] = [];
      try {
        entries = fs.readdirSync(folder);
      } catch {
        continue;
      }
      if (files.every((f) => f.fd !== null)) break;
      for (const name of entries.sort()) {
        const p = path.join(folder, name);
        if (files.some((f) => f.fd !== null && path.resolve(f.path) === p)) continue;
        try {
          if (!fs.statSync(p).isFile()) continue;
        } catch {
          continue;
        }
        const id = peekIdentity(p);
        if (!id || !id.fsUuid.equals(fsInfo.fsUuid)) continue;
        const index = fsInfo.members.findIndex((m) => m.uuid.equals(id.memberUuid));
        if (index < 0 || files[index]!.fd !== null) continue;
        const seen = candidates.get(index);
        if (seen && seen.seq === id.seq) {
          options.onDamage?.({ kind: 'member', member: index, memberPath: `${seen.path}, ${p}`, offset: 0, structure: 'member file', reason: `two files carry member ${index} at the same checkpoint; using ${seen.path} (name every member to choose)`, recovered: true });
        }
        if (!seen || id.seq > seen.seq) candidates.set(index, { path: p, seq: id.seq });
      }
    }
    for (const [index, c] of candidates) files[index] = { path: c.path, fd: openFd(c.path, writable) };
    files.forEach((f, i) => {
      if (!f.path) f.path = `member ${i} (uuid ${fsInfo.members[i]!.uuid.toString('hex')})`;
    });
    if (namedMissing.length) options.onDamage?.({ kind: 'member', member: -1, memberPath: namedMissing.join(', '), offset: 0, structure: 'member file', reason: 'named member file does not exist', recovered: false });
    const missing = () => files.some((f) => f.fd === null);
    if (missing() && !options.allowDegraded) {
      const absent = files.map((f, i) => (f.fd === null ? i : -1)).filter((i) => i >= 0);
      throw new OperationalError('MEMBER_MISSING', `image has ${files.length} members; member${absent.length > 1 ? 's' : ''} ${absent.join(', ')} not found next to ${named[0]}`, 'name every member joined with ":"');
    }
    const fileLayer = new FileBlockLayer(files, writable);
    const layer = options.wrapLayer ? options.wrapLayer(fileLayer) : fileLayer;
    const members: MemberStatus[] = files.map((f, i) => ({
      index: i, path: f.path, present: f.fd !== null,
      copies: f.fd === null ? [] : readSuperblockCopies(layer, i, f.path, checksums.crc32c),
    }));
    const img = new Image(fsInfo, layer, members, checksums, compressor, options);
    for (const m of members) {
      if (!m.present) img.damage({ kind: 'member', member: m.index, memberPath: m.path, offset: 0, structure: 'member file', reason: 'member missing', recovered: false });
      for (const c of m.copies) {
        if (c.error || (c.result && c.result.fs.seq !== fsInfo.seq)) {
          img.damage({ kind: 'superblock', member: m.index, memberPath: m.path, offset: c.offset, structure: `superblock copy ${c.copy}`, reason: c.error ?? `stale copy (seq ${c.result!.fs.seq}, newest ${fsInfo.seq})`, recovered: true });
        }
      }
    }
    return img;
  } catch (err) {
    for (const p of probes) {
      try {
        fs.closeSync(p.fd);
      } catch {
        /* already owned by a layer */
      }
    }
    throw err;
  }
}
