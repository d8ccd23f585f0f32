// The inode value of /src/tool is 8 bytes short: the inode is lost with its data.
import { BTREE, at, defineCase } from '../../test/repair/fsck-corrupt.js';

export default defineCase({
  base: 'single',
  description: 'the inode value of /src/tool is 8 bytes short: the inode is lost with its data',
  async damage(w) {
    const inum = await w.inum('/src/tool');
    await w.editKey(BTREE.inodes, at(inum), (k) => ({ ...k, value: k.value.subarray(0, 80) }));
  },
});
