// Btree node encoding and decoding. A node is node_size bytes: a node_header, then keys sorted
// by position, each a key_header plus its value padded to 8 bytes, then zeros. Decoding
// checks, in order: magic, checksum, identity (btree, level, filesystem), bounds of every key
// header, key order and the node's min/max range, and that an interior node's children tile
// its range (the one place values are read here).
import { FieldRangeError, readU64 } from '../codec.js';
import { CorruptImageError } from '../errors.js';
import { KEY_TYPE, KeyHeader, NODE_MAGIC, NodeHeader } from '../layout.js';
import { comparePos, decodeBtreePointer, type Key, type Pos, posSuccessor, posToText, viewU64 } from '../keys.js';
import type { Checksummer } from '../checksum.js';

export interface NodeContent {
  btreeId: number;
  level: number;
  seq: number;
  min: Pos;
  max: Pos;
  keys: Key[];
}

export interface DecodedNode extends NodeContent {
  checksum: bigint;
  usedBytes: number;
}

export const pad8 = (n: number) => (n + 7) & ~7;
export const keySpace = (valueSize: number) => KeyHeader.size + pad8(valueSize);
export const NODE_HEADER_SIZE = NodeHeader.size;

/** Why a node copy was rejected; `step` tells how far decoding got. */
export class NodeError extends Error {
  constructor(readonly step: 'read' | 'magic' | 'checksum' | 'identity' | 'bounds' | 'order', message: string) {
    super(message);
  }
}

export function encodeNode(node: NodeContent, nodeSize: number, checksumType: number, fsMagic: Buffer, checksums: Checksummer): { bytes: Buffer; checksum: bigint } {
  const out = Buffer.alloc(nodeSize);
  let at = NodeHeader.size;
  for (const k of node.keys) {
    const need = keySpace(k.value.length);
    if (at + need > nodeSize) throw new RangeError(`keys overflow a ${nodeSize}-byte node`);
    KeyHeader.encode({ inode: k.inode, offset: k.offset, snapshot: k.snapshot, type: k.type, flags: 0, value_size: k.value.length }, out, at);
    k.value.copy(out, at + KeyHeader.size);
    at += need;
  }
  NodeHeader.encode({
    magic: NODE_MAGIC, checksum_type: checksumType, btree_id: node.btreeId, level: node.level, flags: 0, checksum: 0n,
    fs_magic: fsMagic, seq: node.seq, min_inode: node.min.inode, min_offset: node.min.offset, min_snapshot: node.min.snapshot,
    max_snapshot: node.max.snapshot, max_inode: node.max.inode, max_offset: node.max.offset, key_count: node.keys.length,
    used_bytes: at,
  }, out);
  const checksum = checksums.compute(checksumType, out.subarray(16, at));
  out.writeBigUInt64LE(checksum, 8);
  return { bytes: out, checksum };
}

export interface NodeExpectation {
  btreeId: number;
  level: number;
  fsMagic: Buffer;
  /** checksum recorded in the parent pointer; undefined skips the comparison (dump of a raw node) */
  checksum?: bigint;
  seq?: number;
  /** range the parent says this node covers */
  min?: Pos;
  max?: Pos;
}

/** What decodeNode checks and returns, less the keys: see verifyNode. */
export type VerifiedNode = Omit<DecodedNode, 'keys'>;

export function decodeNode(bytes: Buffer, expect: NodeExpectation, checksums: Checksummer): DecodedNode {
  const keys: Key[] = [];
  const node = checkNode(bytes, expect, checksums, (inode, offset, snapshot, type, valueAt, valueEnd) => {
    keys.push({ inode, offset, snapshot, type: type as Key['type'], value: bytes.subarray(valueAt, valueEnd) });
  });
  if (node.level > 0) checkChildrenTile(keys, node.min, node.max);
  return { btreeId: node.btreeId, level: node.level, seq: node.seq, min: node.min, max: node.max, keys, checksum: node.checksum, usedBytes: node.usedBytes };
}

/** A key read in place: its position and type, and where its value lies in the node's bytes. */
export type KeyVisitor = (inode: number, offset: number, snapshot: number, type: number, valueAt: number, valueEnd: number) => void;

/**
 * Every check of decodeNode, for a reader that needs few or none of a leaf's keys (scrub,
 * which only verifies the nodes of the inodes, dirents and xattrs btrees): key headers are
 * read in place and no key object is built, which was most of the cost of decoding. Throws
 * exactly what decodeNode throws for the same bytes. `visit` sees each key of a leaf as soon
 * as its own checks pass; a later key can still fail the node, so keep what it sees until this
 * returns. An interior node is decoded in full (its children must tile its range) and its keys
 * are not visited: a reader that needs them calls decodeNode.
 */
export function verifyNode(bytes: Buffer, expect: NodeExpectation, checksums: Checksummer, visit?: KeyVisitor): VerifiedNode {
  return expect.level === 0 ? checkNode(bytes, expect, checksums, visit) : decodeNode(bytes, expect, checksums);
}

/** A key read in place from the buffer that holds it: its value is bytes[valueAt, valueEnd). */
export type LeafKeyVisitor = (inode: number, offset: number, snapshot: number, type: number, bytes: Buffer, valueAt: number, valueEnd: number) => void;

/** The key object of a key read in place, its value a view of `bytes` (for the paths that need one). */
export function keyAt(inode: number, offset: number, snapshot: number, type: number, bytes: Buffer, valueAt: number, valueEnd: number): Key {
  return { inode, offset, snapshot, type: type as Key['type'], value: bytes.subarray(valueAt, valueEnd) };
}

/**
 * Each key of a leaf that passed every check of checkNode (verifyNode or decodeNode threw
 * nothing for these bytes), in order, read in place: no key object is built. Nothing is
 * checked again: bytes that were not verified must not come here.
 */
export function forEachKey(bytes: Buffer, visit: LeafKeyVisitor): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const count = view.getUint32(KEY_COUNT_AT, true);
  let at = NodeHeader.size;
  for (let i = 0; i < count; i++) {
    const valueSize = view.getUint16(at + KEY_VALUE_SIZE, true);
    const valueAt = at + KeyHeader.size;
    visit(viewU64(view, at + KEY_INODE), viewU64(view, at + KEY_OFFSET), view.getUint32(at + KEY_SNAPSHOT, true), bytes[at + KEY_TYPE_AT]!, bytes, valueAt, valueAt + valueSize);
    at = valueAt + pad8(valueSize);
  }
}

const KEY_COUNT_AT = NodeHeader.field('key_count').offset;
const KEY_INODE = KeyHeader.field('inode').offset;
const KEY_OFFSET = KeyHeader.field('offset').offset;
const KEY_SNAPSHOT = KeyHeader.field('snapshot').offset;
const KEY_TYPE_AT = KeyHeader.field('type').offset;
const KEY_VALUE_SIZE = KeyHeader.field('value_size').offset;

/** The node checks, in decodeNode's order; `visit` sees each key once it passed its own checks. */
function checkNode(bytes: Buffer, expect: NodeExpectation, checksums: Checksummer, visit?: KeyVisitor): VerifiedNode {
  if (bytes.length < NodeHeader.size || bytes.readUInt32LE(0) !== NODE_MAGIC) throw new NodeError('magic', 'bad node magic');
  const checksumType = bytes[4]!;
  const usedBytes = bytes.readUInt32LE(NodeHeader.field('used_bytes').offset);
  // Bound: 80 .. node_size, before the checksum is computed over [16, used_bytes).
  if (usedBytes < NodeHeader.size || usedBytes > bytes.length) throw new NodeError('bounds', `used_bytes ${usedBytes} outside the node`);
  if (checksumType !== 1 && checksumType !== 2) throw new NodeError('checksum', `unknown node checksum type ${checksumType}`);
  const stored = bytes.readBigUInt64LE(8);
  const computed = checksums.compute(checksumType, bytes.subarray(16, usedBytes));
  if (stored !== computed) throw new NodeError('checksum', `node checksum mismatch (stored ${stored.toString(16)}, computed ${computed.toString(16)})`);
  if (expect.checksum !== undefined && stored !== expect.checksum) {
    throw new NodeError('checksum', `node checksum ${stored.toString(16)} differs from the parent's ${expect.checksum.toString(16)} (stale or misdirected node)`);
  }
  let h: ReturnType<typeof NodeHeader.decode>;
  try {
    h = NodeHeader.decode(bytes);
  } catch (err) {
    if (err instanceof FieldRangeError) throw new NodeError('bounds', err.message);
    throw err;
  }
  if (!h.fs_magic.equals(expect.fsMagic)) throw new NodeError('identity', 'node belongs to another filesystem');
  if (h.btree_id !== expect.btreeId) throw new NodeError('identity', `node of btree ${h.btree_id}, expected ${expect.btreeId}`);
  if (h.level !== expect.level) throw new NodeError('identity', `node at level ${h.level}, expected ${expect.level}`);
  if (expect.seq !== undefined && h.seq !== expect.seq) throw new NodeError('identity', `node seq ${h.seq}, parent expects ${expect.seq}`);
  const min = { inode: h.min_inode, offset: h.min_offset, snapshot: h.min_snapshot };
  const max = { inode: h.max_inode, offset: h.max_offset, snapshot: h.max_snapshot };
  if (comparePos(min, max) > 0) throw new NodeError('bounds', `node min ${posToText(min)} above max ${posToText(max)}`);
  if (expect.min && comparePos(min, expect.min) !== 0) throw new NodeError('bounds', `node min ${posToText(min)} differs from the parent's ${posToText(expect.min)}`);
  if (expect.max && comparePos(max, expect.max) !== 0) throw new NodeError('bounds', `node max ${posToText(max)} differs from the parent's ${posToText(expect.max)}`);
  // Each key needs at least a header, so key_count cannot exceed the space: no unbounded loop.
  // Bound: key_count <= (used_bytes - 80) / 24, at most 43,687 keys in a 1 MiB node.
  if (h.key_count > (usedBytes - NodeHeader.size) / KeyHeader.size) throw new NodeError('bounds', `key_count ${h.key_count} cannot fit in ${usedBytes} bytes`);
  const bad = firstBadKey(bytes, h.key_count, usedBytes, min, max, visit);
  if (bad >= 0) throw keyError(bytes, bad, usedBytes, min, max);
  return { btreeId: h.btree_id, level: h.level, seq: h.seq, min, max, checksum: stored, usedBytes };
}

/**
 * Index of the first of `count` keys that fails a check of its header, or -1: the header or the
 * value runs past used_bytes, a position part is above 2^53 - 1, the key is not above the one
 * before it, or it lies outside the node's range. `visit` sees each key as soon as it passed.
 * Key headers are read in place, field by field as KeyHeader lays them out, the previous
 * position kept as plain numbers; the messages are made apart (keyError), so that this loop,
 * run over every key of every node read, stays small and is optimized early.
 */
function firstBadKey(bytes: Buffer, count: number, usedBytes: number, min: Pos, max: Pos, visit: KeyVisitor | undefined): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  let at = NodeHeader.size;
  let prevInode = -1;
  let prevOffset = 0;
  let prevSnapshot = 0;
  for (let i = 0; i < count; i++) {
    if (at + KeyHeader.size > usedBytes) return i;
    const inode = viewU64(view, at + KEY_INODE);
    const offset = viewU64(view, at + KEY_OFFSET);
    if (inode < 0 || offset < 0) return i;
    const snapshot = view.getUint32(at + KEY_SNAPSHOT, true);
    const valueSize = view.getUint16(at + KEY_VALUE_SIZE, true);
    const end = at + KeyHeader.size + valueSize;
    if (end > usedBytes) return i;
    if (i > 0 && (prevInode - inode || prevOffset - offset || prevSnapshot - snapshot) >= 0) return i;
    if ((inode - min.inode || offset - min.offset || snapshot - min.snapshot) < 0 || (inode - max.inode || offset - max.offset || snapshot - max.snapshot) > 0) return i;
    visit?.(inode, offset, snapshot, bytes[at + KEY_TYPE_AT]!, at + KeyHeader.size, end);
    prevInode = inode;
    prevOffset = offset;
    prevSnapshot = snapshot;
    at = end + pad8(valueSize) - valueSize;
  }
  return -1;
}

/** The error for key `bad`, the first that firstBadKey found failing: its first failing check, in firstBadKey's order. */
function keyError(bytes: Buffer, bad: number, usedBytes: number, min: Pos, max: Pos): NodeError {
  let at = NodeHeader.size;
  for (let i = 0; i < bad; i++) at += KeyHeader.size + pad8(bytes.readUInt16LE(at + KEY_VALUE_SIZE));
  if (at + KeyHeader.size > usedBytes) return new NodeError('bounds', `key ${bad} header at ${at} runs past used_bytes ${usedBytes}`);
  const inode = readU64(bytes, at + KEY_INODE);
  if (inode < 0) return new NodeError('bounds', `key ${bad}: ${KeyHeader.name}.inode: value above 2^53-1`);
  const offset = readU64(bytes, at + KEY_OFFSET);
  if (offset < 0) return new NodeError('bounds', `key ${bad}: ${KeyHeader.name}.offset: value above 2^53-1`);
  const key = { inode, offset, snapshot: bytes.readUInt32LE(at + KEY_SNAPSHOT) };
  if (at + KeyHeader.size + bytes.readUInt16LE(at + KEY_VALUE_SIZE) > usedBytes) return new NodeError('bounds', `key ${bad} value runs past used_bytes`);
  if (bad > 0) {
    const prevAt = previousKeyAt(bytes, bad);
    const prev = { inode: readU64(bytes, prevAt + KEY_INODE), offset: readU64(bytes, prevAt + KEY_OFFSET), snapshot: bytes.readUInt32LE(prevAt + KEY_SNAPSHOT) };
    if (comparePos(prev, key) >= 0) return new NodeError('order', `key ${bad} at ${posToText(key)} not above key ${bad - 1} at ${posToText(prev)}`);
  }
  return new NodeError('order', `key ${bad} at ${posToText(key)} outside node range ${posToText(min)}..${posToText(max)}`);
}

/** Where the header of key `i - 1` starts. */
function previousKeyAt(bytes: Buffer, i: number): number {
  let at = NodeHeader.size;
  for (let k = 0; k < i - 1; k++) at += KeyHeader.size + pad8(bytes.readUInt16LE(at + KEY_VALUE_SIZE));
  return at;
}

/**
 * An interior node's children tile its range: the first child starts at the node's min, each
 * next one right after the previous key, and the last key is the node's max. Without this, two
 * pointers may name overlapping ranges and so one child; a walk would then visit a shared child
 * once per pointer at every level, (fanout)^depth visits from a handful of nodes. With it, each
 * node is reached through at most one pointer, and a walk reads at most as many nodes as the
 * image holds.
 */
function checkChildrenTile(keys: Key[], min: Pos, max: Pos): void {
  if (keys.length === 0) throw new NodeError('bounds', 'interior node without keys');
  let expectMin = min;
  keys.forEach((k, i) => {
    if (k.type !== KEY_TYPE.btreePointer) throw new NodeError('order', `key ${i} of an interior node has type ${k.type}, not btreePointer`);
    let childMin: Pos;
    try {
      childMin = decodeBtreePointer(k.value).min;
    } catch (err) {
      if (err instanceof CorruptImageError) throw new NodeError('bounds', `key ${i}: ${err.message}`);
      throw err;
    }
    if (comparePos(childMin, expectMin) !== 0) throw new NodeError('order', `key ${i}: child range starts at ${posToText(childMin)}, expected ${posToText(expectMin)} (children must tile the node's range)`);
    expectMin = posSuccessor(k);
  });
  const last = keys[keys.length - 1]!;
  if (comparePos(last, max) !== 0) throw new NodeError('order', `last child ends at ${posToText(last)}, node max is ${posToText(max)}`);
}

export interface SalvagedNode {
  btreeId: number;
  level: number;
  seq: number;
  min: Pos;
  max: Pos;
  /** the stored checksum matches the bytes */
  checksumOk: boolean;
  /** keys whose header and value lie within used_bytes, in node order, neither sorted nor range-checked */
  keys: Key[];
}

/**
 * Lenient decode for fsck's salvage of a node that failed `decodeNode`: magic, filesystem and
 * used_bytes must hold (else undefined: nothing here is a node of ours); the checksum, key
 * order and ranges are not required. Stops at the first key header that runs past used_bytes.
 * Never throws for damage. Every key must still be validated before it is trusted.
 */
export function salvageNode(bytes: Buffer, fsMagic: Buffer, checksums: Checksummer): SalvagedNode | undefined {
  if (bytes.length < NodeHeader.size || bytes.readUInt32LE(0) !== NODE_MAGIC) return undefined;
  const usedBytes = bytes.readUInt32LE(NodeHeader.field('used_bytes').offset);
  if (usedBytes < NodeHeader.size || usedBytes > bytes.length) return undefined;
  let h: ReturnType<typeof NodeHeader.decode>;
  try {
    h = NodeHeader.decode(bytes);
  } catch (err) {
    if (err instanceof FieldRangeError) return undefined;
    throw err;
  }
  if (!h.fs_magic.equals(fsMagic)) return undefined;
  const checksumOk = (h.checksum_type === 1 || h.checksum_type === 2) && checksums.compute(h.checksum_type, bytes.subarray(16, usedBytes)) === h.checksum;
  const keys: Key[] = [];
  let at = NodeHeader.size;
  for (let i = 0; i < h.key_count && at + KeyHeader.size <= usedBytes; i++) {
    let kh: ReturnType<typeof KeyHeader.decode>;
    try {
      kh = KeyHeader.decode(bytes, at);
    } catch (err) {
      if (err instanceof FieldRangeError) break;
      throw err;
    }
    const end = at + KeyHeader.size + kh.value_size;
    if (end > usedBytes) break;
    keys.push({ inode: kh.inode, offset: kh.offset, snapshot: kh.snapshot, type: kh.type as Key['type'], value: bytes.subarray(at + KeyHeader.size, end) });
    at += KeyHeader.size + pad8(kh.value_size);
  }
  return {
    btreeId: h.btree_id, level: h.level, seq: h.seq, checksumOk, keys,
    min: { inode: h.min_inode, offset: h.min_offset, snapshot: h.min_snapshot },
    max: { inode: h.max_inode, offset: h.max_offset, snapshot: h.max_snapshot },
  };
}
