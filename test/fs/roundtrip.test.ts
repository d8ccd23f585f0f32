// The round trip of issue 2: a tree with every file kind goes in with mkfs --from and comes
// out identical with dump extract, from a directory, from a tarball, and through dump tar.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { strata, tempDir } from '../helpers/cli.js';
import { diffTrees, makeCorpus, makeEdgeCaseTree, snapshotTree, type TreeField } from '../helpers/tree.js';

// Runs of zero blocks are stored as holes, so a fully written file of zeros comes back sparse:
// `sparse` is compared separately, on the file that really is sparse.
const IGNORE: TreeField[] = ['sparse'];

async function edgeSource() {
  const dir = tempDir('strata-rt-');
  const src = path.join(dir, 'src');
  fs.mkdirSync(src);
  const info = await makeEdgeCaseTree(src);
  // Snapshot before anything reads the tree: reading moves atimes on relatime mounts.
  const before = await snapshotTree(src);
  return { dir, src, info, before };
}

test('mkfs --from a directory then dump extract gives back an identical tree', { timeout: 180_000 }, async () => {
  const { dir, src, info, before } = await edgeSource();
  const img = path.join(dir, 'x.img');
  const mk = strata(['mkfs', '--from', src, img]);
  assert.equal(mk.code, 0, mk.stderr);
  const out = path.join(dir, 'out');
  const ex = strata(['dump', 'extract', img, '/', out]);
  assert.equal(ex.code, 0, ex.stderr);
  const after = await snapshotTree(out);
  assert.deepEqual(diffTrees(before, after, { ignore: IGNORE }), []);
  const sparse = fs.statSync(path.join(out, info.paths.sparseFile.toString('latin1')));
  assert.ok(sparse.blocks * 512 < sparse.size / 2, 'the sparse file came back with its holes');
});

test('mkfs --from a tarball of the tree then dump extract gives back the same tree', { timeout: 180_000 }, async () => {
  const { dir, src, before } = await edgeSource();
  const tarPath = path.join(dir, 'src.tar');
  const tar = spawnSync('tar', ['--format=pax', '--xattrs', "--xattrs-include=*", '--sparse', '-cf', tarPath, '-C', src, '.']);
  assert.equal(tar.status, 0, tar.stderr.toString());
  for (const compressed of [false, true]) {
    let archive = tarPath;
    if (compressed) {
      archive = `${tarPath}.gz`;
      assert.equal(spawnSync('sh', ['-c', `gzip -c "${tarPath}" > "${archive}"`]).status, 0);
    }
    const img = path.join(dir, `t${compressed ? 'gz' : ''}.img`);
    const mk = strata(['mkfs', '--from', archive, img]);
    assert.equal(mk.code, 0, mk.stderr);
    const out = path.join(dir, `out-${compressed}`);
    assert.equal(strata(['dump', 'extract', img, '/', out]).code, 0);
    const after = await snapshotTree(out);
    // tar cannot hold sockets; GNU tar records atime only when asked, so compare it from the image side elsewhere.
    const diffs = diffTrees(before, after, { ignore: [...IGNORE, 'atime'] }).filter((d) => !/socket/.test(d));
    assert.deepEqual(diffs, []);
  }
});

test('dump tar piped into tar -x gives back the same tree', { timeout: 180_000 }, async () => {
  const { dir, src, before } = await edgeSource();
  const img = path.join(dir, 'x.img');
  assert.equal(strata(['mkfs', '--from', src, img]).code, 0);
  const archive = strata(['dump', 'tar', img]);
  assert.equal(archive.code, 0, archive.stderr);
  const out = path.join(dir, 'out');
  fs.mkdirSync(out);
  const x = spawnSync('tar', ['-x', '--xattrs', "--xattrs-include=*", '--same-owner', '-p', '-C', out], { input: archive.stdoutBytes });
  assert.equal(x.status, 0, x.stderr.toString());
  const after = await snapshotTree(out);
  const diffs = diffTrees(before, after, { ignore: [...IGNORE, 'atime'] }).filter((d) => !/socket/.test(d));
  assert.deepEqual(diffs, []);
});

test('a 20,000-file tree round-trips with --replicas 2 over two members and with zstd', { timeout: 600_000 }, async () => {
  const dir = tempDir('strata-rt-big-');
  const src = path.join(dir, 'src');
  fs.mkdirSync(src);
  const corpus = await makeCorpus(src, { files: 20_000, bytes: 80_000_000, seed: 7 });
  assert.ok(corpus.files >= 20_000);
  for (const [name, args] of [['replicas', ['--replicas', '2']], ['zstd', ['--compression', 'zstd']]] as const) {
    // Each mkfs reads the tree, and reading a symlink moves its atime: compare against the
    // tree as this mkfs found it.
    const before = await snapshotTree(src);
    const members = name === 'replicas' ? [path.join(dir, 'r0.img'), path.join(dir, 'r1.img')] : [path.join(dir, 'z.img')];
    const mk = strata(['mkfs', ...args, '--from', src, ...members], { timeoutMs: 300_000 });
    assert.equal(mk.code, 0, mk.stderr);
    const out = path.join(dir, `out-${name}`);
    const ex = strata(['dump', 'extract', members.join(':'), '/', out], { timeoutMs: 300_000 });
    assert.equal(ex.code, 0, ex.stderr);
    assert.deepEqual(diffTrees(before, await snapshotTree(out), { ignore: IGNORE }), []);
    fs.rmSync(out, { recursive: true, force: true });
  }
  fs.rmSync(dir, { recursive: true, force: true });
});
