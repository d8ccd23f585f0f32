// State the logical passes share, kept in typed arrays so memory stays near 60 bytes per inode
// however large the image: the inode table (loaded once from the inodes btree, then counted
// into by the extents, dirents and directory passes), and what the extents pass gathers for
// the reflink and stripes passes.
import { DT } from '../format/layout.js';
import { S_IFMT } from '../fs/entry.js';
import { grown } from './columns.js';

/**
 * Rows to reserve up front in a table that grows with the inode count (growing by doubling
 * allocates and copies every column again, several times): the next inode number, which bounds
 * the inode count of an undamaged image, at most 2^18 rows so that a damaged counter costs little.
 */
export function rowsFor(nextInode: number): number {
  return Math.min(Math.max(nextInode, 1024), 1 << 18);
}

/** Bits of InodeTable.flags. */
export const INODE = {
  /** has extent-btree keys */
  hasData: 1 << 0,
  hasXattrs: 1 << 1,
  /** cleared by fsck: counts no longer matter */
  removed: 1 << 2,
  /** some field besides those kept here may be wrong (loading saw it): the inodes pass reads it */
  suspect: 1 << 3,
} as const;

const FIELDS = {
  inum: Float64Array,
  mode: Uint32Array,
  nlink: Uint32Array,
  size: Float64Array,
  parent: Float64Array,
  /** dirents naming it */
  links: Uint32Array,
  /** dirents in it naming directories */
  subdirs: Uint32Array,
  /** directories: the directory holding the dirent that names it (0: none yet) */
  nameParent: Float64Array,
  /** end of its last extent */
  dataEnd: Float64Array,
  flags: Uint8Array,
} as const;

type Columns = { [K in keyof typeof FIELDS]: InstanceType<(typeof FIELDS)[K]> };

/** Inode numbers a direct index covers: up to this many per row, and a little more. */
const INDEX_SPREAD = 4;
const INDEX_SLACK = 4096;

/**
 * Every inode that decoded, sorted by inode number. Index-based: `find(inum)` gives the row,
 * and passes read and count into the columns by row. While rows arrive in order and inode
 * numbers are dense (the usual image: numbered from 1 up), a direct index from inode number to
 * row answers `find` (4 bytes per number); otherwise a binary search does.
 */
export class InodeTable {
  private cols: Columns;
  count = 0;
  /** row + 1 by inode number (0: no row); undefined once rows moved or numbers are too sparse */
  private index: Int32Array | undefined;

  constructor(capacity = 1024) {
    this.cols = allocate(capacity);
    this.index = new Int32Array(capacity + INDEX_SLACK);
  }

  get c(): Columns {
    return this.cols;
  }

  /** Append a row; inode numbers must arrive in increasing order (as the inodes btree yields them). */
  append(inum: number, mode: number, nlink: number, size: number, parent: number): number {
    if (this.count > 0 && this.cols.inum[this.count - 1]! >= inum) return this.insert(inum, mode, nlink, size, parent);
    this.grow(this.count + 1);
    const i = this.count++;
    this.setRow(i, inum, mode, nlink, size, parent);
    this.indexRow(inum, i);
    return i;
  }

  private indexRow(inum: number, row: number): void {
    let index = this.index;
    if (!index) return;
    if (inum >= index.length) {
      const wanted = Math.max(index.length * 2, inum + 1);
      if (wanted > this.count * INDEX_SPREAD + INDEX_SLACK) {
        this.index = undefined;
        return;
      }
      const next = new Int32Array(wanted);
      next.set(index);
      this.index = index = next;
    }
    index[inum] = row + 1;
  }

  private insert(inum: number, mode: number, nlink: number, size: number, parent: number): number {
    const at = this.lowerBound(inum);
    if (at < this.count && this.cols.inum[at] === inum) {
      this.setRow(at, inum, mode, nlink, size, parent);
      return at;
    }
    this.grow(this.count + 1);
    // Rows after `at` move: the direct index would be wrong.
    this.index = undefined;
    for (const col of Object.values(this.cols)) col.copyWithin(at + 1, at, this.count);
    this.count++;
    this.setRow(at, inum, mode, nlink, size, parent);
    return at;
  }

  private setRow(i: number, inum: number, mode: number, nlink: number, size: number, parent: number): void {
    const c = this.cols;
    c.inum[i] = inum;
    c.mode[i] = mode;
    c.nlink[i] = nlink;
    c.size[i] = size;
    c.parent[i] = parent;
    c.links[i] = 0;
    c.subdirs[i] = 0;
    c.nameParent[i] = 0;
    c.dataEnd[i] = 0;
    c.flags[i] = 0;
  }

  private lowerBound(inum: number): number {
    let lo = 0;
    let hi = this.count;
    const inums = this.cols.inum;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (inums[mid]! < inum) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Row of `inum`, or -1 when it has no (live) inode. */
  find(inum: number): number {
    const index = this.index;
    if (index) {
      const i = inum < index.length ? index[inum]! - 1 : -1;
      return i >= 0 && !(this.cols.flags[i]! & INODE.removed) ? i : -1;
    }
    const i = this.lowerBound(inum);
    return i < this.count && this.cols.inum[i] === inum && !(this.cols.flags[i]! & INODE.removed) ? i : -1;
  }

  isDir(i: number): boolean {
    return (this.cols.mode[i]! & S_IFMT) === 0o040000;
  }

  /** DT_* of the row's file type (DT.unknown for a bad type). */
  dType(i: number): number {
    return dtOfMode(this.cols.mode[i]!);
  }

  /** The largest inode number in use (0 when none). */
  maxInum(): number {
    for (let i = this.count - 1; i >= 0; i--) if (!(this.cols.flags[i]! & INODE.removed)) return this.cols.inum[i]!;
    return 0;
  }

  private grow(needed: number): void {
    const capacity = this.cols.inum.length;
    if (needed <= capacity) return;
    const next = allocate(Math.max(needed, capacity * 2));
    for (const [name, col] of Object.entries(this.cols) as Array<[keyof Columns, Columns[keyof Columns]]>) (next[name] as typeof col).set(col);
    this.cols = next;
  }
}

function allocate(capacity: number): Columns {
  return Object.fromEntries(Object.entries(FIELDS).map(([name, Ctor]) => [name, new Ctor(capacity)])) as unknown as Columns;
}

export function dtOfMode(mode: number): number {
  switch (mode & S_IFMT) {
    case 0o100000: return DT.file;
    case 0o040000: return DT.dir;
    case 0o120000: return DT.symlink;
    case 0o020000: return DT.char;
    case 0o060000: return DT.block;
    case 0o010000: return DT.fifo;
    case 0o140000: return DT.socket;
    default: return DT.unknown;
  }
}

/** Growable parallel number columns (reflink pointers, directory dirents): no object per row. */
export class Rows<K extends string> {
  private cols: Record<K, Float64Array>;
  count = 0;

  constructor(readonly names: readonly K[], capacity = 256) {
    this.cols = Object.fromEntries(names.map((n) => [n, new Float64Array(capacity)])) as Record<K, Float64Array>;
  }

  push(row: Record<K, number>): void {
    const capacity = this.cols[this.names[0]!].length;
    if (this.count === capacity) {
      for (const n of this.names) {
        const next = new Float64Array(capacity * 2);
        next.set(this.cols[n]);
        this.cols[n] = next;
      }
    }
    for (const n of this.names) this.cols[n][this.count] = row[n];
    this.count++;
  }

  get(name: K, i: number): number {
    return this.cols[name][i]!;
  }

  /**
   * Row indices sorted by the given columns, ascending. Sorted as a plain array, whose sort
   * takes runs already in order as they are: rows mostly arrive near their sorted order.
   */
  order(...by: K[]): number[] {
    const idx: number[] = new Array(this.count);
    for (let i = 0; i < this.count; i++) idx[i] = i;
    const cols = by.map((n) => this.cols[n]);
    return idx.sort((a, b) => {
      for (const c of cols) {
        const d = c[a]! - c[b]!;
        if (d !== 0) return d;
      }
      return a - b;
    });
  }
}

/**
 * The extents btree as the alloc pass's recount read it, one row per inode with keys, in btree
 * order: how many keys, where the last ends, and whether every one is plain, that is one the
 * extents pass would only count for a file that exists: inode not 0; a valid extent with no
 * stripe, one copy per member, each in a valid place with the generation its bucket records
 * (the generation vote then keeps that one), or valid inline data; not overlapping the key
 * before it. The extents pass reads the keys of the other inodes again. Rows stand for the
 * tree as it was at `changes` (MutableBtree.changes) and only while it still is.
 */
export class ExtentRuns {
  count = 0;
  inode: Float64Array;
  keys: Float64Array;
  end: Float64Array;
  plain: Uint8Array;

  constructor(readonly changes: number, capacity = 256) {
    this.inode = new Float64Array(capacity);
    this.keys = new Float64Array(capacity);
    this.end = new Float64Array(capacity);
    this.plain = new Uint8Array(capacity);
  }

  /** One key, in btree order: of `inode`, mapping `live` bytes up to `end`, plain but for the overlap check made here. */
  add(inode: number, end: number, live: number, plain: boolean): void {
    let i = this.count - 1;
    if (i < 0 || this.inode[i] !== inode) {
      if (this.count === this.inode.length) this.grow();
      i = this.count++;
      this.inode[i] = inode;
      this.keys[i] = 0;
      this.plain[i] = 1;
    } else if (end - live < this.end[i]!) plain = false;
    this.keys[i]++;
    this.end[i] = end;
    if (!plain) this.plain[i] = 0;
  }

  private grow(): void {
    const n = this.inode.length + 1;
    this.inode = grown(this.inode, n);
    this.keys = grown(this.keys, n);
    this.end = grown(this.end, n);
    this.plain = grown(this.plain, n);
  }
}
