// The `strata scrub` command contract: exit codes, human and --json output, --metadata-only,
// errors. Damage scenarios are in test/repair/scrub-damage.test.ts.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { isOneLineError, strata, tempDir } from '../helpers/cli.js';
import { validateJson } from '../cli/schemas.js';
import { buildImage, extentsOf, flipBits, hashes, nodesOf, removeBuiltImages, scrubJson, zeroRange } from '../repair/damage.js';

after(removeBuiltImages);

test('a clean image scrubs with exit 0 and one summary line', async () => {
  const built = await buildImage(2, ['--replicas', '2']);
  const r = strata(['scrub', built.spec]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^scrub clean: [\d.]+ (KiB|MiB) verified in \d+ copies; 0 errors found, 0 corrected, 0 uncorrectable\n$/);
});

test('--json prints one document in the documented shape', async () => {
  const built = await buildImage(2, ['--replicas', '2']);
  const { code, doc } = scrubJson(built.spec);
  assert.equal(code, 0);
  assert.deepEqual(Object.keys(doc).sort(), [
    'command', 'degraded', 'dryRun', 'exitCode', 'extents', 'lost', 'members', 'metadataOnly', 'nodes', 'result', 'stripes', 'superblocks', 'totals', 'uuid', 'version', 'warnings',
  ]);
  assert.deepEqual(validateJson('scrub', doc), []);
  assert.equal(doc.version, 1);
  assert.equal(doc.command, 'scrub');
  assert.equal(doc.result, 'clean');
  assert.equal(doc.exitCode, 0);
  assert.deepEqual(Object.keys(doc.totals).sort(), ['bytesVerified', 'copiesVerified', 'corrected', 'errorsFound', 'repairable', 'stripeBlocksVerified', 'stripesVerified', 'uncorrectable']);
  assert.deepEqual(doc.lost, { nodes: 0, extents: 0, stripes: 0, files: [] });
  assert.deepEqual([doc.totals.stripesVerified, doc.totals.stripeBlocksVerified, doc.stripes], [0, 0, []]);
  assert.equal(doc.members.length, 2);
  for (const m of doc.members) {
    assert.deepEqual(Object.keys(m).sort(), [
      'badCopies', 'badStripeBlocks', 'bytesVerified', 'copies', 'copiesNotInFile', 'copiesNotInFileRepaired', 'fileSize', 'index', 'path', 'present', 'problem', 'repairedCopies',
      'repairedStripeBlocks', 'size', 'stripeBlocks', 'stripeBlocksNotInFile', 'stripeBlocksNotInFileRepaired', 'uuid',
    ]);
    assert.equal(m.size, m.fileSize);
    assert.ok(m.copies > 0 && m.bytesVerified > 0);
  }
  // Every copy of every extent of the tree is verified: 2 copies of each, plus nodes.
  const extents = ['/big.bin', '/bin/tool', '/docs/notes.txt', '/docs/deep/er/leaf.dat'].reduce((n, f) => n + extentsOf(built.spec, f).length, 0);
  const nodeCopies = nodesOf(built.spec).reduce((n, row) => n + row.copies.length, 0);
  assert.equal(doc.totals.copiesVerified, 2 * extents + nodeCopies);
});

test('--metadata-only verifies btree nodes and superblocks but not file data', async () => {
  const built = await buildImage(2, ['--replicas', '2']);
  const e = extentsOf(built.spec, '/big.bin')[0]!;
  zeroRange(built.members[e.pointers[0]!.member]!, e.pointers[0]!.offset, 4096);
  const meta = scrubJson(built.spec, ['--metadata-only']);
  assert.equal(meta.code, 0, meta.stdout);
  assert.equal(meta.doc.metadataOnly, true);
  assert.equal(meta.doc.extents.length, 0);
  const human = strata(['scrub', '--metadata-only', '-n', built.spec]);
  assert.match(human.stdout, /\(metadata only\)/);

  const node = nodesOf(built.spec, 'inodes')[0]!.copies[0]!;
  zeroRange(built.members[node.member]!, node.offset, 4096);
  const again = scrubJson(built.spec, ['--metadata-only']);
  assert.equal(again.code, 1, again.stdout);
  assert.equal(again.doc.nodes.length, 1);
  assert.equal(again.doc.nodes[0].btree, 'inodes');
  // The data damage is still there for a full scrub to find.
  const full = scrubJson(built.spec);
  assert.equal(full.code, 1);
  assert.equal(full.doc.extents.length, 1);
});

test('-n with damage prints what it would do and writes nothing', async () => {
  const built = await buildImage(2, ['--replicas', '2']);
  const e = extentsOf(built.spec, '/bin/tool')[1]!;
  flipBits(built.members[e.pointers[1]!.member]!, e.pointers[1]!.offset, e.storedSize, 2, 3);
  const before = hashes(built.members);
  const r = strata(['scrub', '-n', built.spec]);
  assert.equal(r.code, 4, r.stderr);
  assert.match(r.stdout, /extent of \/bin\/tool = \/tool-hardlink bytes \d+\.\.\d+: damaged, still readable/);
  assert.match(r.stdout, /NOT repaired: dry run \(-n\)/);
  assert.match(r.stdout, /1 errors found, 0 corrected, 1 repairable without -n, 0 uncorrectable/);
  assert.deepEqual(hashes(built.members), before);
});

test('with a single copy, damaged data is lost: exit 4 and the file is named', async () => {
  const built = await buildImage(1, []);
  const e = extentsOf(built.spec, '/docs/notes.txt')[0]!;
  flipBits(built.members[0]!, e.pointers[0]!.offset, e.storedSize, 1, 1);
  const before = hashes(built.members);
  const r = strata(['scrub', built.spec]);
  assert.equal(r.code, 4, r.stderr);
  assert.match(r.stdout, /extent of \/docs\/notes\.txt bytes 0\.\.\d+: LOST: no good copy/);
  assert.match(r.stdout, /lost files: \/docs\/notes\.txt\n/);
  assert.deepEqual(hashes(built.members), before);
});

test('replicas of data without a checksum that differ are reported, and neither is trusted', async () => {
  const built = await buildImage(2, ['--replicas', '2', '--checksum', 'none']);
  const e = extentsOf(built.spec, '/big.bin')[0]!;
  flipBits(built.members[e.pointers[1]!.member]!, e.pointers[1]!.offset, e.storedSize, 1, 2);
  const before = hashes(built.members);
  const r = scrubJson(built.spec);
  assert.equal(r.code, 4, r.stdout);
  assert.equal(r.doc.extents.length, 1);
  assert.equal(r.doc.extents[0].status, 'lost');
  assert.ok(r.doc.extents[0].copies.every((c: { reason: string }) => /differ/.test(c.reason)));
  assert.deepEqual(hashes(built.members), before);
});

test('stdout carries the report only: progress and warnings go to stderr', async () => {
  const built = await buildImage(2, ['--replicas', '2']);
  const r = strata(['scrub', `${built.spec}:${path.join(built.dir, 'no-such.img')}`]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.split('\n').filter(Boolean).length, 1);
  assert.match(r.stderr, /no-such\.img: No such file or directory/);
});

test('a missing image is exit 8 with one line naming it', () => {
  const r = strata(['scrub', '/nonexistent/strata.img']);
  assert.equal(r.code, 8);
  assert.ok(isOneLineError(r.stderr), r.stderr);
  assert.match(r.stderr, /\/nonexistent\/strata\.img: No such file or directory/);
});

test('a file that is not a strata image is exit 8', () => {
  const dir = tempDir();
  const p = path.join(dir, 'plain');
  fs.writeFileSync(p, Buffer.alloc(1 << 20, 0x41));
  const r = strata(['scrub', '-n', p]);
  assert.equal(r.code, 8);
  assert.match(r.stderr, /not a strata image/);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('an unknown option is a usage error (exit 16)', () => {
  const r = strata(['scrub', '--frobnicate', 'x.img']);
  assert.equal(r.code, 16);
});
