// The xattrs leaf claims to belong to the dirents btree (checksums recomputed).
import { BTREE, at, defineCase } from '../../test/repair/fsck-corrupt.js';

export default defineCase({
  base: 'single',
  description: 'the xattrs leaf claims to belong to the dirents btree (checksums recomputed)',
  async damage(w) {
    await w.editNode(BTREE.xattrs, at(1), 0, (c) => {
      c.btreeId = BTREE.dirents;
    });
  },
});
