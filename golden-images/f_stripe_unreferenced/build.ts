// A stripe (one data, one parity block) that no extent uses.
import { defineCase } from '../../test/repair/fsck-corrupt.js';

export default defineCase({
  base: 'mirror',
  description: 'a stripe (one data, one parity block) that no extent uses',
  async damage(w) {
    await w.addStripe({ referenced: false, parityBucket: 60 });
  },
});
