// The alloc btree records 4 KiB too few used bytes in a data bucket (wrong free count).
import { BTREE, at, defineCase, ops } from '../../test/repair/fsck-corrupt.js';

export default defineCase({
  base: 'single',
  description: 'the alloc btree records 4 KiB too few used bytes in a data bucket (wrong free count)',
  async damage(w) {
    const [e] = await w.keysOf(BTREE.extents, await w.inum('/docs/big.bin'));
    const p = ops.extent.decode(e!.value).pointers[0]!;
    await w.editKey(BTREE.alloc, at(p.member, Math.floor(p.offset / 65536)), (k) => {
      const a = ops.alloc.decode(k.value);
      return { ...k, value: ops.alloc.encode({ ...a, usedBytes: a.usedBytes - 4096 }) };
    });
  },
});
