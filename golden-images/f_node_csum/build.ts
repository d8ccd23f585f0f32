// The stored checksum of the dirents leaf is wrong (its keys are intact).
import { BTREE, at, defineCase } from '../../test/repair/fsck-corrupt.js';

export default defineCase({
  base: 'single',
  description: 'the stored checksum of the dirents leaf is wrong (its keys are intact)',
  async damage(w) {
    const n = await w.node(BTREE.dirents, at(1));
    await w.flip(n.pointers[0]!.member, n.pointers[0]!.offset + 8, 3);
  },
});
