// /src/tool has flags set, which format 1 does not define.
import { defineCase } from '../../test/repair/fsck-corrupt.js';

export default defineCase({
  base: 'single',
  description: '/src/tool has flags set, which format 1 does not define',
  async damage(w) {
    await w.editInode('/src/tool', { flags: 0x10 });
  },
});
