// /src/tool has a second xattr user.version.
import { BTREE, defineCase, ops } from '../../test/repair/fsck-corrupt.js';

export default defineCase({
  base: 'single',
  description: '/src/tool has a second xattr user.version',
  async damage(w) {
    const [k] = await w.keysOf(BTREE.xattrs, await w.inum('/src/tool'));
    await w.addKey(BTREE.xattrs, { ...k!, offset: k!.offset + 1, value: ops.xattr.encode({ name: Buffer.from('user.version'), value: Buffer.from('2.0') }) });
  },
});
