// /docs holds an entry naming the root directory.
import { nameHash } from '../../format/keys.js';
import { BTREE, DT, KEY_TYPE, at, defineCase, ops } from '../../test/repair/fsck-corrupt.js';

export default defineCase({
  base: 'single',
  description: '/docs holds an entry naming the root directory',
  async damage(w) {
    const name = Buffer.from('up');
    await w.addKey(BTREE.dirents, { ...at(await w.inum('/docs'), nameHash(name)), type: KEY_TYPE.dirent, value: ops.dirent.encode({ target: 1, dType: DT.dir, name }) });
  },
});
