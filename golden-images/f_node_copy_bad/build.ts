// One of the two copies of the inodes leaf is damaged.
import { BTREE, at, defineCase } from '../../test/repair/fsck-corrupt.js';

export default defineCase({
  base: 'mirror',
  description: 'one of the two copies of the inodes leaf is damaged',
  async damage(w) {
    const n = await w.node(BTREE.inodes, at(1));
    const copy = n.pointers[1]!;
    await w.flip(copy.member, copy.offset + 300, 5);
  },
});
