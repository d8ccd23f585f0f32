// An indirect extent shared by three files records refcount 1.
import { BTREE, defineCase, ops } from '../../test/repair/fsck-corrupt.js';

export default defineCase({
  base: 'single',
  description: 'an indirect extent shared by three files records refcount 1',
  async damage(w) {
    const { indirect } = await w.addReflinked('/docs', ['shared1', 'shared2', 'shared3'], 8192);
    await w.editKey(BTREE.reflink, indirect, (k) => ({ ...k, value: ops.indirectExtent.encode({ ...ops.indirectExtent.decode(k.value), refcount: 1 }) }));
  },
});
