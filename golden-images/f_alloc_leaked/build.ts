// A free bucket is marked as holding 64 KiB of file data (leaked bucket).
import { BTREE, BUCKET_DATA, KEY_TYPE, at, defineCase, ops } from '../../test/repair/fsck-corrupt.js';

export default defineCase({
  base: 'single',
  description: 'a free bucket is marked as holding 64 KiB of file data (leaked bucket)',
  async damage(w) {
    await w.addKey(BTREE.alloc, { ...at(0, 50), type: KEY_TYPE.alloc, value: ops.alloc.encode({ generation: 0, dataType: BUCKET_DATA.user, usedBytes: 65536, stripeId: 0 }) });
  },
});
