// The parity block of a stripe in use points into bucket 0.
import { BTREE, at, defineCase, ops } from '../../test/repair/fsck-corrupt.js';

export default defineCase({
  base: 'mirror',
  description: 'the parity block of a stripe in use points into bucket 0',
  async damage(w) {
    const id = await w.addStripe({ referenced: true, parityBucket: 60 });
    await w.editKey(BTREE.stripes, at(0, id), (k) => {
      const s = ops.stripe.decode(k.value);
      return { ...k, value: ops.stripe.encode({ ...s, pointers: [s.pointers[0]!, { ...s.pointers[1]!, offset: 0 }] }) };
    });
  },
});
