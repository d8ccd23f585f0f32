// The indirect extent two files point to is gone: their shared range becomes a hole.
import { BTREE, defineCase } from '../../test/repair/fsck-corrupt.js';

export default defineCase({
  base: 'single',
  description: 'the indirect extent two files point to is gone: their shared range becomes a hole',
  async damage(w) {
    const { indirect } = await w.addReflinked('/docs', ['shared1', 'shared2'], 8192);
    await w.editKey(BTREE.reflink, indirect, () => undefined);
  },
});
