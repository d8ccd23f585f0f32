// /docs/readme.txt (two names) has link count 7.
import { defineCase } from '../../test/repair/fsck-corrupt.js';

export default defineCase({
  base: 'single',
  description: '/docs/readme.txt (two names) has link count 7',
  async damage(w) {
    await w.editInode('/docs/readme.txt', { nlink: 7 });
  },
});
