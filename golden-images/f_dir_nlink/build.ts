// The directory /docs has link count 9.
import { defineCase } from '../../test/repair/fsck-corrupt.js';

export default defineCase({
  base: 'single',
  description: 'the directory /docs has link count 9',
  async damage(w) {
    await w.editInode('/docs', { nlink: 9 });
  },
});
