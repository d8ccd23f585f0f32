// The entry naming /src/a is gone: the directory and what is below it are disconnected.
import { defineCase } from '../../test/repair/fsck-corrupt.js';

export default defineCase({
  base: 'single',
  description: 'the entry naming /src/a is gone: the directory and what is below it are disconnected',
  async damage(w) {
    await w.editDirent('/src', 'a', () => undefined);
  },
});
