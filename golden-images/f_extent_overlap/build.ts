// The first extent of /docs/big.bin ends 4464 bytes into the second.
import { BTREE, defineCase } from '../../test/repair/fsck-corrupt.js';

export default defineCase({
  base: 'single',
  description: 'the first extent of /docs/big.bin ends 4464 bytes into the second',
  async damage(w) {
    const [first] = await w.keysOf(BTREE.extents, await w.inum('/docs/big.bin'));
    await w.editKey(BTREE.extents, first!, (k) => ({ ...k, offset: 70_000 }));
  },
});
