// The plain file extents of a scrub plan, kept in typed-array columns instead of a handful of
// objects each. On the bench image (50,000 files) those objects, and collecting them again,
// were most of scrub's time after the checksums themselves (docs/scrub.md, Performance).
//
// A file extent goes here only when everything the object path would look at is ordinary:
// the value decodes exactly as decodeExtentBody decodes it, its sizes are within bounds, it is
// not erasure-coded, it carries a crc32c or xxhash64 checksum, and every pointer names a place
// inside its member's buckets. Anything else takes the object path (scrub-plan.ts), which
// reports it as before.
//
// Invariant: while every row is good, the rows are all the plan needs of these extents (the
// report counts them). As soon as anything is not (a copy is bad or unread, a stripe or a
// journal extent must be matched against them), `materialize` turns every row into the
// ExtentTarget the object path would have built, in the same place of plan.extents, and the
// rest of scrub runs on objects exactly as before.
import type { Image } from '../format/image.js';
import { type ExtentBody, ExtentFields } from '../format/keys.js';
import { CSUM } from '../format/checksum.js';
import { ExtentValue } from '../format/layout.js';
import { type CopyRecord, type ExtentTarget, locationProblem } from './scrub-plan.js';
import { grown } from './columns.js';

const CHECKSUM_AT = ExtentValue.field('checksum').offset;

export const COPY_STATE = { unread: 0, good: 1, bad: 2 } as const;

/** How a copy row that is not plainly good ended: what materialize puts on its CopyRecord. */
export interface CopyOutcome {
  reason: string;
  checked: boolean;
  notInFile: boolean;
}

export class CompactExtents {
  /** extents held */
  count = 0;
  /** copy rows held (one per pointer) */
  copyCount = 0;

  // Per extent.
  private slot = new Uint32Array(256);
  private inode = new Float64Array(256);
  private end = new Float64Array(256);
  private live = new Uint32Array(256);
  private chunk = new Uint32Array(256);
  private uncompressed = new Uint32Array(256);
  private csumLo = new Uint32Array(256);
  private csumHi = new Uint32Array(256);
  private csumType = new Uint8Array(256);
  private compression = new Uint8Array(256);
  private firstCopy = new Uint32Array(256);
  private copies = new Uint8Array(256);

  // Per copy row.
  private copyExtent = new Uint32Array(512);
  private member = new Uint8Array(512);
  private generation = new Uint32Array(512);
  private offset = new Float64Array(512);
  private length = new Uint32Array(512);
  private state = new Uint8Array(512);
  /** rows that are bad, or were not checked: why */
  readonly outcomes = new Map<number, CopyOutcome>();

  private readonly perMember: Array<{ copies: number; bytes: number }>;
  /** the value being looked at, read in place */
  private readonly fields = new ExtentFields();

  constructor(private readonly img: Image) {
    this.perMember = img.fs.members.map(() => ({ copies: 0, bytes: 0 }));
  }

  /**
   * Take the extent key (inode, end) whose value is bytes [at, valueEnd) of `bytes` when it is
   * plain (see the top of the file); `slot` is where in plan.extents the object path would have
   * put it. False: the caller builds the object instead.
   */
  tryAdd(bytes: Buffer, at: number, valueEnd: number, inode: number, end: number, slot: number): boolean {
    const f = this.fields;
    // Decodes as decodeExtentBody decodes it, with the sizes the object path would read.
    if (!f.read(bytes, at, valueEnd) || f.storedSize === 0 || f.uncompressedSize === 0) return false;
    if (f.checksumType !== CSUM.crc32c && f.checksumType !== CSUM.xxhash64) return false;
    if (f.stripeId !== 0 || f.stripeBlock !== 0) return false;
    for (let p = 0; p < f.pointerCount; p++) if (locationProblem(this.img, f.member[p]!, f.offset[p]!, f.storedSize) !== undefined) return false;

    const e = this.count++;
    if (e >= this.slot.length) this.growExtents(e + 1);
    this.slot[e] = slot;
    this.inode[e] = inode;
    this.end[e] = end;
    this.live[e] = f.liveSize;
    this.chunk[e] = f.chunkOffset;
    this.uncompressed[e] = f.uncompressedSize;
    this.csumLo[e] = bytes.readUInt32LE(at + CHECKSUM_AT);
    this.csumHi[e] = bytes.readUInt32LE(at + CHECKSUM_AT + 4);
    this.csumType[e] = f.checksumType;
    this.compression[e] = f.compression;
    this.firstCopy[e] = this.copyCount;
    this.copies[e] = f.pointerCount;
    if (this.copyCount + f.pointerCount > this.copyExtent.length) this.growCopies(this.copyCount + f.pointerCount);
    for (let p = 0; p < f.pointerCount; p++) {
      const c = this.copyCount++;
      const member = f.member[p]!;
      this.copyExtent[c] = e;
      this.member[c] = member;
      this.generation[c] = f.generation[p]!;
      this.offset[c] = f.offset[p]!;
      this.length[c] = f.storedSize;
      this.perMember[member]!.copies++;
      this.perMember[member]!.bytes += f.storedSize;
    }
    return true;
  }

  private growExtents(n: number): void {
    this.slot = grown(this.slot, n);
    this.inode = grown(this.inode, n);
    this.end = grown(this.end, n);
    this.live = grown(this.live, n);
    this.chunk = grown(this.chunk, n);
    this.uncompressed = grown(this.uncompressed, n);
    this.csumLo = grown(this.csumLo, n);
    this.csumHi = grown(this.csumHi, n);
    this.csumType = grown(this.csumType, n);
    this.compression = grown(this.compression, n);
    this.firstCopy = grown(this.firstCopy, n);
    this.copies = grown(this.copies, n);
  }

  private growCopies(n: number): void {
    this.copyExtent = grown(this.copyExtent, n);
    this.member = grown(this.member, n);
    this.generation = grown(this.generation, n);
    this.offset = grown(this.offset, n);
    this.length = grown(this.length, n);
    this.state = grown(this.state, n);
  }

  copyMember(c: number): number {
    return this.member[c]!;
  }

  copyOffset(c: number): number {
    return this.offset[c]!;
  }

  copyLength(c: number): number {
    return this.length[c]!;
  }

  /** Copy rows in member, then offset order (each member is read front to back). */
  readOrder(): Uint32Array {
    const order = new Uint32Array(this.copyCount);
    for (let c = 0; c < order.length; c++) order[c] = c;
    let sorted = true;
    for (let c = 1; c < order.length && sorted; c++) {
      sorted = this.member[c - 1]! < this.member[c]! || (this.member[c - 1] === this.member[c] && this.offset[c - 1]! <= this.offset[c]!);
    }
    if (!sorted) order.sort((a, b) => this.member[a]! - this.member[b]! || this.offset[a]! - this.offset[b]!);
    return order;
  }

  /** `check` given what a copy's bytes must be: its extent's checksum, and its compression. */
  withExpectation<T>(c: number, check: (checksumType: number, lo: number, hi: number, compression: number, uncompressedSize: number) => T): T {
    const e = this.copyExtent[c]!;
    return check(this.csumType[e]!, this.csumLo[e]!, this.csumHi[e]!, this.compression[e]!, this.uncompressed[e]!);
  }

  isBad(c: number): boolean {
    return this.state[c] === COPY_STATE.bad;
  }

  good(c: number): void {
    this.state[c] = COPY_STATE.good;
  }

  bad(c: number, outcome: CopyOutcome): void {
    this.state[c] = COPY_STATE.bad;
    this.outcomes.set(c, outcome);
  }

  /** Every row verified good: nothing needs the objects. */
  allGood(): boolean {
    for (let c = 0; c < this.copyCount; c++) if (this.state[c] !== COPY_STATE.good) return false;
    return true;
  }

  /** Copy rows and their bytes per member, for the report of a clean run (every row good and checked). */
  tally(): ReadonlyArray<{ copies: number; bytes: number }> {
    return this.perMember;
  }

  /**
   * The ExtentTargets the object path would have built, placed among `others` (the extents
   * the object path did build) where they were met. The rows are emptied.
   */
  materialize(others: ExtentTarget[]): ExtentTarget[] {
    const all = new Array<ExtentTarget | undefined>(others.length + this.count);
    for (let e = 0; e < this.count; e++) all[this.slot[e]!] = this.target(e);
    let next = 0;
    for (let i = 0; i < all.length; i++) if (all[i] === undefined) all[i] = others[next++];
    this.count = 0;
    this.copyCount = 0;
    this.outcomes.clear();
    for (const m of this.perMember) Object.assign(m, { copies: 0, bytes: 0 });
    return all as ExtentTarget[];
  }

  private target(e: number): ExtentTarget {
    const pointers: ExtentBody['pointers'] = [];
    const copies: CopyRecord[] = [];
    const first = this.firstCopy[e]!;
    for (let c = first; c < first + this.copies[e]!; c++) {
      pointers.push({ member: this.member[c]!, generation: this.generation[c]!, offset: this.offset[c]! });
      copies.push(this.copyRecord(c));
    }
    const body: ExtentBody = {
      liveSize: this.live[e]!, chunkOffset: this.chunk[e]!, uncompressedSize: this.uncompressed[e]!, storedSize: this.length[first]!,
      checksum: (BigInt(this.csumHi[e]!) << 32n) | BigInt(this.csumLo[e]!), checksumType: this.csumType[e]!, compression: this.compression[e]!,
      stripeId: 0, stripeBlock: 0, pointers,
    };
    return { kind: 'extent', body, owner: { kind: 'file', inode: this.inode[e]!, start: this.end[e]! - body.liveSize, end: this.end[e]! }, copies };
  }

  private copyRecord(c: number): CopyRecord {
    const copy: CopyRecord = { member: this.member[c]!, offset: this.offset[c]!, length: this.length[c]!, state: 'unread' };
    const state = this.state[c];
    if (state === COPY_STATE.good) Object.assign(copy, { state: 'good', checked: true });
    else if (state === COPY_STATE.bad) {
      const o = this.outcomes.get(c)!;
      copy.state = 'bad';
      copy.reason = o.reason;
      if (o.checked) copy.checked = true;
      if (o.notInFile) copy.notInFile = true;
    }
    return copy;
  }
}
