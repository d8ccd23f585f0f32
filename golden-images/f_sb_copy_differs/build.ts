// Superblock copy 1 has the newest seq but another label.
import { defineCase } from '../../test/repair/fsck-corrupt.js';

export default defineCase({
  base: 'single',
  description: 'superblock copy 1 has the newest seq but another label',
  async damage(w) {
    await w.editSuperblock(0, 1, (info) => ({ ...info, label: 'not the same' }));
  },
});
