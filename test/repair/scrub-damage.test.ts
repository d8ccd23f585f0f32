// Damage injected into replicated images, then scrubbed. Within redundancy: the first scrub
// exits 1 having rewritten every bad copy, a second scrub exits 0, and the image extracts
// identical to the source. Beyond redundancy: exit 4, the lost file is named exactly, the
// rest extracts intact, and nothing is rewritten from bad data.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { strata } from '../helpers/cli.js';
import { diffTrees, snapshotTree } from '../helpers/tree.js';
import {
  assertExtractsIntact, buildImage, extentsOf, flipBits, hashes, nodesOf, readRange, removeBuiltImages, scrubJson, zeroRange,
} from './damage.js';

after(removeBuiltImages);

const BUCKET = 256 * 1024;

function assertRepairedThenClean(spec: string): void {
  const first = scrubJson(spec);
  assert.equal(first.code, 1, `${first.stdout}\n${first.stderr}`);
  assert.equal(first.doc.result, 'corrected');
  assert.ok(first.doc.totals.errorsFound > 0);
  assert.equal(first.doc.totals.corrected, first.doc.totals.errorsFound);
  assert.equal(first.doc.totals.uncorrectable, 0);
  const second = scrubJson(spec);
  assert.equal(second.code, 0, `${second.stdout}\n${second.stderr}`);
  assert.equal(second.doc.totals.errorsFound, 0);
}

test('random bit flips in the data copies on one member are repaired from the other (--replicas 2)', async () => {
  const built = await buildImage(2, ['--replicas', '2']);
  let flipped = 0;
  for (const file of ['/big.bin', '/bin/tool', '/docs/notes.txt']) {
    for (const e of extentsOf(built.spec, file)) {
      const copy = e.pointers.find((p) => p.member === 0)!;
      flipBits(built.members[0]!, copy.offset, e.storedSize, 3, copy.offset);
      flipped++;
    }
  }
  assert.ok(flipped >= 8);
  const first = scrubJson(built.spec);
  assert.equal(first.code, 1, first.stdout);
  assert.equal(first.doc.extents.length, flipped);
  for (const e of first.doc.extents) {
    assert.equal(e.status, 'repaired');
    assert.deepEqual(e.copies.map((c: { state: string }) => c.state).sort(), ['good', 'repaired']);
  }
  assert.deepEqual([...new Set(first.doc.extents.flatMap((e: { files: Array<{ paths: string[] }> }) => e.files.flatMap((f) => f.paths)))].sort(), ['/big.bin', '/bin/tool', '/docs/notes.txt', '/tool-hardlink']);
  assert.equal(scrubJson(built.spec).code, 0);
  await assertExtractsIntact(built);
});

test('zeroed 4 KiB blocks on every member are repaired while each extent keeps a good copy (--replicas 3, 3 members)', async () => {
  const built = await buildImage(3, ['--replicas', '3']);
  const extents = [...extentsOf(built.spec, '/big.bin'), ...extentsOf(built.spec, '/docs/deep/er/leaf.dat')];
  // Two of the three copies of each extent lose one block, rotating over the members.
  extents.forEach((e, i) => {
    for (const p of [e.pointers[i % 3]!, e.pointers[(i + 1) % 3]!]) zeroRange(built.members[p.member]!, p.offset + 4096 * (i % 2), 4096);
  });
  assertRepairedThenClean(built.spec);
  await assertExtractsIntact(built);
});

test('a zeroed whole bucket is repaired: every copy in it is rewritten', async () => {
  const built = await buildImage(2, ['--replicas', '2']);
  const copy = extentsOf(built.spec, '/big.bin')[2]!.pointers.find((p) => p.member === 1)!;
  const bucketStart = Math.floor(copy.offset / BUCKET) * BUCKET;
  zeroRange(built.members[1]!, bucketStart, BUCKET);
  const first = scrubJson(built.spec);
  assert.equal(first.code, 1, first.stdout);
  // A 256 KiB bucket holds at least one whole 128 KiB extent copy plus parts of others.
  assert.ok(first.doc.extents.length >= 2, first.stdout);
  assert.ok(first.doc.extents.every((e: { status: string }) => e.status === 'repaired'));
  assert.equal(scrubJson(built.spec).code, 0);
  await assertExtractsIntact(built);
});

test('a truncated member is extended and everything cut off is rewritten, superblock copy 1 included', async () => {
  const built = await buildImage(2, ['--replicas', '2']);
  const victim = built.members[1]!;
  const size = fs.statSync(victim).size;
  // Cut well into the used space: btree nodes (written last) and part of the data go.
  const nodesOnVictim = nodesOf(built.spec).flatMap((n) => n.copies).filter((c) => c.member === 1).map((c) => c.offset);
  const cut = Math.min(...nodesOnVictim) - 3 * 4096;
  fs.truncateSync(victim, cut);
  const first = scrubJson(built.spec);
  assert.equal(first.code, 1, first.stdout);
  const member = first.doc.members[1];
  assert.equal(member.problem.kind, 'short');
  assert.equal(member.problem.status, 'repaired');
  assert.ok(first.doc.superblocks.some((s: { member: number; copy: number; status: string }) => s.member === 1 && s.copy === 1 && s.status === 'repaired'));
  // Copies past the cut are counted on the member's row, not listed one by one.
  assert.ok(member.copiesNotInFile >= nodesOnVictim.length, 'node copies beyond the cut are found');
  assert.equal(member.copiesNotInFileRepaired, member.copiesNotInFile);
  assert.deepEqual(first.doc.nodes, []);
  const human = strata(['scrub', '-n', built.members[0]!]);
  assert.equal(human.code, 0, human.stdout);
  assert.equal(fs.statSync(victim).size, size);
  assert.equal(scrubJson(built.spec).code, 0);
  await assertExtractsIntact(built);
});

test('a deleted member file named in the image argument is recreated byte for byte (--replicas 2, 3 members)', async () => {
  const built = await buildImage(3, ['--replicas', '2']);
  const before = hashes(built.members);
  fs.unlinkSync(built.members[2]!);
  const first = scrubJson(built.spec);
  assert.equal(first.code, 1, first.stdout);
  assert.equal(first.doc.members[2].problem.kind, 'missing');
  assert.equal(first.doc.members[2].problem.status, 'repaired');
  assert.ok(first.doc.members[2].copiesNotInFile > 0);
  assert.equal(first.doc.members[2].copiesNotInFileRepaired, first.doc.members[2].copiesNotInFile);
  assert.deepEqual([first.doc.nodes, first.doc.extents], [[], []]);
  assert.equal(first.doc.degraded, false);
  assert.deepEqual(hashes(built.members), before);
  assert.equal(scrubJson(built.spec).code, 0);
  await assertExtractsIntact(built);
});

test('a deleted member file that is not named leaves the image degraded: exit 4, nothing lost, reads still work', async () => {
  const built = await buildImage(2, ['--replicas', '2']);
  fs.unlinkSync(built.members[1]!);
  const r = scrubJson(built.members[0]!);
  assert.equal(r.code, 4, r.stdout);
  assert.equal(r.doc.degraded, true);
  assert.equal(r.doc.members[1].present, false);
  assert.equal(r.doc.members[1].path, null);
  assert.equal(r.doc.lost.extents, 0);
  assert.equal(r.doc.lost.nodes, 0);
  assert.deepEqual(r.doc.lost.files, []);
  assert.ok(!fs.existsSync(built.members[1]!), 'scrub does not guess where a member it was not told about lives');
  const human = strata(['scrub', built.members[0]!]);
  assert.equal(human.code, 4);
  assert.match(human.stdout, /member 1 \(uuid [0-9a-f-]+\): member file is missing/);
  assert.match(human.stdout, /image is degraded/);
  await assertExtractsIntact(built, built.members[0]!);
});

test('damaged copies of btree nodes at every level are repaired (node size 4 KiB, deep trees)', async () => {
  const built = await buildImage(2, ['--replicas', '2', '--node-size', '4K'], { manyFiles: 300 });
  const nodes = nodesOf(built.spec);
  const levels = new Set(nodes.filter((n) => n.btree === 'dirents').map((n) => n.level));
  assert.ok(levels.size >= 2, `dirents btree has levels ${[...levels]}`);
  // One copy of every node of the dirents and extents btrees, alternating members.
  let damaged = 0;
  for (const [i, n] of nodes.filter((x) => x.btree === 'dirents' || x.btree === 'extents').entries()) {
    const copy = n.copies[i % n.copies.length]!;
    // Bit flips land in the first 256 bytes: the header and first keys, inside used_bytes (the
    // zero tail after used_bytes is not covered by the node checksum).
    if (i % 2 === 0) zeroRange(built.members[copy.member]!, copy.offset, 4096);
    else flipBits(built.members[copy.member]!, copy.offset, 256, 1, i);
    damaged++;
  }
  const first = scrubJson(built.spec);
  assert.equal(first.code, 1, first.stdout);
  assert.equal(first.doc.nodes.length, damaged);
  for (const n of first.doc.nodes) {
    assert.equal(n.status, 'repaired');
    assert.match(n.min, /^\d+:\d+:\d+$/);
    assert.match(n.max, /^(\d+:\d+:\d+|POS_MAX)$/);
  }
  assert.equal(scrubJson(built.spec).code, 0);
  await assertExtractsIntact(built);
});

test('a bad superblock copy and a stale one are rewritten from the newest', async () => {
  const built = await buildImage(2, ['--replicas', '2']);
  zeroRange(built.members[0]!, 4096, 512);
  // A stale copy: valid, but one checkpoint older. Made by lowering seq and fixing the checksum.
  const last = fs.statSync(built.members[1]!).size - 65536;
  const sb = readRange(built.members[1]!, last, 4096);
  const total = sb.readUInt32LE(16);
  sb.writeBigUInt64LE(sb.readBigUInt64LE(104) - 1n, 104);
  const { crc32c } = await import('@node-rs/crc32');
  sb.writeBigUInt64LE(BigInt(crc32c(sb.subarray(16, total))), 8);
  const fd = fs.openSync(built.members[1]!, 'r+');
  fs.writeSync(fd, sb, 0, sb.length, last);
  fs.closeSync(fd);
  const first = scrubJson(built.spec);
  assert.equal(first.code, 1, first.stdout);
  const found = first.doc.superblocks.map((s: { member: number; copy: number; reason: string; status: string }) => `${s.member}/${s.copy} ${s.status}`).sort();
  assert.deepEqual(found, ['0/0 repaired', '1/1 repaired']);
  assert.match(first.doc.superblocks.find((s: { member: number }) => s.member === 1).reason, /stale/);
  assert.equal(scrubJson(built.spec).code, 0);
});

test('a compressed extent copy that fails its checksum is repaired (zstd)', async () => {
  const built = await buildImage(2, ['--replicas', '2', '--compression', 'zstd']);
  const e = extentsOf(built.spec, '/docs/notes.txt')[0]!;
  assert.ok(e.storedSize < e.end - e.start, 'the text compresses');
  flipBits(built.members[e.pointers[1]!.member]!, e.pointers[1]!.offset, e.storedSize, 1, 5);
  assertRepairedThenClean(built.spec);
  await assertExtractsIntact(built);
});

test('damage to both copies of one extent: exit 4, the file and range are named, nothing is rewritten from bad data', async () => {
  const built = await buildImage(2, ['--replicas', '2']);
  const lost = extentsOf(built.spec, '/docs/deep/er/leaf.dat')[1]!;
  for (const p of lost.pointers) flipBits(built.members[p.member]!, p.offset, lost.storedSize, 2, p.offset);
  // An unrelated repairable error in the same run is still repaired.
  const other = extentsOf(built.spec, '/big.bin')[0]!;
  zeroRange(built.members[other.pointers[0]!.member]!, other.pointers[0]!.offset, 4096);
  const badBytes = lost.pointers.map((p) => readRange(built.members[p.member]!, p.offset, lost.storedSize));

  const r = scrubJson(built.spec);
  assert.equal(r.code, 4, r.stdout);
  assert.equal(r.doc.result, 'uncorrected');
  assert.deepEqual(r.doc.lost.files, ['/docs/deep/er/leaf.dat']);
  assert.equal(r.doc.lost.extents, 1);
  const entry = r.doc.extents.find((e: { status: string }) => e.status === 'lost');
  assert.deepEqual(entry.files, [{ paths: ['/docs/deep/er/leaf.dat'], inode: entry.files[0].inode, start: lost.start, end: lost.end }]);
  assert.ok(entry.copies.every((c: { state: string; note: string }) => c.state === 'bad' && /no good copy/.test(c.note)));
  assert.equal(r.doc.totals.corrected, 1);
  assert.equal(r.doc.totals.uncorrectable, 2);
  lost.pointers.forEach((p, i) => assert.ok(readRange(built.members[p.member]!, p.offset, lost.storedSize).equals(badBytes[i]!), 'bad copies left as they were'));

  const human = strata(['scrub', built.spec]);
  assert.equal(human.code, 4);
  assert.match(human.stdout, new RegExp(`extent of /docs/deep/er/leaf\\.dat bytes ${lost.start}\\.\\.${lost.end}: LOST`));
  assert.match(human.stdout, /lost files: \/docs\/deep\/er\/leaf\.dat\n/);

  const out = path.join(built.dir, 'out');
  const extract = strata(['dump', 'extract', built.spec, '/', out]);
  assert.equal(extract.code, 4, extract.stderr);
  assert.match(extract.stderr, /lost: \/docs\/deep\/er\/leaf\.dat/);
  const differences = diffTrees(built.snapshot, await snapshotTree(out));
  assert.deepEqual(differences.filter((d) => !d.startsWith('docs/deep/er/leaf.dat')), [], 'everything else extracts intact');
  const lostRead = strata(['dump', 'cat', built.spec, '/docs/deep/er/leaf.dat']);
  assert.equal(lostRead.code, 8);
  assert.match(lostRead.stderr, /leaf\.dat bytes \d+\.\.\d+/);
});

test('a btree leaf with no good copy is lost: the files whose extents it held are named', async () => {
  const built = await buildImage(2, ['--replicas', '2', '--node-size', '4K'], { manyFiles: 300 });
  const leaves = nodesOf(built.spec, 'extents').filter((n) => n.level === 0 && n.key !== 'root');
  assert.ok(leaves.length >= 3);
  const leaf = leaves[1]!;
  for (const c of leaf.copies) zeroRange(built.members[c.member]!, c.offset, 4096);
  const r = scrubJson(built.spec);
  assert.equal(r.code, 4, r.stdout);
  assert.equal(r.doc.lost.nodes, 1);
  const node = r.doc.nodes.find((n: { status: string }) => n.status === 'lost');
  assert.equal(node.btree, 'extents');
  assert.equal(node.max, leaf.key);
  assert.equal(node.subtreeNotScrubbed, true);
  assert.ok(node.affectedFiles.length > 0);
  assert.ok(node.affectedFiles.every((p: string) => p.startsWith('/')));
  assert.deepEqual(r.doc.lost.files, node.affectedFiles);
});

test('scrub -n reports repairable damage with exit 4 and leaves every member byte-identical', async () => {
  const built = await buildImage(3, ['--replicas', '2']);
  const e = extentsOf(built.spec, '/big.bin')[3]!;
  flipBits(built.members[e.pointers[0]!.member]!, e.pointers[0]!.offset, e.storedSize, 4, 9);
  const root = nodesOf(built.spec, 'inodes')[0]!.copies[1]!;
  zeroRange(built.members[root.member]!, root.offset, 4096);
  fs.truncateSync(built.members[2]!, fs.statSync(built.members[2]!).size - 70_000);
  const before = hashes(built.members);
  const r = scrubJson(built.spec, ['-n']);
  assert.equal(r.code, 4, r.stdout);
  assert.equal(r.doc.dryRun, true);
  assert.equal(r.doc.totals.corrected, 0);
  assert.equal(r.doc.totals.uncorrectable, 0);
  assert.equal(r.doc.totals.repairable, r.doc.totals.errorsFound);
  assert.deepEqual(hashes(built.members), before);
  // The same damage is then repaired without -n.
  assertRepairedThenClean(built.spec);
});

test('extents only the journal knows (a crash before the checkpoint) are scrubbed and repaired too', async () => {
  const built = await buildImage(2, ['--replicas', '2']);
  // The superblocks as they are before a put; restoring them afterwards leaves the image as a
  // crash between the put's journal commit and its checkpoint would.
  const superblockCopies = built.members.map((m) => {
    const last = fs.statSync(m).size - 65536;
    return { m, copies: [[4096, readRange(m, 4096, 4096)], [last, readRange(m, last, 4096)]] as Array<[number, Buffer]> };
  });
  const added = path.join(built.dir, 'added.bin');
  fs.writeFileSync(added, Buffer.alloc(200_000, 0x6b));
  assert.equal(strata(['put', built.spec, added, '/added.bin']).code, 0);
  for (const { m, copies } of superblockCopies) {
    const fd = fs.openSync(m, 'r+');
    for (const [offset, bytes] of copies) fs.writeSync(fd, bytes, 0, bytes.length, offset);
    fs.closeSync(fd);
  }
  const journalOnly = extentsOf(built.spec, '/added.bin');
  assert.ok(journalOnly.length >= 2, 'dump replays the journal and sees the new file');
  const copy = journalOnly[1]!.pointers[0]!;
  zeroRange(built.members[copy.member]!, copy.offset, 4096);
  const first = scrubJson(built.spec);
  assert.equal(first.code, 1, first.stdout);
  assert.ok(first.doc.warnings.some((w: string) => /journal holds 1 transaction/.test(w)));
  assert.equal(first.doc.extents.length, 1);
  assert.deepEqual(first.doc.extents[0].copies.map((c: { offset: number; state: string }) => [c.offset, c.state]).find((c: [number, string]) => c[0] === copy.offset), [copy.offset, 'repaired']);
  assert.equal(scrubJson(built.spec).code, 0);
  const cat = strata(['dump', 'cat', built.spec, '/added.bin']);
  assert.ok(cat.stdoutBytes.equals(fs.readFileSync(added)));
});

test('a shared extent (mkfs --dedupe) with no good copy names every file that uses it, and the range in each', async () => {
  const built = await buildImage(2, ['--replicas', '2', '--dedupe'], { duplicate: true });
  const shared = strata(['dump', 'btree', '--json', built.spec, 'reflink']);
  assert.equal(shared.code, 0, shared.stderr);
  const items = JSON.parse(shared.stdout).nodes.flatMap((n: { items: Array<{ type: string; text: string }> }) => n.items).filter((i: { type: string }) => i.type === 'indirectExtent');
  assert.ok(items.length >= 2, 'leaf.dat and its copy share their extents');
  // The second shared extent: bytes 131072.. of both files.
  const copies = [...(items[1].text as string).matchAll(/m(\d+)@(\d+)g\d+/g)].map((m) => ({ member: Number(m[1]), offset: Number(m[2]) }));
  for (const c of copies) flipBits(built.members[c.member]!, c.offset, 4096, 1, c.offset);
  const r = scrubJson(built.spec);
  assert.equal(r.code, 4, r.stdout);
  assert.equal(r.doc.extents.length, 1);
  const entry = r.doc.extents[0];
  assert.equal(entry.status, 'lost');
  assert.notEqual(entry.reflink, null);
  assert.deepEqual(entry.files.map((f: { paths: string[]; start: number; end: number }) => [f.paths, f.start, f.end]).sort(), [
    [['/docs/copy-of-leaf.dat'], 131072, 150_000],
    [['/docs/deep/er/leaf.dat'], 131072, 150_000],
  ]);
  assert.deepEqual(r.doc.lost.files, ['/docs/copy-of-leaf.dat', '/docs/deep/er/leaf.dat']);
  const human = strata(['scrub', '-n', built.spec]);
  assert.match(human.stdout, /^shared extent reflink \d+\.\.\d+, used by \/docs\/\S+ bytes 131072\.\.150000, \/docs\/\S+ bytes 131072\.\.150000: LOST: no good copy$/m);
});

test('a damaged data copy of an erasure-coded extent is rebuilt from its stripe and rewritten (--ec 2+1)', async () => {
  const built = await buildImage(3, ['--ec', '2+1']);
  const extents = extentsOf(built.spec, '/big.bin');
  const victim = extents[2]!.pointers[0]!;
  flipBits(built.members[victim.member]!, victim.offset, extents[2]!.storedSize, 3, 11);
  const dry = scrubJson(built.spec, ['-n']);
  assert.equal(dry.code, 4, dry.stdout);
  // The extent's copy, and the stripe block holding it.
  assert.equal(dry.doc.totals.repairable, 2);
  assert.equal(dry.doc.extents[0].status, 'damaged');
  assert.equal(dry.doc.stripes[0].status, 'damaged');
  assert.deepEqual(dry.doc.lost, { nodes: 0, extents: 0, stripes: 0, files: [] });
  const first = scrubJson(built.spec);
  assert.equal(first.code, 1, first.stdout);
  assert.equal(first.doc.extents[0].copies[0].state, 'repaired');
  assert.match(first.doc.extents[0].copies[0].note, /stripe/);
  assert.ok(first.doc.stripes[0].blocks.some((b: { member: number; state: string }) => b.member === victim.member && b.state === 'repaired'), first.stdout);
  assert.equal(scrubJson(built.spec).code, 0);
  await assertExtractsIntact(built);
});
