// /docs/alias is a second entry naming the directory /src/a.
import { nameHash } from '../../format/keys.js';
import { BTREE, DT, KEY_TYPE, at, defineCase, ops } from '../../test/repair/fsck-corrupt.js';

export default defineCase({
  base: 'single',
  description: '/docs/alias is a second entry naming the directory /src/a',
  async damage(w) {
    const a = await w.inum('/src/a');
    const name = Buffer.from('alias');
    await w.addKey(BTREE.dirents, { ...at(await w.inum('/docs'), nameHash(name)), type: KEY_TYPE.dirent, value: ops.dirent.encode({ target: a, dType: DT.dir, name }) });
  },
});
