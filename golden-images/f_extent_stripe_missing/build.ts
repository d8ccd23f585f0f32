// The extent of /src/tool names stripe 7, which does not exist.
import { BTREE, defineCase, ops } from '../../test/repair/fsck-corrupt.js';

export default defineCase({
  base: 'single',
  description: 'the extent of /src/tool names stripe 7, which does not exist',
  async damage(w) {
    const [e] = await w.keysOf(BTREE.extents, await w.inum('/src/tool'));
    await w.editKey(BTREE.extents, e!, (k) => ({ ...k, value: ops.extent.encode({ ...ops.extent.decode(k.value), stripeId: 7 }) }));
  },
});
