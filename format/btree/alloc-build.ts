// Writing the alloc btree, which describes the buckets its own nodes live in. Its nodes go
// into whole buckets reserved for it; the reservation is sized by iterating
// node count <-> key count until stable, so each reserved bucket receives at least one node
// and every bucket's usage is exact. Used by mkfs and by every checkpoint.
import { BUCKET_DATA, KEY_TYPE, BTREE } from '../layout.js';
import type { Key, Ptr } from '../keys.js';
import type { RootInfo } from '../superblock.js';
import { buildBtree, type BuildContext } from './build.js';

export interface AllocSpace {
  /** alloc keys for the current usage, sorted by (member, bucket) */
  allocKeys(): Key[];
  /** `count` whole free buckets of type btree on `member` (usage 0 until addUsed) */
  takeWholeBuckets(member: number, count: number): number[];
  addUsed(member: number, bucket: number, bytes: number): void;
}

export function writeAllocBtree(space: AllocSpace, members: number[], bucketSize: number, ctx: Omit<BuildContext, 'place'>, write: (member: number, offset: number, bytes: Buffer) => void): RootInfo {
  const nodesPerBucket = Math.floor(bucketSize / ctx.nodeSize);
  const baseKeys = space.allocKeys().length;
  const nodesFor = (keyCount: number) => {
    let nodes = 0;
    const fake: Key[] = Array.from({ length: keyCount }, (_, i) => ({ inode: 0, offset: i, snapshot: 0, type: KEY_TYPE.alloc, value: Buffer.alloc(24) }));
    buildBtree(BTREE.alloc, fake, { ...ctx, place: () => (nodes++, []) });
    return nodes;
  };
  // Fixpoint: the node count depends on the key count, which depends on which reserved
  // buckets hold nodes. Place provisional usage, recount, and repeat until stable.
  const slots = new Map<number, Array<{ bucket: number; offset: number }>>(members.map((m) => [m, []]));
  const reserve = (count: number) => {
    for (const member of members) {
      const list = slots.get(member)!;
      while (list.length < count) {
        const [b] = space.takeWholeBuckets(member, 1);
        for (let i = 0; i < nodesPerBucket; i++) list.push({ bucket: b!, offset: b! * bucketSize + i * ctx.nodeSize });
      }
    }
  };
  const setUsage = (nodes: number, sign: 1 | -1) => {
    for (const member of members) for (let i = 0; i < nodes; i++) space.addUsed(member, slots.get(member)![i]!.bucket, sign * ctx.nodeSize);
  };
  let nodes = nodesFor(baseKeys + members.length);
  for (let round = 0; ; round++) {
    if (round > 32) throw new Error('alloc btree placement did not converge');
    reserve(nodes);
    setUsage(nodes, 1);
    const needed = nodesFor(space.allocKeys().length);
    if (needed === nodes) break;
    setUsage(nodes, -1);
    nodes = needed;
  }
  const keys = space.allocKeys();
  let next = 0;
  const root = buildBtree(BTREE.alloc, keys, {
    ...ctx,
    place: (bytes): Ptr[] => {
      const i = next++;
      return members.map((member) => {
        const slot = slots.get(member)![i]!;
        write(member, slot.offset, bytes);
        return { member, generation: generationOf(keys, member, slot.bucket), offset: slot.offset };
      });
    },
  });
  if (next !== nodes) throw new Error(`alloc btree used ${next} nodes, reserved ${nodes}`);
  return root;
}

function generationOf(keys: Key[], member: number, bucket: number): number {
  const k = keys.find((x) => x.inode === member && x.offset === bucket);
  return k ? k.value.readUInt32LE(0) : 0;
}

export { BUCKET_DATA };
