// The only entry naming the empty file /docs/empty is gone.
import { defineCase } from '../../test/repair/fsck-corrupt.js';

export default defineCase({
  base: 'single',
  description: 'the only entry naming the empty file /docs/empty is gone',
  async damage(w) {
    await w.editDirent('/docs', 'empty', () => undefined);
  },
});
