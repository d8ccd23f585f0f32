// verifyNode makes every check decodeNode makes, reading key headers in place: for any bytes the
// two must accept the same nodes and reject the rest with the same error. Each case damages one
// field of a valid leaf, with the checksum fixed up so the later checks are reached.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadChecksummer } from '../../format/checksum.js';
import { decodeNode, encodeNode, forEachKey, type NodeExpectation, verifyNode } from '../../format/btree/node.js';
import { type Key, POS_MAX } from '../../format/keys.js';
import { KEY_TYPE, KeyHeader, NodeHeader } from '../../format/layout.js';

const fsMagic = Buffer.alloc(8, 7);
const min = { inode: 10, offset: 0, snapshot: 0 };
const keys: Key[] = [
  { inode: 10, offset: 0, snapshot: 0, type: KEY_TYPE.inode, value: Buffer.alloc(12, 1) },
  { inode: 11, offset: 5, snapshot: 0, type: KEY_TYPE.extent, value: Buffer.alloc(3, 2) },
  { inode: 11, offset: 9, snapshot: 2, type: KEY_TYPE.dirent, value: Buffer.alloc(0) },
];
const expect: NodeExpectation = { btreeId: 2, level: 0, fsMagic, seq: 5, min, max: POS_MAX };
/** Offset of key i's header in the encoded node (values padded to 8 bytes). */
const keyAt = [NodeHeader.size, NodeHeader.size + 24 + 16, NodeHeader.size + 24 + 16 + 24 + 8];

async function leaf(damage?: (bytes: Buffer) => void): Promise<Buffer> {
  const checksums = await loadChecksummer();
  const { bytes } = encodeNode({ btreeId: 2, level: 0, seq: 5, min, max: POS_MAX, keys }, 4096, 1, fsMagic, checksums);
  if (damage) {
    damage(bytes);
    bytes.writeBigUInt64LE(checksums.compute(1, bytes.subarray(16, bytes.readUInt32LE(NodeHeader.field('used_bytes').offset))), 8);
  }
  return bytes;
}

function outcome(run: () => unknown): string {
  try {
    run();
    return 'accepted';
  } catch (err) {
    return `${(err as Error).constructor.name}: ${(err as Error).message}`;
  }
}

const field = (name: string) => KeyHeader.field(name).offset;
const cases: Array<[string, ((b: Buffer) => void) | undefined]> = [
  ['an intact leaf', undefined],
  ['keys out of order', (b) => b.writeUInt32LE(10, keyAt[2]! + field('inode'))],
  ['two keys at one position', (b) => {
    b.writeUInt32LE(5, keyAt[2]! + field('offset'));
    b.writeUInt32LE(0, keyAt[2]! + field('snapshot'));
  }],
  ['a key below the node min', (b) => b.writeUInt32LE(9, keyAt[0]! + field('inode'))],
  ['an inode above 2^53', (b) => b.writeUInt32LE(0xffffffff, keyAt[1]! + field('inode') + 4)],
  ['an offset above 2^53', (b) => b.writeUInt32LE(0xffffffff, keyAt[1]! + field('offset') + 4)],
  ['a value past used_bytes', (b) => b.writeUInt16LE(4000, keyAt[2]! + field('value_size'))],
  ['a key_count past used_bytes', (b) => b.writeUInt32LE(4, NodeHeader.field('key_count').offset)],
  ['a node min above its max', (b) => b.writeUInt32LE(0xffff, NodeHeader.field('min_snapshot').offset)],
  ['another btree', (b) => (b[NodeHeader.field('btree_id').offset] = 3)],
];

for (const [name, damage] of cases) {
  test(`verifyNode judges ${name} as decodeNode does`, async () => {
    const checksums = await loadChecksummer();
    const bytes = await leaf(damage);
    const decoded = outcome(() => decodeNode(bytes, expect, checksums));
    assert.equal(outcome(() => verifyNode(bytes, expect, checksums)), decoded);
    assert.equal(damage === undefined, decoded === 'accepted', decoded);
  });
}

test('verifyNode visits every key of a good leaf in place, as decodeNode decodes them', async () => {
  const checksums = await loadChecksummer();
  const bytes = await leaf();
  const seen: Key[] = [];
  const node = verifyNode(bytes, expect, checksums, (inode, offset, snapshot, type, valueAt, valueEnd) => {
    seen.push({ inode, offset, snapshot, type: type as Key['type'], value: bytes.subarray(valueAt, valueEnd) });
  });
  const { keys: decodedKeys, ...header } = decodeNode(bytes, expect, checksums);
  assert.deepEqual(seen, decodedKeys);
  assert.deepEqual(node, header);
});

test('forEachKey reads every key of a verified leaf in place, as decodeNode decodes them', async () => {
  const checksums = await loadChecksummer();
  const bytes = await leaf();
  const seen: Key[] = [];
  forEachKey(bytes, (inode, offset, snapshot, type, from, valueAt, valueEnd) => {
    seen.push({ inode, offset, snapshot, type: type as Key['type'], value: from.subarray(valueAt, valueEnd) });
  });
  assert.deepEqual(seen, decodeNode(bytes, expect, checksums).keys);
});
