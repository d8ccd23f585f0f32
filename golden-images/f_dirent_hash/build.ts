// The entry tool in /src sits 1000 places after its name hash, with a gap before it.
import { defineCase } from '../../test/repair/fsck-corrupt.js';

export default defineCase({
  base: 'single',
  description: 'the entry tool in /src sits 1000 places after its name hash, with a gap before it',
  async damage(w) {
    await w.editDirent('/src', 'tool', (_d, k) => ({ ...k, offset: k.offset + 1000 }));
  },
});
