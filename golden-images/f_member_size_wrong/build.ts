// 64 KiB appended to the member file: copy 1 is no longer at the end.
import fs from 'node:fs';
import { defineCase } from '../../test/repair/fsck-corrupt.js';

export default defineCase({
  base: 'single',
  description: '64 KiB appended to the member file: copy 1 is no longer at the end',
  async damage(w) {
    fs.appendFileSync(w.memberPath(0), Buffer.alloc(65536));
  },
});
