// The alloc btree gives the btree-node bucket a newer generation than the node pointers carry.
import { BTREE, at, defineCase, ops } from '../../test/repair/fsck-corrupt.js';

export default defineCase({
  base: 'single',
  description: 'the alloc btree gives the btree-node bucket a newer generation than the node pointers carry',
  async damage(w) {
    const n = await w.node(BTREE.extents, at(1));
    const bucket = Math.floor(n.pointers[0]!.offset / 65536);
    await w.editKey(BTREE.alloc, at(n.pointers[0]!.member, bucket), (k) => ({ ...k, value: ops.alloc.encode({ ...ops.alloc.decode(k.value), generation: 1 }) }));
  },
});
