// The directory /src has size 4096.
import { defineCase } from '../../test/repair/fsck-corrupt.js';

export default defineCase({
  base: 'single',
  description: 'the directory /src has size 4096',
  async damage(w) {
    await w.editInode('/src', { size: 4096 });
  },
});
