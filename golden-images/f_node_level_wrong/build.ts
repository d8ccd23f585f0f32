// An interior pointer of the inodes btree records the wrong child level.
import { decodeBtreePointer, encodeBtreePointer } from '../../format/keys.js';
import { BTREE, at, defineCase } from '../../test/repair/fsck-corrupt.js';

export default defineCase({
  base: 'deep',
  description: 'an interior pointer of the inodes btree records the wrong child level',
  async damage(w) {
    await w.editNode(BTREE.inodes, at(1), 1, (c) => {
      const k = c.keys[0]!;
      c.keys[0] = { ...k, value: encodeBtreePointer({ ...decodeBtreePointer(k.value), level: 3 }) };
    });
  },
});
