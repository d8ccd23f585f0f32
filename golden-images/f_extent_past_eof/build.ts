// /docs/big.bin has data up to 300000 but its size says 200000.
import { defineCase } from '../../test/repair/fsck-corrupt.js';

export default defineCase({
  base: 'single',
  description: '/docs/big.bin has data up to 300000 but its size says 200000',
  async damage(w) {
    await w.editInode('/docs/big.bin', { size: 200_000 });
  },
});
