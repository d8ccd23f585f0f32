// Bulk btree construction from keys already sorted by position: pack leaves left to right,
// then build each interior level from the level below, up to a single root. Used by mkfs and
// by checkpoints that rewrite a whole btree. Node placement is delegated to `place`, which
// allocates one location per metadata replica and writes the bytes there.
import { KEY_TYPE } from '../layout.js';
import { encodeBtreePointer, type Key, type Pos, POS_MAX, POS_MIN, posSuccessor } from '../keys.js';
import { encodeNode, keySpace, NODE_HEADER_SIZE, type NodeContent } from './node.js';
import type { Checksummer } from '../checksum.js';
import type { RootInfo } from '../superblock.js';
import type { Ptr } from '../keys.js';

export interface BuildContext {
  nodeSize: number;
  checksumType: number;
  fsMagic: Buffer;
  seq: number;
  checksums: Checksummer;
  /** fraction of a node filled by bulk builds; the rest is room for later inserts */
  fill: number;
  /** allocate space for one node per metadata replica, write `bytes` there, return the pointers */
  place(bytes: Buffer, btreeId: number, level: number): Ptr[];
}

interface Built {
  max: Pos;
  min: Pos;
  checksum: bigint;
  pointers: Ptr[];
}

/** Split sorted keys into runs that each fit one node at the requested fill. */
export function packRuns(keys: Key[], nodeSize: number, fill: number): Key[][] {
  const budget = Math.max(NODE_HEADER_SIZE + 1, Math.floor(nodeSize * fill));
  const runs: Key[][] = [];
  let run: Key[] = [];
  let used = NODE_HEADER_SIZE;
  for (const k of keys) {
    const need = keySpace(k.value.length);
    if (NODE_HEADER_SIZE + need > nodeSize) throw new RangeError(`a ${k.value.length}-byte value does not fit in a ${nodeSize}-byte node`);
    if (run.length > 0 && used + need > budget) {
      runs.push(run);
      run = [];
      used = NODE_HEADER_SIZE;
    }
    run.push(k);
    used += need;
  }
  if (run.length > 0 || runs.length === 0) runs.push(run);
  return runs;
}

export function buildBtree(btreeId: number, sortedKeys: Key[], ctx: BuildContext): RootInfo {
  let level = 0;
  let children = writeLevel(btreeId, level, packRuns(sortedKeys, ctx.nodeSize, ctx.fill), ctx);
  while (children.length > 1) {
    level++;
    const pointerKeys: Key[] = children.map((c) => ({
      ...c.max,
      type: KEY_TYPE.btreePointer,
      value: encodeBtreePointer({ level: level - 1, checksum: c.checksum, seq: ctx.seq, min: c.min, pointers: c.pointers }),
    }));
    children = writeLevel(btreeId, level, packRuns(pointerKeys, ctx.nodeSize, ctx.fill), ctx);
  }
  const root = children[0]!;
  return { btreeId, level, checksum: root.checksum, seq: ctx.seq, pointers: root.pointers };
}

/**
 * Write one level. Node ranges tile the key space: the first starts at POS_MIN, each next one
 * just after the previous one's max, and the last ends at POS_MAX, so every position belongs
 * to exactly one node at every level.
 */
function writeLevel(btreeId: number, level: number, runs: Key[][], ctx: BuildContext): Built[] {
  const out: Built[] = [];
  let min: Pos = POS_MIN;
  runs.forEach((keys, i) => {
    const last = i === runs.length - 1;
    const max: Pos = last ? POS_MAX : { inode: keys[keys.length - 1]!.inode, offset: keys[keys.length - 1]!.offset, snapshot: keys[keys.length - 1]!.snapshot };
    const node: NodeContent = { btreeId, level, seq: ctx.seq, min, max, keys };
    const { bytes, checksum } = encodeNode(node, ctx.nodeSize, ctx.checksumType, ctx.fsMagic, ctx.checksums);
    out.push({ min, max, checksum, pointers: ctx.place(bytes, btreeId, level) });
    if (!last) min = posSuccessor(max);
  });
  return out;
}
