// Next_inode in every superblock copy is below inodes in use.
import { defineCase } from '../../test/repair/fsck-corrupt.js';

export default defineCase({
  base: 'single',
  description: 'next_inode in every superblock copy is below inodes in use',
  async damage(w) {
    await w.editAllSuperblocks((info) => ({ ...info, nextInode: 3 }));
  },
});
