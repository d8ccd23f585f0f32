// The root directory inode is gone.
import { BTREE, at, defineCase } from '../../test/repair/fsck-corrupt.js';

export default defineCase({
  base: 'single',
  description: 'the root directory inode is gone',
  async damage(w) {
    await w.editKey(BTREE.inodes, at(1), () => undefined);
  },
});
