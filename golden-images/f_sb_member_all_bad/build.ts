// Both superblock copies of member 1 of a mirrored image fail their checksum.
import fs from 'node:fs';
import { defineCase } from '../../test/repair/fsck-corrupt.js';

export default defineCase({
  base: 'mirror',
  description: 'both superblock copies of member 1 of a mirrored image fail their checksum',
  async damage(w) {
    const size = fs.statSync(w.memberPath(1)).size;
    await w.flip(1, 4096 + 200, 2);
    await w.flip(1, size - 65536 + 200, 2);
  },
});
