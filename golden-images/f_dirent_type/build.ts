// The entry readme.txt says directory; it names a regular file.
import { DT, defineCase, ops } from '../../test/repair/fsck-corrupt.js';

export default defineCase({
  base: 'single',
  description: 'the entry readme.txt says directory; it names a regular file',
  async damage(w) {
    await w.editDirent('/docs', 'readme.txt', (d, k) => ({ ...k, value: ops.dirent.encode({ ...d, dType: DT.dir }) }));
  },
});
