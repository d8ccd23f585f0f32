// The alloc key of a bucket holding file data is gone: the bucket looks free.
import { BTREE, at, defineCase, ops } from '../../test/repair/fsck-corrupt.js';

export default defineCase({
  base: 'single',
  description: 'the alloc key of a bucket holding file data is gone: the bucket looks free',
  async damage(w) {
    const [e] = await w.keysOf(BTREE.extents, await w.inum('/src/tool'));
    const p = ops.extent.decode(e!.value).pointers[0]!;
    await w.editKey(BTREE.alloc, at(p.member, Math.floor(p.offset / 65536)), () => undefined);
  },
});
