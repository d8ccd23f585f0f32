// Scrub moves a bad copy whose place cannot take it. The place is made unusable with a block
// layer that silently drops writes to it (a bad sector that still acknowledges): the rewrite in
// place reads back bad, so the copy must get a new place, through a journaled transaction for
// an extent and a copy-on-write checkpoint for a node. Afterwards a plain scrub (no such layer)
// is clean, fsck -n is clean (space accounting follows the move), and the tree extracts intact.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import type { BlockLayer } from '../../format/io.js';
import { scrubImage } from '../../repair/scrub.js';
import { strata } from '../helpers/cli.js';
import { assertExtractsIntact, buildImage, extentsOf, flipBits, nodesOf, removeBuiltImages, scrubJson } from './damage.js';

after(removeBuiltImages);

/** A layer whose writes to [offset, offset + length) of `member` vanish. */
function droppingWrites(member: number, offset: number, length: number): (layer: BlockLayer) => BlockLayer {
  return (layer) => {
    const wrapped = Object.create(layer) as BlockLayer;
    wrapped.write = (m, at, data) => {
      if (m === member && at < offset + length && at + data.length > offset) return;
      layer.write(m, at, data);
    };
    return wrapped;
  };
}

function assertCleanAfter(spec: string): void {
  const second = scrubJson(spec);
  assert.equal(second.code, 0, `${second.stdout}\n${second.stderr}`);
  const fsck = strata(['fsck', '-n', spec]);
  assert.equal(fsck.code, 0, `${fsck.stdout}\n${fsck.stderr}`);
}

test('an extent copy whose place drops writes is moved to a new place and its pointer updated', async () => {
  const built = await buildImage(2, ['--replicas', '2']);
  const [extent] = extentsOf(built.spec, '/docs/notes.txt');
  const copy = extent!.pointers.find((p) => p.member === 0)!;
  flipBits(built.members[0]!, copy.offset, extent!.storedSize, 3, 7);
  const report = await scrubImage(built.spec, { dryRun: false, metadataOnly: false, wrapLayer: droppingWrites(0, copy.offset, extent!.storedSize) });
  assert.equal(report.exitCode, 1, JSON.stringify(report.extents));
  assert.equal(report.totals.corrected, 1);
  const moved = report.extents[0]!.copies.find((c) => c.member === 0)!;
  assert.equal(moved.state, 'repaired');
  assert.match(moved.note ?? '', /read back still bad after rewriting in place.*moved to offset \d+ of member 0/);
  const now = extentsOf(built.spec, '/docs/notes.txt')[0]!.pointers.find((p) => p.member === 0)!;
  assert.notEqual(now.offset, copy.offset);
  assertCleanAfter(built.spec);
  await assertExtractsIntact(built);
});

test('a node copy whose place drops writes is rewritten to a new place by a checkpoint', async () => {
  const built = await buildImage(2, ['--replicas', '2']);
  const root = nodesOf(built.spec, 'dirents').find((n) => n.key === 'root')!;
  const copy = root.copies.find((c) => c.member === 0)!;
  flipBits(built.members[0]!, copy.offset + 64, 192, 5, 11);
  const report = await scrubImage(built.spec, { dryRun: false, metadataOnly: false, wrapLayer: droppingWrites(0, copy.offset, 64 * 1024) });
  assert.equal(report.exitCode, 1, JSON.stringify(report.nodes));
  const node = report.nodes.find((n) => n.btree === 'dirents')!;
  const repaired = node.copies.find((c) => c.member === 0)!;
  assert.equal(repaired.state, 'repaired');
  assert.match(repaired.note ?? '', /rewritten to a new place \(copy-on-write\) and read back/);
  const after = nodesOf(built.spec, 'dirents').find((n) => n.key === 'root')!;
  assert.ok(!after.copies.some((c) => c.member === 0 && c.offset === copy.offset), 'the root still names the bad place');
  assertCleanAfter(built.spec);
  await assertExtractsIntact(built);
});

test('a copy that cannot be moved either (every write to its member vanishes) is reported unrepaired, and -n moves nothing', async () => {
  const built = await buildImage(2, ['--replicas', '2']);
  const [extent] = extentsOf(built.spec, '/docs/notes.txt');
  const copy = extent!.pointers.find((p) => p.member === 0)!;
  flipBits(built.members[0]!, copy.offset, extent!.storedSize, 3, 7);
  const dry = await scrubImage(built.spec, { dryRun: true, metadataOnly: false });
  assert.equal(dry.exitCode, 4);
  const report = await scrubImage(built.spec, { dryRun: false, metadataOnly: false, wrapLayer: droppingWrites(0, 0, Number.MAX_SAFE_INTEGER) });
  assert.equal(report.exitCode, 4);
  const bad = report.extents[0]!.copies.find((c) => c.member === 0)!;
  assert.equal(bad.state, 'bad');
  assert.match(bad.note ?? '', /moving it failed: the new place at offset \d+ reads back bad too/);
  assert.equal(extentsOf(built.spec, '/docs/notes.txt')[0]!.pointers.find((p) => p.member === 0)!.offset, copy.offset);
});
