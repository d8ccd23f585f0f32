// Scrub of erasure-coded images (mkfs --ec): every block of every stripe, data and parity, is
// verified against the stripe's chunk checksums and parity against data; bad blocks are rebuilt
// from the others and rewritten in place. Within redundancy (any m member files deleted, m blocks
// of a stripe zeroed, parity damaged, or damage in more than m blocks at different places): the
// first scrub exits 1, a second exits 0, every member is byte-identical to what mkfs wrote and
// `dump extract` gives the source tree. Beyond it: exit 4, the lost files named exactly, nothing
// written.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { strata } from '../helpers/cli.js';
import { combinations, diffTrees, snapshotTree } from '../helpers/tree.js';
import {
  assertExtractsIntact, type BuiltImage, buildCorpusImage, cloneImage, flipBits, hashes, nodesOf, readRange, removeBuiltImages, scrubJson, type StripeRow, stripesOf, zeroRange,
} from './damage.js';

after(removeBuiltImages);

const CHUNK = 4096;
/** Generated trees hold no holes; extract may still write zero runs sparsely. */
const DIFF = { ignore: ['sparse' as const] };

/** Deleted, or zeroed, within redundancy: repaired (exit 1), then clean (exit 0), byte-identical, extracts identical. */
async function assertRestored(damaged: BuiltImage, original: BuiltImage): Promise<{ first: ReturnType<typeof scrubJson> }> {
  const first = scrubJson(damaged.spec);
  assert.equal(first.code, 1, first.stdout);
  assert.equal(first.doc.result, 'corrected');
  assert.equal(first.doc.totals.uncorrectable, 0);
  assert.equal(first.doc.totals.corrected, first.doc.totals.errorsFound);
  assert.deepEqual(first.doc.lost, { nodes: 0, extents: 0, stripes: 0, files: [] });
  const second = scrubJson(damaged.spec);
  assert.equal(second.code, 0, second.stdout);
  assert.equal(second.doc.totals.errorsFound, 0);
  assert.deepEqual(hashes(damaged.members), hashes(original.members), 'every member is back as mkfs wrote it');
  await assertExtractsIntact(damaged, damaged.spec, DIFF);
  return { first };
}

/** A stripe whose data blocks all hold data, so damage to any block is damage to files. */
function fullStripe(stripes: StripeRow[]): StripeRow {
  return stripes[Math.floor(stripes.length / 2)]!;
}

/**
 * The files that come out wrong from `dump extract` with members missing (read path, not scrub),
 * every name of each: extract names one name of a lost file with several, so its "lost:" lines
 * must each be among them.
 */
async function lostOnExtract(built: BuiltImage, gone: number[]): Promise<string[]> {
  const keep = built.members.filter((_, i) => !gone.includes(i));
  const out = path.join(built.dir, `out-lost-${gone.join('-')}`);
  const r = strata(['dump', 'extract', keep[0]!, '/', out]);
  assert.equal(r.code, 4, r.stderr);
  const named = [...r.stderr.matchAll(/lost: (\S+):/g)].map((x) => x[1]!);
  assert.ok(named.length > 0);
  const differing = [...new Set(diffTrees(built.snapshot, await snapshotTree(out), DIFF).map((d) => `/${d.split(':')[0]}`))].sort();
  for (const p of named) assert.ok(differing.includes(p), `${p} named lost but extracted intact`);
  fs.rmSync(out, { recursive: true, force: true });
  return differing;
}

/** Hide members in a folder of their own (members are found by UUID next to a named one). */
function hideMembers(built: BuiltImage, gone: number[]): void {
  const hidden = path.join(built.dir, 'hidden');
  fs.mkdirSync(hidden);
  for (const i of gone) fs.renameSync(built.members[i]!, path.join(hidden, path.basename(built.members[i]!)));
}

describe('--ec 4+2 over 6 members', () => {
  let original: BuiltImage;
  let stripes: StripeRow[];
  before(async () => {
    original = await buildCorpusImage(6, ['--ec', '4+2'], { files: 300, bytes: 12_000_000, seed: 42 });
    stripes = stripesOf(original.spec);
    assert.ok(stripes.length >= 8, `${stripes.length} stripes`);
  });

  test('a clean image: every block of every stripe is verified, exit 0', () => {
    const r = scrubJson(original.spec);
    assert.equal(r.code, 0, r.stdout);
    assert.equal(r.doc.totals.stripesVerified, stripes.length);
    assert.equal(r.doc.totals.stripeBlocksVerified, stripes.length * 6);
    for (const m of r.doc.members) assert.equal(m.stripeBlocks, stripes.length);
    assert.deepEqual(r.doc.stripes, []);
    const human = strata(['scrub', '-n', original.spec]);
    assert.match(human.stdout, new RegExp(`^scrub clean: [\\d.]+ MiB verified in \\d+ copies and ${stripes.length} stripes; 0 errors found`));
  });

  for (const gone of [[0, 1], [0, 5], [2, 3], [1, 4]]) {
    test(`members ${gone.join(' and ')} deleted: both recreated empty and refilled, every stripe block and node copy rebuilt`, { timeout: 120_000 }, async () => {
      const damaged = cloneImage(original);
      for (const i of gone) fs.unlinkSync(damaged.members[i]!);
      const { first } = await assertRestored(damaged, original);
      for (const i of gone) {
        const m = first.doc.members[i];
        assert.equal(m.problem.kind, 'missing');
        assert.equal(m.problem.status, 'repaired');
        assert.equal(m.problem.note, `recreated at ${damaged.members[i]}`);
        assert.ok(m.stripeBlocksNotInFile > 0 && m.stripeBlocksNotInFileRepaired === m.stripeBlocksNotInFile, JSON.stringify(m));
        assert.equal(m.copiesNotInFileRepaired, m.copiesNotInFile);
      }
      // Blocks and copies that were not in a file are counted on their member, not listed.
      assert.deepEqual([first.doc.stripes, first.doc.extents, first.doc.nodes], [[], [], []]);
      assert.equal(first.doc.degraded, false);
    });
  }

  test('two whole data blocks of one stripe zeroed: rebuilt from the other four, with the extents in them', { timeout: 60_000 }, async () => {
    const damaged = cloneImage(original);
    const stripe = fullStripe(stripes);
    for (const b of stripe.blocks.slice(0, 2)) zeroRange(damaged.members[b.member]!, b.offset, stripe.blockSize);
    const { first } = await assertRestored(damaged, original);
    assert.equal(first.doc.stripes.length, 1);
    const s = first.doc.stripes[0];
    assert.equal(s.id, stripe.id);
    assert.equal(s.status, 'repaired');
    assert.deepEqual(s.blocks.map((b: { state: string }) => b.state), ['repaired', 'repaired', 'good', 'good', 'good', 'good']);
    assert.ok(s.files.length > 0 && s.files.every((f: { paths: string[] }) => f.paths.length > 0 && f.paths.every((p) => p.startsWith('/'))));
    // The extents in the zeroed blocks were bad too, and are repaired with their blocks.
    assert.ok(first.doc.extents.length > 0);
    for (const e of first.doc.extents) {
      assert.equal(e.status, 'repaired');
      assert.match(e.copies[0].note, /stripe/);
    }
  });

  test('a data block and a parity block of one stripe zeroed: both rebuilt', { timeout: 60_000 }, async () => {
    const damaged = cloneImage(original);
    const stripe = fullStripe(stripes);
    for (const b of [stripe.blocks[3]!, stripe.blocks[5]!]) zeroRange(damaged.members[b.member]!, b.offset, stripe.blockSize);
    const { first } = await assertRestored(damaged, original);
    assert.deepEqual(first.doc.stripes[0].blocks.map((b: { kind: string; state: string }) => `${b.kind} ${b.state}`), ['data good', 'data good', 'data good', 'data repaired', 'parity good', 'parity repaired']);
  });

  test('damage to a parity block only is found, rebuilt and rewritten; no file is touched', { timeout: 60_000 }, async () => {
    const damaged = cloneImage(original);
    const stripe = fullStripe(stripes);
    const parity = stripe.blocks[4]!;
    flipBits(damaged.members[parity.member]!, parity.offset, stripe.blockSize, 5, 17);
    const dry = scrubJson(damaged.spec, ['-n']);
    assert.equal(dry.code, 4, dry.stdout);
    assert.equal(dry.doc.totals.repairable, 1);
    assert.equal(dry.doc.stripes[0].status, 'damaged');
    const { first } = await assertRestored(damaged, original);
    assert.equal(first.doc.totals.errorsFound, 1);
    assert.deepEqual(first.doc.extents, []);
    const s = first.doc.stripes[0];
    assert.equal(s.parity, 'matches');
    const block = s.blocks[4];
    assert.deepEqual([block.kind, block.state, block.member, block.offset], ['parity', 'repaired', parity.member, parity.offset]);
    assert.ok(block.badChunks >= 1 && block.badChunks <= 5);
    assert.match(block.reason, /chunks? fail their checksum/);
    const human = strata(['scrub', '-n', damaged.spec]);
    assert.equal(human.code, 0);
  });

  test('bad chunks in three blocks of one stripe at different places are all rebuilt (damage is located per chunk)', { timeout: 60_000 }, async () => {
    const damaged = cloneImage(original);
    const stripe = fullStripe(stripes);
    // More bad blocks than parity blocks, but never more than one bad block at the same place.
    [[0, 3], [2, 10], [5, 40]].forEach(([block, chunk]) => {
      const b = stripe.blocks[block!]!;
      flipBits(damaged.members[b.member]!, b.offset + chunk! * CHUNK, CHUNK, 2, chunk!);
    });
    const { first } = await assertRestored(damaged, original);
    assert.deepEqual(first.doc.stripes[0].blocks.map((b: { state: string; badChunks: number }) => `${b.state} ${b.badChunks}`), ['repaired 1', 'good 0', 'repaired 1', 'good 0', 'good 0', 'repaired 1']);
  });

  test('three blocks bad at the same place: that part is lost, the files holding it are named exactly, nothing is written', { timeout: 60_000 }, async () => {
    const damaged = cloneImage(original);
    const stripe = fullStripe(stripes);
    for (const b of stripe.blocks.slice(0, 3)) zeroRange(damaged.members[b.member]!, b.offset, CHUNK);
    const before = hashes(damaged.members);
    // The files extract cannot read: those with bytes in the first chunk of the three blocks.
    const out = path.join(damaged.dir, 'out');
    const extract = strata(['dump', 'extract', damaged.spec, '/', out]);
    assert.equal(extract.code, 4, extract.stderr);
    const expected = [...extract.stderr.matchAll(/lost: (\S+):/g)].map((x) => x[1]!).sort();
    assert.ok(expected.length >= 1);
    const r = scrubJson(damaged.spec);
    assert.equal(r.code, 4, r.stdout);
    assert.deepEqual(r.doc.lost.files, expected);
    assert.equal(r.doc.lost.stripes, 1);
    const s = r.doc.stripes[0];
    assert.deepEqual([s.id, s.status, s.lostChunks], [stripe.id, 'lost', 1]);
    for (const b of s.blocks.slice(0, 3)) {
      assert.equal(b.state, 'bad');
      assert.match(b.note, /cannot be rebuilt: more than 2 blocks of the stripe are bad at the same place/);
    }
    assert.deepEqual(hashes(damaged.members), before, 'nothing rebuilt from too few blocks');
    const human = strata(['scrub', damaged.spec]);
    assert.equal(human.code, 4);
    assert.match(human.stdout, new RegExp(`^stripe ${stripe.id} \\(4\\+2\\): LOST in part`, 'm'));
    assert.match(human.stdout, /^  block 0 \(data\) on member \d+ \(\S+\) at offset \d+: 1 of 64 chunks fail their checksum \(first at byte 0 of the block\): NOT repaired: /m);
    assert.match(human.stdout, new RegExp(`^lost files: ${expected.map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join(', ')}$`, 'm'));
  });

  test('-n with members deleted and a block zeroed reports what a repair would do and writes nothing', { timeout: 60_000 }, async () => {
    const damaged = cloneImage(original);
    const stripe = fullStripe(stripes);
    const victim = stripe.blocks.find((b) => b.member !== 1)!;
    zeroRange(damaged.members[victim.member]!, victim.offset, stripe.blockSize);
    fs.unlinkSync(damaged.members[1]!);
    const before = hashes(damaged.members);
    const r = scrubJson(damaged.spec, ['-n']);
    assert.equal(r.code, 4, r.stdout);
    assert.equal(r.doc.members[1].problem.status, 'repairable');
    assert.equal(r.doc.totals.uncorrectable, 0);
    assert.equal(r.doc.totals.repairable, r.doc.totals.errorsFound);
    assert.deepEqual(hashes(damaged.members), before);
    assert.ok(!fs.existsSync(damaged.members[1]!));
  });

  test('two deleted members named out of member order are not recreated: nothing tells which path was whose', { timeout: 60_000 }, async () => {
    const damaged = cloneImage(original);
    fs.unlinkSync(damaged.members[2]!);
    fs.unlinkSync(damaged.members[3]!);
    // m1.img, which exists, is named where member 2 belongs: the order is not member order.
    const shuffled = [0, 2, 1, 3, 4, 5].map((i) => damaged.members[i]!).join(':');
    const r = scrubJson(shuffled);
    assert.equal(r.code, 4, r.stdout);
    assert.equal(r.doc.degraded, true);
    assert.match(r.doc.members[2].problem.note, /name every member, in member order/);
    assert.ok(!fs.existsSync(damaged.members[2]!) && !fs.existsSync(damaged.members[3]!));
    assert.deepEqual(r.doc.lost.files, []);
    // Named in order, the same run recreates both.
    await assertRestored(damaged, original);
  });
});

describe('--ec 4+2 with metadata on 4 members', () => {
  test('three members gone: exit 4, the lost files named exactly, the members are not recreated', { timeout: 120_000 }, async () => {
    const built = await buildCorpusImage(6, ['--ec', '4+2', '--metadata-replicas', '4'], { files: 300, bytes: 12_000_000, seed: 43 });
    const gone = [0, 2, 3];
    hideMembers(built, gone);
    const expected = await lostOnExtract(built, gone);
    const r = scrubJson(built.spec);
    assert.equal(r.code, 4, r.stdout);
    assert.equal(r.doc.result, 'uncorrected');
    assert.deepEqual(r.doc.lost.files, expected);
    assert.equal(r.doc.lost.nodes, 0);
    assert.ok(r.doc.lost.stripes > 0);
    assert.equal(r.doc.degraded, true);
    for (const i of gone) {
      assert.match(r.doc.members[i].problem.note, /3 members are missing, more than the 2 this image was made to survive losing/);
      assert.ok(!fs.existsSync(built.members[i]!));
    }
    // Nothing was rewritten from too few blocks: the next scrub finds the same.
    const again = scrubJson(built.spec);
    assert.equal(again.code, 4);
    assert.deepEqual(again.doc.lost.files, expected);
  });
});

describe('--ec 4+2 --checksum none', () => {
  test('data kept without checksums is still located and repaired through the stripe chunk checksums', { timeout: 60_000 }, async () => {
    const built = await buildCorpusImage(6, ['--ec', '4+2', '--checksum', 'none'], { files: 120, bytes: 4_000_000, seed: 44 });
    const original = cloneImage(built);
    const stripe = stripesOf(built.spec)[0]!;
    const b = stripe.blocks[1]!;
    flipBits(built.members[b.member]!, b.offset, 8192, 1, 3);
    const { first } = await assertRestored(built, original);
    assert.deepEqual(first.doc.stripes[0].blocks.map((x: { state: string }) => x.state), ['good', 'repaired', 'good', 'good', 'good', 'good']);
    // The extent itself has no checksum: its copy cannot be judged alone and is not listed.
    assert.deepEqual(first.doc.extents, []);
  });
});

describe('--ec 8+3 over 11 members', () => {
  let original: BuiltImage;
  let stripes: StripeRow[];
  before(async () => {
    original = await buildCorpusImage(11, ['--ec', '8+3'], { files: 400, bytes: 24_000_000, seed: 83 });
    stripes = stripesOf(original.spec);
    assert.ok(stripes.length >= 6, `${stripes.length} stripes`);
    assert.equal(scrubJson(original.spec).code, 0);
  });

  for (const gone of [[0, 1, 2], [3, 7, 10]]) {
    test(`members ${gone.join(', ')} deleted: recreated and refilled`, { timeout: 120_000 }, async () => {
      const damaged = cloneImage(original);
      for (const i of gone) fs.unlinkSync(damaged.members[i]!);
      const { first } = await assertRestored(damaged, original);
      for (const i of gone) assert.equal(first.doc.members[i].problem.status, 'repaired');
    });
  }

  test('three whole blocks of one stripe zeroed: rebuilt from the other eight', { timeout: 60_000 }, async () => {
    const damaged = cloneImage(original);
    const stripe = fullStripe(stripes);
    for (const i of [1, 6, 9]) zeroRange(damaged.members[stripe.blocks[i]!.member]!, stripe.blocks[i]!.offset, stripe.blockSize);
    const { first } = await assertRestored(damaged, original);
    assert.deepEqual(first.doc.stripes[0].blocks.map((b: { state: string }, i: number) => (b.state === 'repaired' ? i : -1)).filter((i: number) => i >= 0), [1, 6, 9]);
  });
});

describe('--ec 8+3 with metadata on 4 members', () => {
  test('four members gone: exit 4 and the lost files named exactly', { timeout: 120_000 }, async () => {
    // m+2 = 5 metadata copies is more than a node pointer holds (4), so the four members taken
    // are chosen to leave a copy of every node: then every lost file can be named.
    const built = await buildCorpusImage(11, ['--ec', '8+3', '--metadata-replicas', '4'], { files: 400, bytes: 24_000_000, seed: 84 });
    const nodes = nodesOf(built.spec);
    const gone = combinations(11, 4).find((set) => nodes.every((n) => n.copies.some((c) => !set.includes(c.member))))!;
    assert.ok(gone, 'some four members leave a copy of every node');
    hideMembers(built, gone);
    const expected = await lostOnExtract(built, gone);
    const r = scrubJson(built.spec);
    assert.equal(r.code, 4, r.stdout);
    assert.deepEqual(r.doc.lost.files, expected);
    assert.equal(r.doc.lost.nodes, 0);
  });
});

test('a stripe block that reads short (truncated member) is rebuilt after the file is extended', { timeout: 60_000 }, async () => {
  const built = await buildCorpusImage(6, ['--ec', '4+2'], { files: 150, bytes: 6_000_000, seed: 45 });
  const original = cloneImage(built);
  const stripes = stripesOf(built.spec);
  const last = stripes[stripes.length - 1]!;
  // Cut member of the last stripe's first block in the middle of that block.
  const victim = last.blocks[0]!;
  fs.truncateSync(built.members[victim.member]!, victim.offset + 3 * CHUNK + 100);
  const before = readRange(original.members[victim.member]!, victim.offset, 3 * CHUNK);
  const first = scrubJson(built.spec);
  assert.equal(first.code, 1, first.stdout);
  assert.equal(first.doc.members[victim.member].problem.kind, 'short');
  assert.ok(first.doc.members[victim.member].stripeBlocksNotInFile >= 1);
  assert.equal(scrubJson(built.spec).code, 0);
  assert.ok(readRange(built.members[victim.member]!, victim.offset, 3 * CHUNK).equals(before));
  assert.deepEqual(hashes(built.members), hashes(original.members));
  await assertExtractsIntact(built, built.spec, DIFF);
});
