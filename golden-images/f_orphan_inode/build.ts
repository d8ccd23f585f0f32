// The only entry naming /src/tool is gone (an orphan inode with data).
import { defineCase } from '../../test/repair/fsck-corrupt.js';

export default defineCase({
  base: 'single',
  description: 'the only entry naming /src/tool is gone (an orphan inode with data)',
  async damage(w) {
    await w.editDirent('/src', 'tool', () => undefined);
  },
});
