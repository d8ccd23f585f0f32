// The regular file /src/tool holds a directory entry.
import { nameHash } from '../../format/keys.js';
import { BTREE, DT, KEY_TYPE, at, defineCase, ops } from '../../test/repair/fsck-corrupt.js';

export default defineCase({
  base: 'single',
  description: 'the regular file /src/tool holds a directory entry',
  async damage(w) {
    const name = Buffer.from('inside');
    await w.addKey(BTREE.dirents, { ...at(await w.inum('/src/tool'), nameHash(name)), type: KEY_TYPE.dirent, value: ops.dirent.encode({ target: await w.inum('/docs/readme.txt'), dType: DT.file, name }) });
  },
});
