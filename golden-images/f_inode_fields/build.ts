// A fifo records a parent and a device number.
import { defineCase } from '../../test/repair/fsck-corrupt.js';

export default defineCase({
  base: 'single',
  description: 'a fifo records a parent and a device number',
  async damage(w) {
    await w.editInode('/dev/fifo', { parent: 2, rdev_major: 9 });
  },
});
