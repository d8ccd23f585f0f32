// The symlink /docs/link lost its target.
import { BTREE, defineCase } from '../../test/repair/fsck-corrupt.js';

export default defineCase({
  base: 'single',
  description: 'the symlink /docs/link lost its target',
  async damage(w) {
    const inum = await w.inum('/docs/link');
    const [k] = await w.keysOf(BTREE.extents, inum);
    await w.editKey(BTREE.extents, k!, () => undefined);
  },
});
