// The second root pointer of the dirents btree points past the end of its member.
import { BTREE, defineCase } from '../../test/repair/fsck-corrupt.js';

export default defineCase({
  base: 'mirror',
  description: 'the second root pointer of the dirents btree points past the end of its member',
  async damage(w) {
    await w.editAllSuperblocks((info) => {
      const root = info.roots[BTREE.dirents]!;
      root.pointers[1] = { ...root.pointers[1]!, offset: 1 << 30 };
      return info;
    });
  },
});
