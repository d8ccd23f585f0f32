// /src/a is moved into its own subdirectory /src/a/b: a loop cut off from the root.
import { BTREE, defineCase } from '../../test/repair/fsck-corrupt.js';

export default defineCase({
  base: 'single',
  description: '/src/a is moved into its own subdirectory /src/a/b: a loop cut off from the root',
  async damage(w) {
    const a = await w.inum('/src/a');
    const b = await w.inum('/src/a/b');
    const entry = await w.dirent('/src', 'a');
    await w.editKey(BTREE.dirents, entry, () => undefined);
    await w.addKey(BTREE.dirents, { ...entry, inode: b });
    await w.editInode(a, { parent: b });
  },
});
