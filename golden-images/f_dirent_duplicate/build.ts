// /docs holds a second entry readme.txt, naming /src/tool.
import { BTREE, DT, defineCase, ops } from '../../test/repair/fsck-corrupt.js';

export default defineCase({
  base: 'single',
  description: '/docs holds a second entry readme.txt, naming /src/tool',
  async damage(w) {
    const tool = await w.inum('/src/tool');
    const first = await w.dirent('/docs', 'readme.txt');
    await w.addKey(BTREE.dirents, { ...first, offset: first.offset + 1, value: ops.dirent.encode({ target: tool, dType: DT.file, name: Buffer.from('readme.txt') }) });
  },
});
