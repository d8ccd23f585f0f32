// A leaf of the dirents btree is zeroed: its entries are lost, their files go to /lost+found.
import { BTREE, at, defineCase } from '../../test/repair/fsck-corrupt.js';

export default defineCase({
  base: 'deep',
  description: 'a leaf of the dirents btree is zeroed: its entries are lost, their files go to /lost+found',
  async damage(w) {
    const many = await w.inum('/many');
    const n = await w.node(BTREE.dirents, at(many, 2 ** 40));
    await w.write(n.pointers[0]!.member, n.pointers[0]!.offset, Buffer.alloc(4096));
  },
});
