// The entry big.bin in /docs names inode 999, which does not exist.
import { defineCase, ops } from '../../test/repair/fsck-corrupt.js';

export default defineCase({
  base: 'single',
  description: 'the entry big.bin in /docs names inode 999, which does not exist',
  async damage(w) {
    await w.editDirent('/docs', 'big.bin', (d, k) => ({ ...k, value: ops.dirent.encode({ ...d, target: 999 }) }));
  },
});
