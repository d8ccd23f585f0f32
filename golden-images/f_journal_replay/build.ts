// An unclean shutdown: one committed transaction (a new file) left in the journal.
import { addFileItems, defineCase } from '../../test/repair/fsck-corrupt.js';

export default defineCase({
  base: 'single',
  description: 'an unclean shutdown: one committed transaction (a new file) left in the journal',
  async damage(w) {
    await w.volume((vol) => void addFileItems(vol, 'after-crash.txt'), { checkpoint: false });
  },
});
