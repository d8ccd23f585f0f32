// Three transactions in the journal; the middle one damaged, so the third follows a gap.
import { addFileItems, defineCase } from '../../test/repair/fsck-corrupt.js';

export default defineCase({
  base: 'single',
  description: 'three transactions in the journal; the middle one damaged, so the third follows a gap',
  async damage(w) {
    await w.volume((vol) => {
      addFileItems(vol, 'one.txt');
      addFileItems(vol, 'two.txt');
      addFileItems(vol, 'three.txt');
    }, { checkpoint: false });
    const { entries } = await w.journal();
    await w.flip(0, entries[1]!.offset + 80, 4);
  },
});
