// The scrub library pieces on their own: the btree scan and work list, the relocation hook,
// member recreation's refusals, and interruption.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { openImage } from '../../format/image.js';
import { POS_MAX, POS_MIN } from '../../format/keys.js';
import { BTREE } from '../../format/layout.js';
import { markSharedPlaces, scanBtrees, workList, type CopyRecord, type ExtentTarget, type NodeTarget } from '../../repair/scrub-plan.js';
import { checkMembers, planRecreation, recreateMemberFile } from '../../repair/scrub-members.js';
import { scrubImage } from '../../repair/scrub.js';
import { buildImage, extentsOf, hashes, nodesOf, removeBuiltImages, zeroRange } from './damage.js';

after(removeBuiltImages);

test('the scan finds every node copy and every extent copy that dump shows, in member and offset order', async () => {
  const built = await buildImage(3, ['--replicas', '2', '--node-size', '4K'], { manyFiles: 120 });
  const img = await openImage(built.spec);
  try {
    const plan = await scanBtrees(img, { metadataOnly: false });
    const nodePlaces = plan.nodes.flatMap((n) => n.copies.map((c) => `${c.member}@${c.offset}`)).sort();
    assert.deepEqual(nodePlaces, nodesOf(built.spec).flatMap((n) => n.copies.map((c) => `${c.member}@${c.offset}`)).sort());
    // Leaves whose keys the scan does not need wait for the data pass, unread; every other node was verified.
    const deferred = new Set(plan.deferredLeaves);
    assert.ok(plan.deferredLeaves.length > 0 && plan.deferredLeaves.every((n) => n.level === 0 && n.btreeId !== BTREE.extents));
    assert.ok(plan.nodes.every((n) => n.copies.every((c) => c.state === (deferred.has(n) ? 'unread' : 'good'))));
    const extents = plan.compact.materialize(plan.extents);
    const extentPlaces = extents.flatMap((e) => e.copies.map((c) => `${c.member}@${c.offset}`)).sort();
    const dumped = ['/big.bin', '/bin/tool', '/docs/notes.txt', '/docs/deep/er/leaf.dat'].flatMap((f) => extentsOf(built.spec, f))
      .flatMap((e) => e.pointers.map((p) => `${p.member}@${p.offset}`));
    // The many small files have extents too; every dumped one is among the scanned ones.
    for (const place of dumped) assert.ok(extentPlaces.includes(place), place);
    assert.ok(extents.every((e) => e.copies.every((c) => c.state === 'unread')), 'data is read later, in one ordered pass');
    const work = workList(extents);
    for (let i = 1; i < work.length; i++) {
      const a = work[i - 1]!.copy;
      const b = work[i]!.copy;
      assert.ok(a.member < b.member || (a.member === b.member && a.offset < b.offset), `${a.member}@${a.offset} before ${b.member}@${b.offset}`);
    }
  } finally {
    img.close();
  }
});

test('copies that share bytes, node or extent, are never rewritten', () => {
  const copy = (offset: number, length: number): CopyRecord => ({ member: 0, offset, length, state: 'unread' });
  const node = (copies: CopyRecord[]): NodeTarget => ({
    kind: 'node', btreeId: 0, level: 0, min: POS_MIN, max: POS_MAX, checksum: 0n, seq: 1, pointers: [], copies, belowUnknown: false,
  });
  const extent = (copies: CopyRecord[]) => ({ kind: 'extent', copies }) as unknown as ExtentTarget;
  const a = copy(65536, 8192);
  const b = copy(69632, 4096);
  const c = copy(131072, 4096);
  const d = copy(73728, 4096);
  const e = copy(262144, 131072);
  const f = copy(389120, 4096);
  markSharedPlaces([node([c]), node([a]), node([b, d]), extent([e]), node([f])]);
  assert.match(a.unwritable ?? '', /shares bytes/);
  assert.match(b.unwritable ?? '', /shares bytes/);
  assert.match(e.unwritable ?? '', /shares bytes/);
  assert.match(f.unwritable ?? '', /shares bytes/);
  assert.equal(c.unwritable, undefined);
  assert.equal(d.unwritable, undefined);
});

test('a missing member is recreated only at a named path, and never over an existing file', async () => {
  const built = await buildImage(3, ['--replicas', '2']);
  fs.unlinkSync(built.members[1]!);
  fs.unlinkSync(built.members[2]!);
  const img = await openImage(built.members[0]!, { allowDegraded: true });
  try {
    const fresh = () => checkMembers(img);
    const [m0, m1, m2] = built.members as [string, string, string];
    // Two members missing where two replicas survive losing one: not recreated, whatever is named.
    let members = fresh();
    planRecreation([m0, m1, m2], [m1, m2], members, 1);
    assert.ok(members.every((m) => m.recreateAt === undefined));
    assert.match(members[1]!.notRecreated!, /2 members are missing, more than the 1/);
    // Within what the image survives: every member named in member order, so each absent path is the member at its place.
    members = fresh();
    planRecreation([m0, m1, m2], [m1, m2], members, 2);
    assert.deepEqual(members.map((m) => m.recreateAt), [undefined, m1, m2]);
    // Not in member order (an existing member named at another's place), or not every member named: nothing says which path was whose.
    members = fresh();
    planRecreation([m1, m0, m2], [m1, m2], members, 2);
    assert.ok(members.every((m) => m.recreateAt === undefined));
    members = fresh();
    planRecreation([m1, m2], [m1, m2], members, 2);
    assert.ok(members.every((m) => m.recreateAt === undefined));
    assert.match(members[2]!.notRecreated!, /name every member, in member order/);
    // One member missing and one named path absent: that is where it goes back, named in any order.
    const oneMissing = fresh().map((m) => (m.index === 2 ? { ...m, problem: undefined } : m));
    planRecreation([m1, m0], [m1], oneMissing, 1);
    assert.deepEqual(oneMissing.map((m) => m.recreateAt), [undefined, m1, undefined]);
    const squatter = path.join(built.dir, 'squatter');
    fs.writeFileSync(squatter, 'precious');
    assert.match(recreateMemberFile(img.fs, img.checksums.crc32c, 1, squatter) ?? '', /EEXIST/);
    assert.equal(fs.readFileSync(squatter, 'utf8'), 'precious');
  } finally {
    img.close();
  }
});

test('an interrupted scrub reports exit 32 and writes nothing', async () => {
  const built = await buildImage(2, ['--replicas', '2']);
  const e = extentsOf(built.spec, '/big.bin')[0]!;
  zeroRange(built.members[e.pointers[0]!.member]!, e.pointers[0]!.offset, 4096);
  const before = hashes(built.members);
  const controller = new AbortController();
  controller.abort();
  const report = await scrubImage(built.spec, { dryRun: false, metadataOnly: false, signal: controller.signal });
  assert.equal(report.result, 'interrupted');
  assert.equal(report.exitCode, 32);
  assert.deepEqual(hashes(built.members), before);
});

test('progress is reported in bytes and ends with everything done', async () => {
  const built = await buildImage(2, ['--replicas', '2']);
  const calls: Array<[number, number, number]> = [];
  const report = await scrubImage(built.spec, { dryRun: true, metadataOnly: false, onProgress: (done, total, errors) => calls.push([done, total, errors]) });
  assert.ok(calls.length > 0);
  const [done, total, errors] = calls[calls.length - 1]!;
  assert.equal(done, total);
  assert.equal(errors, 0);
  // Progress counts node and extent copies; the report adds the superblock copies.
  assert.ok(total > 0 && total < report.totals.bytesVerified);
  for (let i = 1; i < calls.length; i++) assert.ok(calls[i]![0] >= calls[i - 1]![0]);
});
