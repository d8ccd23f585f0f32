// The xattrs leaf lost its magic: nothing in it can be salvaged.
import { BTREE, at, defineCase } from '../../test/repair/fsck-corrupt.js';

export default defineCase({
  base: 'single',
  description: 'the xattrs leaf lost its magic: nothing in it can be salvaged',
  async damage(w) {
    const n = await w.node(BTREE.xattrs, at(1));
    await w.write(n.pointers[0]!.member, n.pointers[0]!.offset, Buffer.alloc(4));
  },
});
