// Two transactions in the journal; the second torn (a byte of it never written).
import { addFileItems, defineCase } from '../../test/repair/fsck-corrupt.js';

export default defineCase({
  base: 'single',
  description: 'two transactions in the journal; the second torn (a byte of it never written)',
  async damage(w) {
    await w.volume((vol) => {
      addFileItems(vol, 'first.txt');
      addFileItems(vol, 'second.txt');
    }, { checkpoint: false });
    const { entries } = await w.journal();
    await w.flip(0, entries[1]!.offset + entries[1]!.length - 100, 0);
  },
});
