// Erasure-coded images: any m missing member files, or m damaged blocks of one stripe, and
// every file still extracts identical through reconstruct-read.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { strata, tempDir } from '../helpers/cli.js';
import { combinations, diffTrees, makeCorpus, snapshotTree } from '../helpers/tree.js';

async function ecImage(k: number, m: number, extra: string[] = []) {
  const dir = tempDir(`strata-ec-${k}-${m}-`);
  const src = path.join(dir, 'src');
  fs.mkdirSync(src);
  await makeCorpus(src, { files: 300, bytes: 12_000_000, seed: k * 10 + m });
  const before = await snapshotTree(src);
  const members = Array.from({ length: k + m }, (_, i) => path.join(dir, `m${i}.img`));
  const r = strata(['mkfs', '--ec', `${k}+${m}`, ...extra, '--from', src, ...members]);
  assert.equal(r.code, 0, r.stderr);
  return { dir, members, before };
}

async function extractWithout(dir: string, members: string[], gone: number[], run: string) {
  const keep = members.filter((_, i) => !gone.includes(i));
  const hidden = path.join(dir, `hidden-${run}`);
  fs.mkdirSync(hidden);
  for (const i of gone) fs.renameSync(members[i]!, path.join(hidden, path.basename(members[i]!)));
  try {
    const out = path.join(dir, `out-${run}`);
    const r = strata(['dump', 'extract', keep[0]!, '/', out]);
    return { r, out };
  } finally {
    for (const i of gone) fs.renameSync(path.join(hidden, path.basename(members[i]!)), members[i]!);
  }
}

test('--ec 4+2 over 6 members: every choice of 2 missing members still extracts identical', { timeout: 300_000 }, async () => {
  const { dir, members, before } = await ecImage(4, 2);
  for (const gone of combinations(6, 2)) {
    const { r, out } = await extractWithout(dir, members, gone, gone.join('-'));
    assert.equal(r.code, 0, `${gone}: ${r.stderr}`);
    assert.deepEqual(diffTrees(before, await snapshotTree(out), { ignore: ['sparse'] }), [], `members ${gone} missing`);
    fs.rmSync(out, { recursive: true, force: true });
  }
});

test('--ec 8+3 over 11 members: sampled choices of 3 missing members still extract identical', { timeout: 300_000 }, async () => {
  const { dir, members, before } = await ecImage(8, 3);
  for (const gone of [[0, 1, 2], [8, 9, 10], [0, 5, 10], [3, 4, 7], [1, 6, 9]]) {
    const { r, out } = await extractWithout(dir, members, gone, gone.join('-'));
    assert.equal(r.code, 0, `${gone}: ${r.stderr}`);
    assert.deepEqual(diffTrees(before, await snapshotTree(out), { ignore: ['sparse'] }), [], `members ${gone} missing`);
  }
});

test('zeroing m blocks of one stripe is repaired on read', { timeout: 120_000 }, async () => {
  const { dir, members, before } = await ecImage(4, 2);
  const stripes = JSON.parse(strata(['dump', 'btree', '--json', members[0]!, 'stripes']).stdout);
  const first = stripes.nodes.flatMap((n: { items: Array<{ text: string }> }) => n.items)[0].text as string;
  // "4+2 blocks of 262144: m1@2359296 m2@..." -> zero the first two blocks' buckets.
  const locs = [...first.matchAll(/m(\d+)@(\d+)/g)].slice(0, 2).map((x) => ({ member: Number(x[1]), offset: Number(x[2]) }));
  for (const l of locs) {
    const fd = fs.openSync(members[l.member]!, 'r+');
    fs.writeSync(fd, Buffer.alloc(262144), 0, 262144, l.offset);
    fs.closeSync(fd);
  }
  const out = path.join(dir, 'out');
  const r = strata(['dump', 'extract', members[0]!, '/', out]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /rebuilt from stripe/);
  assert.deepEqual(diffTrees(before, await snapshotTree(out), { ignore: ['sparse'] }), []);
});

test('with m+1 members missing the lost files are named, the rest extracted intact, exit 4', { timeout: 120_000 }, async () => {
  // Metadata on m+2 members outlives m+1 missing ones, so every lost file can be named.
  const { dir, members, before } = await ecImage(4, 2, ['--metadata-replicas', '4']);
  const { r, out } = await extractWithout(dir, members, [0, 1, 2], 'three');
  assert.equal(r.code, 4, r.stderr);
  const lost = [...r.stderr.matchAll(/lost: (\S+):/g)].map((x) => x[1]!);
  assert.ok(lost.length > 0);
  const diffs = diffTrees(before, await snapshotTree(out), { ignore: ['sparse'] });
  // Exactly the named files are absent; every other file is intact.
  const missing = [...new Set(diffs.map((d) => `/${d.split(':')[0]}`))];
  assert.deepEqual(missing.sort(), lost.sort());
});
