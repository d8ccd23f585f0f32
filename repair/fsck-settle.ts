// After the repairs are checkpointed: recount usage once more from exactly what is on disk now
// (every node copy the trees name, every extent) and make the usage table agree. A repair's
// own accounting can differ from the recount (a dropped pointer that was never counted, a
// bucket whose type a bogus pointer had claimed); the problem behind it was reported already,
// so this is silent, and a second fsck finds the alloc btree clean.
import type { Volume } from '../format/volume.js';
import { type NodeCopy, recountUsage } from './fsck-recount.js';

/** Returns the number of buckets whose usage changed (a checkpoint was written when nonzero). */
export function settleUsage(vol: Volume): number {
  const space = vol.space!;
  const copies: NodeCopy[] = [];
  for (const tree of vol.trees) {
    for (const n of tree.nodeLocations()) for (const p of n.pointers) copies.push({ member: p.member, offset: p.offset, generation: p.generation, node: 0, good: true });
  }
  const recount = recountUsage(vol, copies);
  let differing = 0;
  vol.fs.members.forEach((m, member) => {
    for (let bucket = 0; bucket < m.bucketCount; bucket++) {
      const rec = space.bucketInfo(member, bucket);
      const want = recount.merged(member, bucket, rec);
      if (rec.usedBytes !== want.usedBytes || rec.dataType !== want.dataType || rec.generation !== want.generation || rec.stripeId !== want.stripeId) differing++;
    }
  });
  if (differing > 0) {
    space.replaceUsage((member, bucket) => recount.merged(member, bucket, space.bucketInfo(member, bucket)));
    vol.checkpoint();
  }
  return differing;
}
