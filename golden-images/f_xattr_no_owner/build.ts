// An xattr of inode 600, which does not exist.
import { nameHash } from '../../format/keys.js';
import { BTREE, KEY_TYPE, at, defineCase, ops } from '../../test/repair/fsck-corrupt.js';

export default defineCase({
  base: 'single',
  description: 'an xattr of inode 600, which does not exist',
  async damage(w) {
    const name = Buffer.from('user.orphan');
    await w.addKey(BTREE.xattrs, { ...at(600, nameHash(name)), type: KEY_TYPE.xattr, value: ops.xattr.encode({ name, value: Buffer.from('x') }) });
  },
});
