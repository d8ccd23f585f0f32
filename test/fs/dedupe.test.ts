// mkfs --dedupe: identical file contents are stored once and shared through reflink.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { strata, tempDir } from '../helpers/cli.js';
import { diffTrees, makeCorpus, snapshotTree } from '../helpers/tree.js';

test('the same file copied 100 times is stored once with --dedupe and extracts identical', async () => {
  const dir = tempDir('strata-dedupe-');
  const src = path.join(dir, 'src');
  fs.mkdirSync(src);
  const content = crypto.randomBytes(300_000);
  for (let i = 0; i < 100; i++) fs.writeFileSync(path.join(src, `copy-${i}`), content);
  fs.writeFileSync(path.join(src, 'different'), crypto.randomBytes(300_000));
  fs.linkSync(path.join(src, 'copy-0'), path.join(src, 'hardlink'));
  const before = await snapshotTree(src);
  const plain = path.join(dir, 'plain.img');
  const deduped = path.join(dir, 'dedupe.img');
  assert.equal(strata(['mkfs', '--from', src, plain]).code, 0);
  const r = strata(['mkfs', '--dedupe', '--json', '--from', src, deduped]);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(JSON.parse(r.stdout).dedupedBytes >= 99 * 300_000);
  assert.ok(fs.statSync(deduped).size * 4 < fs.statSync(plain).size, 'dedupe saved space');
  const out = path.join(dir, 'out');
  assert.equal(strata(['dump', 'extract', deduped, '/', out]).code, 0);
  assert.deepEqual(diffTrees(before, await snapshotTree(out), { ignore: ['sparse'] }), []);
  // Hardlinks stay hardlinks, not shared copies.
  assert.equal(fs.statSync(path.join(out, 'hardlink')).ino, fs.statSync(path.join(out, 'copy-0')).ino);
  const usage = JSON.parse(strata(['dump', 'usage', '--json', deduped]).stdout);
  assert.ok(usage.reflink.savedBytes >= 98 * 300_000);
  const ext = JSON.parse(strata(['dump', 'extents', '--json', deduped, '/copy-7']).stdout);
  assert.ok(ext.extents.every((e: { shared: boolean }) => e.shared));
});

test('a realistic tree with natural duplicates takes less space with --dedupe, also from a tarball', async () => {
  const dir = tempDir('strata-dedupe-corpus-');
  const src = path.join(dir, 'src');
  fs.mkdirSync(src);
  await makeCorpus(src, { files: 3000, bytes: 40_000_000, seed: 3 });
  const before = await snapshotTree(src);
  const sizes: Record<string, number> = {};
  for (const [name, args] of [['plain', []], ['dedupe', ['--dedupe']]] as const) {
    const img = path.join(dir, `${name}.img`);
    assert.equal(strata(['mkfs', ...args, '--from', src, img]).code, 0);
    sizes[name] = JSON.parse(strata(['dump', 'usage', '--json', img]).stdout).totals.usedBytes;
  }
  assert.ok(sizes.dedupe! < sizes.plain!, `dedupe used ${sizes.dedupe}, plain ${sizes.plain}`);
  const tarball = path.join(dir, 'src.tar');
  assert.equal(strata(['dump', 'tar', path.join(dir, 'dedupe.img')], {}).code, 0);
  fs.writeFileSync(tarball, strata(['dump', 'tar', path.join(dir, 'dedupe.img')]).stdoutBytes);
  const fromTar = path.join(dir, 'tar.img');
  assert.equal(strata(['mkfs', '--dedupe', '--from', tarball, fromTar]).code, 0);
  const out = path.join(dir, 'out');
  assert.equal(strata(['dump', 'extract', fromTar, '/', out]).code, 0);
  assert.deepEqual(diffTrees(before, await snapshotTree(out), { ignore: ['sparse', 'atime'] }), []);
});
