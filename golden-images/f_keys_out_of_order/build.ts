// Two keys of the inodes leaf swapped, checksums recomputed.
import { BTREE, at, defineCase } from '../../test/repair/fsck-corrupt.js';

export default defineCase({
  base: 'single',
  description: 'two keys of the inodes leaf swapped, checksums recomputed',
  async damage(w) {
    await w.editKeys(BTREE.inodes, at(1), (keys) => {
      const out = keys.slice();
      [out[2], out[3]] = [out[3]!, out[2]!];
      return out;
    });
  },
});
