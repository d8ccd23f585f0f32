// The extent pointer of /src/tool carries generation 5; the other pointers into its bucket carry 0, as the alloc btree does.
import { BTREE, defineCase, ops } from '../../test/repair/fsck-corrupt.js';

export default defineCase({
  base: 'single',
  description: 'the extent pointer of /src/tool carries generation 5; the other pointers into its bucket carry 0, as the alloc btree does',
  async damage(w) {
    const [e] = await w.keysOf(BTREE.extents, await w.inum('/src/tool'));
    await w.editKey(BTREE.extents, e!, (k) => {
      const body = ops.extent.decode(k.value);
      return { ...k, value: ops.extent.encode({ ...body, pointers: body.pointers.map((p) => ({ ...p, generation: 5 })) }) };
    });
  },
});
