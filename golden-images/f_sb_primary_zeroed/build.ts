// Superblock copy 0 (the primary) zeroed; copy 1 intact.
import { defineCase } from '../../test/repair/fsck-corrupt.js';

export default defineCase({
  base: 'single',
  description: 'superblock copy 0 (the primary) zeroed; copy 1 intact',
  async damage(w) {
    await w.write(0, 4096, Buffer.alloc(4096));
  },
});
