import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { strata, tempDir, sha256File, isOneLineError, STRATA } from '../helpers/cli.js';

function smallTree(dir: string): string {
  const src = path.join(dir, 'src');
  fs.mkdirSync(path.join(src, 'd/e'), { recursive: true });
  fs.writeFileSync(path.join(src, 'small.txt'), 'hello\n');
  fs.writeFileSync(path.join(src, 'd/big.bin'), Buffer.alloc(600_000, 7));
  fs.writeFileSync(path.join(src, 'd/e/text.txt'), 'lorem ipsum '.repeat(50_000));
  fs.symlinkSync('small.txt', path.join(src, 'link'));
  return src;
}

const UUID = '0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9';

test('two runs with --uuid and SOURCE_DATE_EPOCH give byte-identical members', () => {
  const dir = tempDir();
  const src = smallTree(dir);
  const env = { SOURCE_DATE_EPOCH: '1700000000' };
  const hashes = [1, 2].map((run) => {
    const a = path.join(dir, `a${run}.img`);
    const b = path.join(dir, `b${run}.img`);
    const r = strata(['mkfs', '--uuid', UUID, '--replicas', '2', '--compression', 'zstd', '--from', src, a, b], { env });
    assert.equal(r.code, 0, r.stderr);
    return [sha256File(a), sha256File(b)];
  });
  assert.deepEqual(hashes[0], hashes[1]);
});

test('mkfs refuses to overwrite a non-empty file without --force (exit 16)', () => {
  const dir = tempDir();
  const img = path.join(dir, 'x.img');
  fs.writeFileSync(img, 'precious');
  const r = strata(['mkfs', img]);
  assert.equal(r.code, 16);
  assert.ok(isOneLineError(r.stderr), r.stderr);
  assert.equal(fs.readFileSync(img, 'utf8'), 'precious');
});

test('an image too small for --from fails with exit 8 and leaves no openable image', () => {
  const dir = tempDir();
  const src = path.join(dir, 'src');
  fs.mkdirSync(src);
  fs.writeFileSync(path.join(src, 'big'), Buffer.alloc(8 << 20, 1));
  const img = path.join(dir, 'small.img');
  const r = strata(['mkfs', '--size', '4M', '--from', src, img]);
  assert.equal(r.code, 8, r.stderr);
  assert.ok(isOneLineError(r.stderr), r.stderr);
  assert.match(r.stderr, /full|space/);
  const d = strata(['dump', 'super', img]);
  assert.equal(d.code, 8);
});

test('a failed mkfs over an existing image with --force leaves nothing dump would accept', () => {
  const dir = tempDir();
  const img = path.join(dir, 'x.img');
  assert.equal(strata(['mkfs', img]).code, 0);
  assert.equal(strata(['dump', 'super', img]).code, 0);
  const r = strata(['mkfs', '--force', '--from', path.join(dir, 'missing-dir'), img]);
  assert.equal(r.code, 16, r.stderr);
  // The usage error came before any byte was written.
  assert.equal(strata(['dump', 'super', img]).code, 0);
  const src = path.join(dir, 'src');
  fs.mkdirSync(src);
  fs.writeFileSync(path.join(src, 'big'), Buffer.alloc(8 << 20, 1));
  const r2 = strata(['mkfs', '--force', '--size', '4M', '--from', src, img]);
  assert.equal(r2.code, 8);
  assert.equal(strata(['dump', 'super', img]).code, 8);
});

test('a missing source file or directory is one clear line', () => {
  const dir = tempDir();
  const r = strata(['mkfs', '--from', path.join(dir, 'nope'), path.join(dir, 'x.img')]);
  assert.equal(r.code, 16);
  assert.ok(isOneLineError(r.stderr), r.stderr);
  assert.match(r.stderr, /No such file or directory/);
});

test('bad option values are usage errors (exit 16)', () => {
  const dir = tempDir();
  const img = path.join(dir, 'x.img');
  for (const args of [['--replicas', '0'], ['--block-size', '3000'], ['--compression', 'lz4'], ['--checksum', 'md5'], ['--uuid', 'nope'], ['--replicas', '2'], ['--size', 'big']]) {
    const r = strata(['mkfs', ...args, img]);
    assert.equal(r.code, 16, `${args.join(' ')}: ${r.stderr}`);
    assert.ok(isOneLineError(r.stderr), r.stderr);
  }
  assert.equal(fs.existsSync(img), false);
});

test('--ec with too few members, a bad shape, or with --replicas is a usage error (exit 16)', () => {
  const dir = tempDir();
  const members = [0, 1, 2].map((i) => path.join(dir, `m${i}.img`));
  for (const args of [['--ec', '4+2'], ['--ec', '2+1', '--replicas', '2'], ['--ec', 'four'], ['--ec', '17+1'], ['--ec', '2+5']]) {
    const r = strata(['mkfs', ...args, ...members]);
    assert.equal(r.code, 16, `${args.join(' ')}: ${r.stderr}`);
    assert.ok(isOneLineError(r.stderr), r.stderr);
  }
  assert.equal(members.some((m) => fs.existsSync(m)), false);
});

test('mkfs --json prints one document with the members', () => {
  const dir = tempDir();
  const r = strata(['mkfs', '--json', '--size', '16M', path.join(dir, 'x.img')]);
  assert.equal(r.code, 0, r.stderr);
  const doc = JSON.parse(r.stdout);
  assert.equal(doc.version, 1);
  assert.equal(doc.members[0].size, 16 << 20);
  assert.equal(fs.statSync(path.join(dir, 'x.img')).size, 16 << 20);
});

test('an unreadable source file is one clear line naming it (exit 8) and leaves no image', { skip: process.getuid?.() !== 0 && 'needs root to drop to another user' }, () => {
  const dir = tempDir();
  fs.chmodSync(dir, 0o777);
  const src = path.join(dir, 'src');
  fs.mkdirSync(src);
  fs.writeFileSync(path.join(src, 'ok.txt'), 'fine');
  fs.writeFileSync(path.join(src, 'secret.txt'), 'root only');
  fs.chmodSync(path.join(src, 'secret.txt'), 0o000);
  const img = path.join(dir, 'x.img');
  // Root reads everything; run mkfs as nobody so the permission check applies.
  const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, STRATA, 'mkfs', '--from', src, img], { env: { ...process.env, NO_COLOR: '1' } });
  assert.equal(r.status, 8, r.stderr.toString());
  assert.ok(isOneLineError(r.stderr.toString()), r.stderr.toString());
  assert.match(r.stderr.toString(), /secret\.txt: Permission denied/);
  assert.equal(fs.existsSync(img), false);
});
