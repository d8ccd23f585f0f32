// Both pointers of an extent of a mirrored file name member 0.
import { BTREE, defineCase, ops } from '../../test/repair/fsck-corrupt.js';

export default defineCase({
  base: 'mirror',
  description: 'both pointers of an extent of a mirrored file name member 0',
  async damage(w) {
    const [e] = await w.keysOf(BTREE.extents, await w.inum('/src/tool'));
    await w.editKey(BTREE.extents, e!, (k) => {
      const body = ops.extent.decode(k.value);
      return { ...k, value: ops.extent.encode({ ...body, pointers: [body.pointers[0]!, body.pointers[0]!] }) };
    });
  },
});
