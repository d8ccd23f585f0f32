// Superblock copy 1 is a valid copy of an older checkpoint (seq one lower).
import { defineCase } from '../../test/repair/fsck-corrupt.js';

export default defineCase({
  base: 'single',
  description: 'superblock copy 1 is a valid copy of an older checkpoint (seq one lower)',
  async damage(w) {
    await w.editSuperblock(0, 1, (info) => ({ ...info, seq: info.seq - 1 }));
  },
});
