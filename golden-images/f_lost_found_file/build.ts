// /lost+found is a regular file when an orphan needs reconnecting.
import { addFileItems, defineCase } from '../../test/repair/fsck-corrupt.js';

export default defineCase({
  base: 'single',
  description: '/lost+found is a regular file when an orphan needs reconnecting',
  async damage(w) {
    await w.volume((vol) => void addFileItems(vol, 'lost+found'));
    await w.editDirent('/src', 'tool', () => undefined);
  },
});
