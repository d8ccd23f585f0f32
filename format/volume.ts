// A volume is an image opened for reading with its journal replayed, or for changing.
//
// Opening: newest valid superblock, then every journal entry from `journal_seq` on, in
// sequence order up to the first missing or invalid one, applied to in-memory btrees. A
// read-only open never writes; a writable open that replayed anything checkpoints at once, so
// each session starts with an empty journal and its ring written from the start.
//
// Changing: `commit` makes one transaction durable: data already written is flushed, then the
// journal entry is written to `metadata_replicas` members and flushed, then its keys are
// applied in memory. A checkpoint writes dirty nodes copy-on-write, rewrites the alloc btree,
// flushes, and only then writes the superblocks naming the new roots. Space freed by either
// is reused only after the checkpoint that made it unreferenced is durable.
import { type BlockLayer } from './io.js';
import { openImage, type Image, type OpenOptions } from './image.js';
import { MutableBtree } from './btree/mutable.js';
import { encodeNode } from './btree/node.js';
import { writeAllocBtree } from './btree/alloc-build.js';
import { decodeEntry, encodeEntry, entrySize, replayable, scanRing, type JournalEntry, type JournalItem, type RingScan } from './journal.js';
import { Space } from './space.js';
import { BTREE, BTREE_COUNT, BUCKET_DATA, INCOMPAT, KEY_TYPE, SB_FLAG, SB_OFFSET, SB_TAIL } from './layout.js';
import { encodeSuperblock, type FsInfo, type RootInfo } from './superblock.js';
import { OperationalError } from './errors.js';
import { POS_MIN, type Key, type Ptr } from './keys.js';

export interface VolumeOptions extends OpenOptions {
  /** btrees built in memory from these keys instead of read from their roots (fsck rebuilding a damaged tree) */
  rebuild?: ReadonlyMap<number, readonly Key[]>;
  /** keep bucket usage (`space`) on a read-only open too, so a check can compare it with a recount */
  trackUsage?: boolean;
  /** a writable open that replayed entries does not checkpoint at once: the caller must, before any commit (fsck corrects usage first) */
  deferReplayCheckpoint?: boolean;
  /** every member's journal ring as already scanned, one per member (fsck's journal pass): replayed from instead of read again */
  ringScans?: RingScan[];
}

export interface Counters {
  nextInode: number;
  nextReflink: number;
  nextStripe: number;
}

export interface ReplayReport {
  fromSeq: number;
  replayed: number;
  ignoredAfterGap: number;
  scans: RingScan[];
}

export class JournalFullError extends OperationalError {
  constructor(bytes: number, ring: number) {
    super('JOURNAL_FULL', `transaction needs ${bytes} bytes of journal, the journal ring holds ${ring}`, 'split the operation, or make the image with a larger --size');
  }
}

export class Volume {
  readonly trees: MutableBtree[];
  readonly counters: Counters;
  private nextSeq: number;
  private ringPos = 0;
  private dataPending = false;
  private committedSinceCheckpoint = 0;
  readonly space: Space | undefined;
  readonly replay: ReplayReport;

  private constructor(readonly img: Image, readonly writable: boolean, options: VolumeOptions = {}) {
    const fs = img.fs;
    this.trees = Array.from({ length: BTREE_COUNT }, (_, id) => {
      const keys = options.rebuild?.get(id);
      if (!keys) return new MutableBtree(img, id, fs.roots[id]!, fs.nodeSize);
      const tree = new MutableBtree(img, id, null, fs.nodeSize);
      tree.loadSorted(keys.slice());
      return tree;
    });
    img.btrees = this.trees;
    this.counters = { nextInode: fs.nextInode, nextReflink: fs.nextReflink, nextStripe: fs.nextStripe };
    this.nextSeq = fs.journalSeq;
    if (writable || options.trackUsage) {
      this.space = new Space(fs, (m) => img.layer.present(m));
      // Each key once, its leaves read in place and not kept: the alloc btree is rewritten whole at a checkpoint.
      const space = this.space;
      this.trees[BTREE.alloc]!.visitAll((inode, offset, snapshot, type, bytes, valueAt, valueEnd) => {
        if (type === KEY_TYPE.alloc) space.loadAllocValue(inode, offset, bytes, valueAt, valueEnd);
      });
      this.space.finishLoad();
    }
    const scans = options.ringScans ?? fs.members.map((_, i) => scanRing(img.layer, fs, i, img.checksums));
    const { entries, stoppedAt, ignoredAfterGap } = replayable(scans, fs.journalSeq);
    for (const e of entries) this.applyEntry(e);
    this.nextSeq = stoppedAt;
    this.replay = { fromSeq: fs.journalSeq, replayed: entries.length, ignoredAfterGap, scans };
  }

  static async open(spec: string, options: VolumeOptions & { writable?: boolean } = {}): Promise<Volume> {
    const img = await openImage(spec, options);
    try {
      const vol = new Volume(img, Boolean(options.writable), options);
      if (vol.writable && vol.replay.replayed > 0 && !options.deferReplayCheckpoint) vol.checkpoint();
      return vol;
    } catch (err) {
      img.close();
      throw err;
    }
  }

  get fs(): FsInfo {
    return this.img.fs;
  }

  get layer(): BlockLayer {
    return this.img.layer;
  }

  /** Apply one key update in memory, keeping bucket usage in step (runtime and replay alike). */
  private apply(item: JournalItem): void {
    const tree = this.trees[item.btreeId]!;
    const old = item.key.type === KEY_TYPE.deleted ? tree.delete(item.key) : tree.insert(item.key);
    const next = item.key.type === KEY_TYPE.deleted ? undefined : item.key;
    if (this.space && (item.btreeId === BTREE.extents || item.btreeId === BTREE.reflink)) this.space.applyExtentTrigger(old, next);
  }

  private applyEntry(e: JournalEntry): void {
    for (const it of e.items) this.apply(it);
    this.counters.nextInode = Math.max(this.counters.nextInode, e.nextInode);
    this.counters.nextReflink = Math.max(this.counters.nextReflink, e.nextReflink);
    this.counters.nextStripe = Math.max(this.counters.nextStripe, e.nextStripe);
  }

  private requireWritable(): Space {
    if (!this.writable || !this.space) throw new Error('volume opened read-only');
    return this.space;
  }

  /** Write file data to `count` members; returns one pointer per copy. Made durable by the next commit. */
  writeData(bytes: Uint8Array, copies: number): Ptr[] {
    const space = this.requireWritable();
    const pointers = space.pickMembers(copies).map((member) => {
      const ptr = space.allocate(member, BUCKET_DATA.user, bytes.length);
      const padded = Math.ceil(bytes.length / this.fs.blockSize) * this.fs.blockSize;
      const buf = padded === bytes.length ? bytes : Buffer.concat([bytes, Buffer.alloc(padded - bytes.length)]);
      this.layer.write(member, ptr.offset, buf);
      return ptr;
    });
    this.dataPending = true;
    return pointers;
  }

  private journalMembers(): number[] {
    const present = this.fs.members.map((m, i) => i).filter((i) => this.layer.present(i) && this.fs.members[i]!.journalBuckets > 0);
    return present.slice(0, Math.max(1, Math.min(this.fs.metadataReplicas, present.length)));
  }

  private ringSize(): number {
    const sizes = this.journalMembers().map((i) => this.fs.members[i]!.journalBuckets * this.fs.bucketSize);
    return Math.min(...sizes);
  }

  /**
   * Make one transaction durable; returns its sequence number. Inside `batch`, the transaction
   * is applied in memory at once and becomes durable with the batch's next journal entry.
   */
  commit(items: JournalItem[], label = 'commit'): number {
    this.requireWritable();
    if (items.length === 0) return this.nextSeq - 1;
    if (this.batchDepth > 0) {
      const size = entrySize(items, this.fs.blockSize);
      if (size > this.ringSize()) throw new JournalFullError(size, this.ringSize());
      // Keep each entry well inside the ring so a flush never needs more than one checkpoint.
      if (this.pendingBytes + size > this.ringSize() / 4) this.flushBatch();
      for (const it of items) this.apply(it);
      this.pending.push(...items);
      this.pendingBytes += size;
      return this.nextSeq;
    }
    return this.writeEntry(items, label, true);
  }

  /**
   * Run `fn` with group commit: its transactions are journaled together (in entries of at most
   * a quarter of the ring) and acknowledged when the batch returns.
   */
  async batch<T>(fn: () => Promise<T>): Promise<T> {
    this.batchDepth++;
    try {
      return await fn();
    } finally {
      this.batchDepth--;
      if (this.batchDepth === 0) this.flushBatch();
    }
  }

  private batchDepth = 0;
  private pending: JournalItem[] = [];
  private pendingBytes = 0;

  /** Journal the batch's transactions, already applied in memory. */
  flushBatch(): void {
    if (this.pending.length === 0) return;
    const items = this.pending;
    this.pending = [];
    this.pendingBytes = 0;
    this.writeEntry(items, 'batch', false);
  }

  /**
   * Write one journal entry and flush. Replaying an entry whose items a checkpoint already
   * contains is harmless: puts replace a key with itself and deletions find nothing, so usage
   * triggers cancel out. That lets a batch checkpoint before its entry is written.
   */
  private writeEntry(items: JournalItem[], label: string, apply: boolean): number {
    const size = entrySize(items, this.fs.blockSize);
    const ring = this.ringSize();
    if (size > ring) throw new JournalFullError(size, ring);
    if (this.ringPos + size > ring) this.checkpoint();
    if (this.dataPending) {
      // Data must be durable before the entry that references it.
      this.layer.flush();
      this.dataPending = false;
    }
    const entry: JournalEntry = { seq: this.nextSeq, lastSeq: this.fs.journalSeq, ...this.counters, items };
    const bytes = encodeEntry(entry, this.fs.blockSize, this.fs.metadataChecksum, this.img.fsMagic, this.img.checksums);
    for (const m of this.journalMembers()) {
      const info = this.fs.members[m]!;
      this.layer.write(m, info.journalBucket * this.fs.bucketSize + this.ringPos, bytes);
    }
    this.layer.flush();
    this.ringPos += size;
    if (apply) this.applyEntry(entry);
    this.nextSeq++;
    this.committedSinceCheckpoint++;
    this.layer.mark(`${label} seq ${entry.seq}`);
    return entry.seq;
  }

  /** Reserve an inode number; becomes durable with the transaction that uses it. */
  allocateInode(): number {
    return this.counters.nextInode++;
  }

  allocateReflink(bytes: number): number {
    const start = this.counters.nextReflink;
    this.counters.nextReflink += bytes;
    return start;
  }

  /** Everything committed is already durable; sync flushes anything written since. */
  sync(): void {
    if (this.writable) this.layer.flush();
  }

  get dirty(): boolean {
    return this.committedSinceCheckpoint > 0 || this.pending.length > 0 || this.trees.some((t) => t.isDirty);
  }

  /** Write every dirty btree node and the superblocks naming them; empties the journal. */
  checkpoint(): void {
    const space = this.requireWritable();
    // Batched transactions are already applied in memory; their entry, written after this
    // checkpoint, replays idempotently over it.
    const fs = this.fs;
    const seq = fs.seq + 1;
    this.layer.flush();
    const placeNode = (bytes: Buffer): Ptr[] =>
      space.pickMembers(fs.metadataReplicas).map((member) => {
        const ptr = space.allocate(member, BUCKET_DATA.btree, fs.nodeSize);
        this.layer.write(member, ptr.offset, bytes);
        space.adjust(member, ptr.offset, fs.nodeSize, BUCKET_DATA.btree);
        return ptr;
      });
    const release = (old: { pointers: Ptr[] }) => {
      for (const p of old.pointers) space.adjust(p.member, p.offset, -fs.nodeSize, BUCKET_DATA.btree);
    };
    const roots: RootInfo[] = fs.roots.slice();
    for (const tree of this.trees) {
      if (tree.id === BTREE.alloc || !tree.isDirty) continue;
      roots[tree.id] = tree.writeDirty(seq, (content) => {
        const { bytes, checksum } = encodeNode(content, fs.nodeSize, fs.metadataChecksum, this.img.fsMagic, this.img.checksums);
        return { pointers: placeNode(bytes), checksum, seq };
      }, release);
    }
    // The alloc btree is rebuilt whole: its old nodes are released first, so the usage it
    // records is final, then it is written into buckets reserved for it.
    const alloc = this.trees[BTREE.alloc]!;
    alloc.resetToEmpty();
    for (const r of alloc.retired) if (r.disk) release(r.disk);
    alloc.retired = [];
    space.closeOpenBuckets();
    roots[BTREE.alloc] = writeAllocBtree(space, space.pickMembers(fs.metadataReplicas), fs.bucketSize,
      { nodeSize: fs.nodeSize, checksumType: fs.metadataChecksum, fsMagic: this.img.fsMagic, seq, checksums: this.img.checksums, fill: 7 / 8 },
      (member, offset, bytes) => this.layer.write(member, offset, bytes));
    this.layer.flush();
    // Readers that do not know reflink must not open an image that has shared extents.
    const incompat = this.trees[BTREE.reflink]!.next(POS_MIN) ? fs.incompat | INCOMPAT.reflink : fs.incompat & ~INCOMPAT.reflink;
    const next: FsInfo = {
      ...fs, seq, roots, incompat, journalSeq: this.nextSeq, flags: (fs.flags | SB_FLAG.clean) >>> 0,
      nextInode: this.counters.nextInode, nextReflink: this.counters.nextReflink, nextStripe: this.counters.nextStripe,
    };
    // Copy 0 everywhere, flush, then copy 1: a crash leaves some copy of either generation whole.
    for (const copy of [0, 1] as const) {
      fs.members.forEach((m, i) => {
        if (!this.layer.present(i)) return;
        const sb = encodeSuperblock(next, i, this.img.checksums.crc32c);
        this.layer.write(i, copy === 0 ? SB_OFFSET : m.size - SB_TAIL, sb);
      });
      this.layer.flush();
    }
    Object.assign(this.img.fs, next);
    this.trees[BTREE.alloc] = new MutableBtree(this.img, BTREE.alloc, roots[BTREE.alloc]!, fs.nodeSize);
    this.img.btrees[BTREE.alloc] = this.trees[BTREE.alloc]!;
    space.endEpoch();
    this.ringPos = 0;
    this.committedSinceCheckpoint = 0;
    this.layer.mark(`checkpoint ${seq}`);
  }

  /** Checkpoint when anything changed, then close the members. */
  close(): void {
    try {
      if (this.writable) this.flushBatch();
      if (this.writable && this.dirty) this.checkpoint();
    } finally {
      this.img.close();
    }
  }

  /** Close without a checkpoint (what a crash leaves; used by tests and on errors). */
  abandon(): void {
    this.img.close();
  }
}

export { decodeEntry };
export type { Key };
