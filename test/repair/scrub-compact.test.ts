// The compact extent rows: which extents they take, that they turn back into exactly the
// objects the object path builds, and that the verdicts of the data pass survive the change.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { openImage, type Image } from '../../format/image.js';
import { decodeExtentBody, encodeExtentBody, type ExtentBody, type Key } from '../../format/keys.js';
import { BTREE, KEY_TYPE } from '../../format/layout.js';
import { CSUM } from '../../format/checksum.js';
import { CompactExtents } from '../../repair/scrub-compact.js';
import { scanBtrees, walkBtree, type ExtentTarget } from '../../repair/scrub-plan.js';
import { verifyCompact } from '../../repair/scrub-read.js';
import { buildImage, extentsOf, readRange, removeBuiltImages, scrubJson, zeroRange } from './damage.js';
import { makeBase, Workbench } from './fsck-corrupt.js';
import { tempDir } from '../helpers/cli.js';

const dirs: string[] = [];
after(() => {
  removeBuiltImages();
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

/** The target the object path builds for a plain file extent key. */
function expectedTarget(key: Key): ExtentTarget {
  const body = decodeExtentBody(key.value);
  return {
    kind: 'extent', body, owner: { kind: 'file', inode: key.inode, start: key.offset - body.liveSize, end: key.offset },
    copies: body.pointers.map((p) => ({ member: p.member, offset: p.offset, length: body.storedSize, state: 'unread' as const })),
  };
}

function extentKeys(img: Image): Key[] {
  const keys: Key[] = [];
  walkBtree(img, BTREE.extents, { leafKey: (_, key) => { if (key.type === KEY_TYPE.extent) keys.push(key); } }, []);
  return keys;
}

test('every extent of a clean replicated image is held in rows, and the rows turn into the targets the object path builds', async () => {
  const built = await buildImage(2, ['--replicas', '2', '--node-size', '4K'], { manyFiles: 40 });
  const img = await openImage(built.spec);
  try {
    const plan = await scanBtrees(img, { metadataOnly: false });
    const keys = extentKeys(img);
    assert.ok(keys.length > 40);
    assert.equal(plan.extents.length, 0, 'no extent of a clean image takes the object path');
    assert.equal(plan.compact.count, keys.length);
    assert.equal(plan.compact.copyCount, keys.length * 2);
    assert.deepEqual(plan.compact.materialize([]), keys.map(expectedTarget));
    assert.equal(plan.compact.count, 0, 'materializing empties the rows');
  } finally {
    img.close();
  }
});

test('a copy that fails its checksum keeps its verdict and reason when the rows become objects; its replica stays good', async () => {
  const built = await buildImage(2, ['--replicas', '2']);
  const [first] = extentsOf(built.spec, '/big.bin');
  const damaged = first!.pointers[0]!;
  zeroRange(built.members[damaged.member]!, damaged.offset, 4096);
  const img = await openImage(built.spec);
  try {
    const plan = await scanBtrees(img, { metadataOnly: false });
    assert.equal((await verifyCompact(img, plan.compact)).interrupted, false);
    assert.equal(plan.compact.allGood(), false);
    const targets = plan.compact.materialize(plan.extents);
    const hit = targets.filter((t) => t.copies.some((c) => c.state === 'bad'));
    assert.equal(hit.length, 1);
    const bad = hit[0]!.copies.find((c) => c.state === 'bad')!;
    assert.deepEqual({ member: bad.member, offset: bad.offset, checked: bad.checked }, { member: damaged.member, offset: damaged.offset, checked: true });
    assert.match(bad.reason!, /^data checksum mismatch \(stored [0-9a-f]+, computed [0-9a-f]+\)$/);
    assert.ok(hit[0]!.copies.some((c) => c.state === 'good' && c.checked));
    assert.ok(targets.every((t) => t === hit[0] || t.copies.every((c) => c.state === 'good' && c.checked)));
  } finally {
    img.close();
  }
});

test('copies past the end of a truncated member are marked not in the file and never read', async () => {
  const built = await buildImage(2, ['--replicas', '2']);
  const img = await openImage(built.spec);
  try {
    const plan = await scanBtrees(img, { metadataOnly: false });
    // A layer that reports member 1 as 1 MiB long: every copy of member 1 beyond it is cut off.
    const size = img.layer.size.bind(img.layer);
    img.layer.size = (m: number) => (m === 1 ? 1 << 20 : size(m));
    await verifyCompact(img, plan.compact);
    const targets = plan.compact.materialize([]);
    const cut = targets.flatMap((t) => t.copies).filter((c) => c.member === 1 && c.offset + c.length > 1 << 20);
    assert.ok(cut.length > 0);
    for (const c of cut) assert.deepEqual({ state: c.state, notInFile: c.notInFile, checked: c.checked }, { state: 'bad', notInFile: true, checked: undefined });
    assert.match(cut[0]!.reason!, /truncated$/);
  } finally {
    img.close();
  }
});

test('a bad node copy that shares its bytes with a good extent copy in the rows is never rewritten over it', async () => {
  const dir = tempDir('strata-scrub-');
  dirs.push(dir);
  const w = new Workbench(dir, await makeBase(dir, 'mirror'));
  const [key] = await w.keysOf(BTREE.extents, await w.inum('/docs/big.bin'));
  const place = decodeExtentBody(key!.value).pointers.find((p) => p.member === 1)!;
  // The second copy of the dirents root "lives" where big.bin's first extent has its copy on member 1.
  await w.editAllSuperblocks((info) => {
    const root = info.roots[BTREE.dirents]!;
    root.pointers[1] = { ...root.pointers[1]!, member: 1, offset: place.offset };
    return info;
  });
  const member1 = w.spec.split(':')[1]!;
  const before = readRange(member1, place.offset, 4096);
  const run = scrubJson(w.spec);
  assert.equal(run.code, 1, run.stdout);
  const node = run.doc.nodes.find((n: { btree: string }) => n.btree === 'dirents');
  const copy = node.copies.find((c: { member: number }) => c.member === 1);
  // Not rewritten where it points: moved to a place of its own.
  assert.equal(copy.state, 'repaired');
  assert.match(copy.note, /^cannot rewrite in place: shares bytes with another copy .*rewritten to a new place/);
  assert.deepEqual(readRange(member1, place.offset, 4096), before, 'the extent copy is untouched');
  assert.equal(run.doc.extents.length, 0, 'every extent copy verified good');
  assert.equal(scrubJson(w.spec).code, 0);
});

/** A fake image with one member of 64 buckets of 64 KiB, blocks of 4 KiB. */
const fakeImg = { fs: { members: [{ bucketCount: 64 }], blockSize: 4096, bucketSize: 65536 } } as unknown as Image;

function body(change: Partial<ExtentBody> = {}): ExtentBody {
  return {
    liveSize: 4096, chunkOffset: 0, uncompressedSize: 4096, storedSize: 4096, checksum: 0x1234n, checksumType: CSUM.crc32c, compression: 0,
    stripeId: 0, stripeBlock: 0, pointers: [{ member: 0, generation: 1, offset: 65536 }], ...change,
  };
}

/** An encoded extent value placed 24 bytes into a larger buffer, as it lies in a leaf: bytes, value start, value end. */
function value(b: ExtentBody, cut = 0): [Buffer, number, number] {
  const encoded = encodeExtentBody(b);
  const bytes = Buffer.alloc(encoded.length + 64, 0xee);
  encoded.copy(bytes, 24);
  return [bytes, 24, 24 + encoded.length - cut];
}

test('an extent the rows cannot judge alone is refused: no checksum, erasure-coded, a pointer outside the buckets, a size out of bounds', () => {
  const compact = new CompactExtents(fakeImg);
  assert.equal(compact.tryAdd(...value(body()), 5, 4096, 0), true);
  const refused: Array<[string, Partial<ExtentBody>]> = [
    ['no checksum', { checksumType: CSUM.none }],
    ['erasure-coded', { stripeId: 3 }],
    ['stripe block set', { stripeBlock: 1 }],
    ['unaligned pointer', { pointers: [{ member: 0, generation: 1, offset: 65536 + 512 }] }],
    ['pointer into bucket 0', { pointers: [{ member: 0, generation: 1, offset: 4096 }] }],
    ['pointer past the buckets', { pointers: [{ member: 0, generation: 1, offset: 64 * 65536 - 4096 }], storedSize: 8192, uncompressedSize: 8192 }],
    ['pointer to a member that does not exist', { pointers: [{ member: 1, generation: 1, offset: 65536 }] }],
    ['stored size 0', { storedSize: 0 }],
    ['uncompressed size above the bound', { uncompressedSize: 256 * 1024 }],
  ];
  for (const [what, change] of refused) assert.equal(compact.tryAdd(...value(body(change)), 5, 8192, 1), false, what);
  assert.equal(compact.tryAdd(...value(body(), 6), 5, 8192, 1), false, 'value cut short');
  assert.equal(compact.count, 1);
});

test('rows keep their place among the extents the object path built', () => {
  const compact = new CompactExtents(fakeImg);
  const other = (inode: number) => ({ kind: 'extent', owner: { kind: 'file', inode, start: 0, end: 1 }, copies: [] }) as unknown as ExtentTarget;
  // Met in this order: row (slot 0), object, row (slot 2), row (slot 3), object.
  compact.tryAdd(...value(body()), 10, 4096, 0);
  compact.tryAdd(...value(body()), 12, 4096, 2);
  compact.tryAdd(...value(body()), 13, 4096, 3);
  const all = compact.materialize([other(11), other(14)]);
  assert.deepEqual(all.map((t) => (t.owner.kind === 'file' ? t.owner.inode : -1)), [10, 11, 12, 13, 14]);
});
