// An extent key of inode 500, which does not exist.
import { BTREE, KEY_TYPE, at, defineCase } from '../../test/repair/fsck-corrupt.js';

export default defineCase({
  base: 'single',
  description: 'an extent key of inode 500, which does not exist',
  async damage(w) {
    await w.addKey(BTREE.extents, { ...at(500, 11), type: KEY_TYPE.inlineData, value: Buffer.from('hello world') });
  },
});
