// An indirect extent shared by two files records refcount 5.
import { BTREE, defineCase, ops } from '../../test/repair/fsck-corrupt.js';

export default defineCase({
  base: 'single',
  description: 'an indirect extent shared by two files records refcount 5',
  async damage(w) {
    const { indirect } = await w.addReflinked('/docs', ['shared1', 'shared2'], 8192);
    await w.editKey(BTREE.reflink, indirect, (k) => ({ ...k, value: ops.indirectExtent.encode({ ...ops.indirectExtent.decode(k.value), refcount: 5 }) }));
  },
});
