// Refcounts of shared (reflinked) data. An indirect extent's refcount is the number of
// reflink pointers whose range overlaps it. Every change to reflink pointers in a transaction
// goes through a RefcountDelta, which turns the net changes into journal items on the
// indirect extents: a new refcount, or deletion when it reaches zero (the reflink btree's
// usage trigger then frees its space).
import { BTREE, KEY_TYPE } from '../format/layout.js';
import { type Key, ops, POS_MAX, type ReflinkPointer } from '../format/keys.js';
import type { JournalItem } from '../format/journal.js';
import type { Volume } from '../format/volume.js';

/** Indirect extents overlapping the reflink range [index, index + liveSize). */
export function overlappingIndirect(vol: Volume, r: ReflinkPointer): Key[] {
  const out: Key[] = [];
  const end = r.index + r.liveSize;
  for (const k of vol.trees[BTREE.reflink]!.range({ inode: 0, offset: r.index + 1, snapshot: 0 }, { inode: 0, offset: POS_MAX.offset, snapshot: POS_MAX.snapshot })) {
    if (k.type !== KEY_TYPE.indirectExtent) continue;
    const body = ops.indirectExtent.decode(k.value).body;
    if (k.offset - body.liveSize >= end) break;
    out.push(k);
  }
  return out;
}

export class RefcountDelta {
  private readonly deltas = new Map<number, number>();
  /** indirect extents created in this transaction, by end position */
  private readonly created = new Map<number, Key>();

  constructor(private readonly vol: Volume) {}

  /** A reflink pointer with range `r` appears (+1) or disappears (-1). */
  pointer(r: ReflinkPointer, sign: 1 | -1): void {
    for (const k of this.overlapping(r)) this.deltas.set(k.offset, (this.deltas.get(k.offset) ?? 0) + sign);
  }

  /** A new indirect extent, created with refcount 0 and counted up by the pointers added. */
  addIndirect(key: Key): void {
    this.created.set(key.offset, key);
  }

  private overlapping(r: ReflinkPointer): Key[] {
    const existing = overlappingIndirect(this.vol, r);
    const end = r.index + r.liveSize;
    for (const k of this.created.values()) {
      const start = k.offset - ops.indirectExtent.decode(k.value).body.liveSize;
      if (start < end && k.offset > r.index) existing.push(k);
    }
    return existing;
  }

  items(): JournalItem[] {
    const items: JournalItem[] = [];
    const positions = new Set([...this.deltas.keys(), ...this.created.keys()]);
    for (const offset of [...positions].sort((a, b) => a - b)) {
      const key = this.created.get(offset) ?? this.vol.trees[BTREE.reflink]!.get({ inode: 0, offset, snapshot: 0 });
      if (!key) continue;
      const ind = ops.indirectExtent.decode(key.value);
      const refcount = (this.created.has(offset) ? 0 : ind.refcount) + (this.deltas.get(offset) ?? 0);
      if (refcount <= 0) {
        if (!this.created.has(offset)) items.push({ btreeId: BTREE.reflink, key: { inode: 0, offset, snapshot: 0, type: KEY_TYPE.deleted, value: Buffer.alloc(0) } });
      } else {
        items.push({ btreeId: BTREE.reflink, key: { ...key, value: ops.indirectExtent.encode({ refcount, body: ind.body }) } });
      }
    }
    return items;
  }
}
