// The xattr user.version of /src/tool is renamed into no known namespace.
import { BTREE, defineCase, ops } from '../../test/repair/fsck-corrupt.js';

export default defineCase({
  base: 'single',
  description: 'the xattr user.version of /src/tool is renamed into no known namespace',
  async damage(w) {
    const [k] = await w.keysOf(BTREE.xattrs, await w.inum('/src/tool'));
    await w.editKey(BTREE.xattrs, k!, (key) => ({ ...key, value: ops.xattr.encode({ ...ops.xattr.decode(key.value), name: Buffer.from('bogs.version') }) }));
  },
});
