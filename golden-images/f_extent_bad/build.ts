// The extent of /src/tool claims 0 pointers.
import { BTREE, defineCase } from '../../test/repair/fsck-corrupt.js';

export default defineCase({
  base: 'single',
  description: 'the extent of /src/tool claims 0 pointers',
  async damage(w) {
    const [e] = await w.keysOf(BTREE.extents, await w.inum('/src/tool'));
    await w.editKey(BTREE.extents, e!, (k) => {
      const value = Buffer.from(k.value);
      value[26] = 0;
      return { ...k, value };
    });
  },
});
