// /docs/readme.txt has no file type in its mode.
import { defineCase } from '../../test/repair/fsck-corrupt.js';

export default defineCase({
  base: 'single',
  description: '/docs/readme.txt has no file type in its mode',
  async damage(w) {
    await w.editInode('/docs/readme.txt', { mode: 0o644 });
  },
});
