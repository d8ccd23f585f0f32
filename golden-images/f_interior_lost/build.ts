// The root (an interior node) of the inodes btree has a bad checksum: rebuilt from its children.
import { BTREE, at, defineCase } from '../../test/repair/fsck-corrupt.js';

export default defineCase({
  base: 'deep',
  description: 'the root (an interior node) of the inodes btree has a bad checksum: rebuilt from its children',
  async damage(w) {
    const n = await w.node(BTREE.inodes, at(1), 1);
    await w.flip(n.pointers[0]!.member, n.pointers[0]!.offset + 8, 1);
  },
});
