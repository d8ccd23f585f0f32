// Every pointer into the bucket of /src/tool carries generation 3; the alloc btree says 0.
import { BTREE, KEY_TYPE, defineCase, ops } from '../../test/repair/fsck-corrupt.js';

export default defineCase({
  base: 'single',
  description: 'every pointer into the bucket of /src/tool carries generation 3; the alloc btree says 0',
  async damage(w) {
    const [tool] = await w.keysOf(BTREE.extents, await w.inum('/src/tool'));
    const bucket = Math.floor(ops.extent.decode(tool!.value).pointers[0]!.offset / 65536);
    for (const k of await w.keys(BTREE.extents)) {
      if (k.type !== KEY_TYPE.extent) continue;
      const body = ops.extent.decode(k.value);
      if (!body.pointers.some((p) => Math.floor(p.offset / 65536) === bucket)) continue;
      await w.editKey(BTREE.extents, k, (key) => ({ ...key, value: ops.extent.encode({ ...body, pointers: body.pointers.map((p) => ({ ...p, generation: 3 })) }) }));
    }
  },
});
