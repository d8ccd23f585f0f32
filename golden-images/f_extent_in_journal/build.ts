// An extent pointer points into the journal ring.
import { BTREE, defineCase, ops } from '../../test/repair/fsck-corrupt.js';

export default defineCase({
  base: 'single',
  description: 'an extent pointer points into the journal ring',
  async damage(w) {
    const info = await w.info();
    const [e] = await w.keysOf(BTREE.extents, await w.inum('/src/tool'));
    await w.editKey(BTREE.extents, e!, (k) => {
      const body = ops.extent.decode(k.value);
      const offset = info.members[0]!.journalBucket * info.bucketSize;
      return { ...k, value: ops.extent.encode({ ...body, pointers: [{ ...body.pointers[0]!, offset }] }) };
    });
  },
});
