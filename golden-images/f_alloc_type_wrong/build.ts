// The bucket of the btree nodes is marked as file data.
import { BTREE, BUCKET_DATA, at, defineCase, ops } from '../../test/repair/fsck-corrupt.js';

export default defineCase({
  base: 'single',
  description: 'the bucket of the btree nodes is marked as file data',
  async damage(w) {
    const n = await w.node(BTREE.extents, at(1));
    const p = n.pointers[0]!;
    await w.editKey(BTREE.alloc, at(p.member, Math.floor(p.offset / 65536)), (k) => ({ ...k, value: ops.alloc.encode({ ...ops.alloc.decode(k.value), dataType: BUCKET_DATA.user }) }));
  },
});
