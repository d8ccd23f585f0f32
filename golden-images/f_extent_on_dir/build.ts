// The directory /dev has an inline extent.
import { BTREE, KEY_TYPE, at, defineCase } from '../../test/repair/fsck-corrupt.js';

export default defineCase({
  base: 'single',
  description: 'the directory /dev has an inline extent',
  async damage(w) {
    await w.addKey(BTREE.extents, { ...at(await w.inum('/dev'), 5), type: KEY_TYPE.inlineData, value: Buffer.from('bogus') });
  },
});
