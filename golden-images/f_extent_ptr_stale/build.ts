// The bucket holding /src/tool data has a newer generation than its pointer (the data is intact).
import { BTREE, at, defineCase, ops } from '../../test/repair/fsck-corrupt.js';

export default defineCase({
  base: 'single',
  description: 'the bucket holding /src/tool data has a newer generation than its pointer (the data is intact)',
  async damage(w) {
    const [e] = await w.keysOf(BTREE.extents, await w.inum('/src/tool'));
    const p = ops.extent.decode(e!.value).pointers[0]!;
    await w.editKey(BTREE.alloc, at(p.member, Math.floor(p.offset / 65536)), (k) => ({ ...k, value: ops.alloc.encode({ ...ops.alloc.decode(k.value), generation: 2 }) }));
  },
});
