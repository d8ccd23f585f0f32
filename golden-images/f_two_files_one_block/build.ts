// Two files claim one block: /src/tool points at the first extent of /docs/big.bin.
import { BTREE, defineCase, ops } from '../../test/repair/fsck-corrupt.js';

export default defineCase({
  base: 'single',
  description: 'two files claim one block: /src/tool points at the first extent of /docs/big.bin',
  async damage(w) {
    const [big] = await w.keysOf(BTREE.extents, await w.inum('/docs/big.bin'));
    const [tool] = await w.keysOf(BTREE.extents, await w.inum('/src/tool'));
    const body = ops.extent.decode(big!.value);
    await w.editKey(BTREE.extents, tool!, (k) => ({ ...k, value: ops.extent.encode({ ...body, liveSize: 20_000 }) }));
  },
});
