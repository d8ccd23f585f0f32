// /src/tool has mtime nanoseconds of 2000000000.
import { defineCase } from '../../test/repair/fsck-corrupt.js';

export default defineCase({
  base: 'single',
  description: '/src/tool has mtime nanoseconds of 2000000000',
  async damage(w) {
    await w.editInode('/src/tool', { mtime_nsec: 2_000_000_000 });
  },
});
