// /src/a records the root as its parent.
import { defineCase } from '../../test/repair/fsck-corrupt.js';

export default defineCase({
  base: 'single',
  description: '/src/a records the root as its parent',
  async damage(w) {
    await w.editInode('/src/a', { parent: 1 });
  },
});
