// The logical state the passes after the alloc pass share, and loading it: every inode key that
// decodes goes into the inode table (the inodes pass checks and repairs the rest), every stripe
// key that decodes into the stripe map. Loading reports nothing: each key is reported by the
// pass that owns its btree.
import { CorruptImageError } from '../format/errors.js';
import { type Key, ops, type Stripe } from '../format/keys.js';
import { BTREE, KEY_TYPE } from '../format/layout.js';
import type { Volume } from '../format/volume.js';
import { InodeTable, Rows } from './fsck-state.js';
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
  /** inodes fsck created (root, /lost+found): the link-count pass sets their count without a report */
  created: Set<number>;
  /** counts for the summary */
  totals: { extents: number; dirents: number; xattrs: number; indirect: number; stripes: number };
}

export function loadState(ctx: FsckContext, vol: Volume): FsState {
  const st: FsState = {
    inodes: new InodeTable(), badInodes: [], stripes: new Map(), usedStripes: new Set(),
    reflinkPointers: new Rows(['inode', 'end', 'index', 'live'] as const),
    stripedExtents: new Rows(['inode', 'end', 'stripe'] as const),
    dirNames: new Rows(['target', 'dir', 'offset'] as const),
    created: new Set(),
    totals: { extents: 0, dirents: 0, xattrs: 0, indirect: 0, stripes: 0 },
  };
  let n = 0;
  for (const k of vol.trees[BTREE.inodes]!.scan()) {
    ctx.progress(++n);
    const reason = inodeKeyProblem(k);
    if (reason) {
      st.badInodes.push({ key: { ...k, value: Buffer.from(k.value) }, reason });
      continue;
    }
    const v = ops.inode.decode(k.value);
    st.inodes.append(k.inode, v.mode, v.nlink, v.size, v.parent);
  }
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

/** Why an inode-btree key is no inode at all (a value that decodes but has bad fields is repaired, not dropped). */
function inodeKeyProblem(k: Key): string | undefined {
  if (k.type !== KEY_TYPE.inode) return `key of type ${k.type} in the inodes btree`;
  if (k.inode === 0) return 'inode number 0';
  if (k.offset !== 0 || k.snapshot !== 0) return `key position ${k.inode}:${k.offset}:${k.snapshot}, not ${k.inode}:0:0`;
  try {
    ops.inode.decode(k.value);
    return undefined;
  } catch (err) {
    if (err instanceof CorruptImageError) return err.message;
    throw err;
  }
}
