// The entry readme.txt has a slash in its name.
import { defineCase, ops } from '../../test/repair/fsck-corrupt.js';

export default defineCase({
  base: 'single',
  description: 'the entry readme.txt has a slash in its name',
  async damage(w) {
    await w.editDirent('/docs', 'readme.txt', (d, k) => ({ ...k, value: ops.dirent.encode({ ...d, name: Buffer.from('read/e.txt') }) }));
  },
});
