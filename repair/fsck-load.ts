// The logical state the passes after the alloc pass share, and loading it: every inode key that
// decodes goes into the inode table (the inodes pass checks and repairs the rest), every stripe
// key that decodes into the stripe map. Loading reports nothing: each key is reported by the
// pass that owns its btree.
import { CorruptImageError } from '../format/errors.js';
import { type DecodedInode, InodeFields, type Key, ops, type Stripe } from '../format/keys.js';
import { keyAt } from '../format/btree/node.js';
import { BTREE, DT, KEY_TYPE } from '../format/layout.js';
import type { Volume } from '../format/volume.js';
import { dtOfMode, INODE, InodeTable, Rows, rowsFor } from './fsck-state.js';
import type { FsckContext } from './fsck-context.js';

export interface FsState {
  inodes: InodeTable;
  /** inode-btree keys that are no usable inode, with why */
  badInodes: Array<{ key: Key; reason: string }>;
  /** stripes that decode, by id */
  stripes: Map<number, Stripe>;
  /** stripe ids some extent uses */
  usedStripes: Set<number>;
  /** reflink pointers as the extents pass leaves them: file range and reflink index */
  reflinkPointers: Rows<'inode' | 'end' | 'index' | 'live'>;
  /** extents that name a stripe */
  stripedExtents: Rows<'inode' | 'end' | 'stripe'>;
  /** dirents naming directories (dirents pass): target directory, holding directory, offset */
  dirNames: Rows<'target' | 'dir' | 'offset'>;
  /** extents whose inode does not exist, per inode: where the data ends (the inodes pass recreates those inodes) */
  orphanData: Map<number, number>;
  /** inodes fsck created (root, /lost+found, recreated ones): later passes set their counts and parent without a report */
  created: Set<number>;
  /** a bucket's generation as the alloc pass decided it */
  generation: (member: number, bucket: number) => number;
  /** counts for the summary */
  totals: { extents: number; dirents: number; xattrs: number; indirect: number; stripes: number };
}

export function loadState(ctx: FsckContext, vol: Volume, generation: (member: number, bucket: number) => number): FsState {
  const st: FsState = {
    generation,
    inodes: new InodeTable(rowsFor(vol.counters.nextInode)), badInodes: [], stripes: new Map(), usedStripes: new Set(),
    reflinkPointers: new Rows(['inode', 'end', 'index', 'live'] as const),
    stripedExtents: new Rows(['inode', 'end', 'stripe'] as const),
    dirNames: new Rows(['target', 'dir', 'offset'] as const),
    created: new Set(),
    orphanData: new Map(),
    totals: { extents: 0, dirents: 0, xattrs: 0, indirect: 0, stripes: 0 },
  };
  let n = 0;
  // An inode key at (number, 0, 0) is read in place; any other key, or a value the reader does
  // not take, is decoded to find out why it is no inode.
  const fields = new InodeFields();
  vol.trees[BTREE.inodes]!.visitAll((inode, offset, snapshot, type, bytes, valueAt, valueEnd) => {
    ctx.progress(++n);
    let v: InodeFields | DecodedInode | string;
    if (type === KEY_TYPE.inode && inode !== 0 && offset === 0 && snapshot === 0 && fields.read(bytes, valueAt, valueEnd)) v = fields;
    else {
      const k = keyAt(inode, offset, snapshot, type, bytes, valueAt, valueEnd);
      v = decodeInode(k);
      if (typeof v === 'string') {
        st.badInodes.push({ key: { ...k, value: Buffer.from(k.value) }, reason: v });
        return;
      }
    }
    const row = st.inodes.append(inode, v.mode, v.nlink, v.size, v.parent);
    if (inodeSuspect(v)) st.inodes.c.flags[row] |= INODE.suspect;
  });
  for (const k of vol.trees[BTREE.stripes]!.scan()) {
    if (k.type !== KEY_TYPE.stripe || k.inode !== 0) continue;
    try {
      st.stripes.set(k.offset, ops.stripe.decode(k.value));
    } catch (err) {
      if (!(err instanceof CorruptImageError)) throw err;
    }
  }
  return st;
}

/** Fields the inode table does not keep are worth a second look (the inodes pass reads those inodes again). */
function inodeSuspect(v: InodeFields | DecodedInode): boolean {
  const dt = dtOfMode(v.mode);
  const device = dt === DT.char || dt === DT.block;
  return dt === DT.unknown || v.flags !== 0 || v.atime_nsec > 999_999_999 || v.mtime_nsec > 999_999_999 || v.ctime_nsec > 999_999_999
    || (!device && (v.rdev_major !== 0 || v.rdev_minor !== 0));
}

/** The inode of an inode-btree key, or why it is no inode at all (a value that decodes but has bad fields is repaired, not dropped). */
function decodeInode(k: Key): DecodedInode | string {
  if (k.type !== KEY_TYPE.inode) return `key of type ${k.type} in the inodes btree`;
  if (k.inode === 0) return 'inode number 0';
  if (k.offset !== 0 || k.snapshot !== 0) return `key position ${k.inode}:${k.offset}:${k.snapshot}, not ${k.inode}:0:0`;
  try {
    return ops.inode.decode(k.value);
  } catch (err) {
    if (err instanceof CorruptImageError) return err.message;
    throw err;
  }
}
