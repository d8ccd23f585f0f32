// An indirect extent whose only reflink pointer is gone.
import { BTREE, at, defineCase } from '../../test/repair/fsck-corrupt.js';

export default defineCase({
  base: 'single',
  description: 'an indirect extent whose only reflink pointer is gone',
  async damage(w) {
    const { inodes } = await w.addReflinked('/docs', ['shared1'], 8192);
    await w.editKey(BTREE.extents, at(inodes[0]!, 8192), () => undefined);
  },
});
