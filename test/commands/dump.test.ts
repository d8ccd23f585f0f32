import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { strata, tempDir, isOneLineError } from '../helpers/cli.js';

function image(dir: string, args: string[] = []): string {
  const src = path.join(dir, 'src');
  fs.mkdirSync(path.join(src, 'sub'), { recursive: true });
  fs.writeFileSync(path.join(src, 'a.txt'), 'alpha\n');
  fs.writeFileSync(path.join(src, 'sub', 'b.bin'), Buffer.alloc(300_000, 0x5a));
  const img = path.join(dir, 'x.img');
  const r = strata(['mkfs', ...args, '--from', src, img]);
  assert.equal(r.code, 0, r.stderr);
  return img;
}

test('a file that is not a strata image is refused with exit 8 and one line', () => {
  const dir = tempDir();
  const p = path.join(dir, 'plain');
  fs.writeFileSync(p, Buffer.alloc(1 << 20, 0x41));
  const r = strata(['dump', 'super', p]);
  assert.equal(r.code, 8);
  assert.ok(isOneLineError(r.stderr), r.stderr);
  assert.match(r.stderr, /not a strata image/);
});

test('a missing image path is exit 8 with "No such file or directory"', () => {
  const r = strata(['dump', 'super', '/nonexistent/strata.img']);
  assert.equal(r.code, 8);
  assert.match(r.stderr, /No such file or directory/);
});

test('a truncated member still opens from its first superblock copy and reports the damage', () => {
  const dir = tempDir();
  const img = image(dir);
  fs.truncateSync(img, fs.statSync(img).size - 100_000);
  const r = strata(['dump', 'cat', img, '/a.txt']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'alpha\n');
  assert.match(r.stderr, /superblock copy 1/);
});

test('a member missing from a two-member image is named in the error', () => {
  const dir = tempDir();
  const src = path.join(dir, 'src');
  fs.mkdirSync(src);
  fs.writeFileSync(path.join(src, 'f'), 'x');
  const a = path.join(dir, 'a.img');
  const b = path.join(dir, 'b.img');
  assert.equal(strata(['mkfs', '--replicas', '2', '--from', src, a, b]).code, 0);
  fs.unlinkSync(b);
  const r = strata(['dump', 'cat', a, '/f']);
  // Every extent and node has a copy on a: the read succeeds, degraded.
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'x');
  assert.match(r.stderr, /degraded|missing/);
});

test('members are found by uuid next to a named one', () => {
  const dir = tempDir();
  const src = path.join(dir, 'src');
  fs.mkdirSync(src);
  fs.writeFileSync(path.join(src, 'f'), 'found');
  assert.equal(strata(['mkfs', '--replicas', '2', '--from', src, path.join(dir, 'a.img'), path.join(dir, 'b.img')]).code, 0);
  const r = strata(['dump', 'super', '--json', path.join(dir, 'b.img')]);
  assert.equal(r.code, 0, r.stderr);
  const doc = JSON.parse(r.stdout);
  assert.deepEqual(doc.members.map((m: { present: boolean }) => m.present), [true, true]);
  assert.equal(strata(['dump', 'cat', path.join(dir, 'b.img'), '/f']).stdout, 'found');
});

test('a path that does not exist in the image is "No such file or directory" naming it', () => {
  const dir = tempDir();
  const img = image(dir);
  const r = strata(['dump', 'stat', img, '/nope/x']);
  assert.equal(r.code, 8);
  assert.match(r.stderr, /\/nope\/x: No such file or directory/);
});

test('dump ls, stat, extents and usage answer in JSON too', () => {
  const dir = tempDir();
  const img = image(dir, ['--compression', 'zstd']);
  const ls = JSON.parse(strata(['dump', 'ls', '-R', '--json', img, '/']).stdout);
  assert.deepEqual(ls.entries.map((e: { path: string }) => e.path), ['/a.txt', '/sub', '/sub/b.bin']);
  const st = JSON.parse(strata(['dump', 'stat', '--json', img, '/sub/b.bin']).stdout);
  assert.equal(st.size, 300_000);
  const ex = JSON.parse(strata(['dump', 'extents', '--json', img, '/sub/b.bin']).stdout);
  assert.equal(ex.extents.reduce((n: number, e: { length: number }) => n + e.length, 0), 300_000);
  assert.ok(ex.extents.every((e: { compression: string }) => e.compression === 'zstd'));
  const u = JSON.parse(strata(['dump', 'usage', '--json', img]).stdout);
  assert.equal(u.files.logicalBytes, 300_006);
  const b = JSON.parse(strata(['dump', 'btree', '--json', img, 'inodes']).stdout);
  assert.equal(b.nodes[0].keys, 4);
});

test('dump cat of a directory is "Is a directory"', () => {
  const dir = tempDir();
  const img = image(dir);
  const r = strata(['dump', 'cat', img, '/sub']);
  assert.equal(r.code, 8);
  assert.match(r.stderr, /Is a directory/);
});

test('an unknown subcommand suggests the nearest one and exits 16', () => {
  const r = strata(['dunp', 'super', 'x']);
  assert.equal(r.code, 16);
  assert.match(r.stderr, /dump/);
});

test('a stale backup of a member in the same folder loses to the current member file', () => {
  const dir = tempDir();
  const src = path.join(dir, 'src');
  fs.mkdirSync(src);
  fs.writeFileSync(path.join(src, 'f'), 'old');
  const a = path.join(dir, 'a.img');
  const b = path.join(dir, 'b.img');
  assert.equal(strata(['mkfs', '--replicas', '2', '--from', src, a, b]).code, 0);
  // "a-backup.img" sorts before "b.img" and carries b's member uuid with an older checkpoint.
  fs.copyFileSync(b, path.join(dir, 'a-backup.img'));
  fs.writeFileSync(path.join(dir, 'new'), 'new content');
  assert.equal(strata(['put', `${a}:${b}`, path.join(dir, 'new'), '/new']).code, 0);
  const r = strata(['dump', 'super', '--json', a]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).members[1].path, b);
});

test('a named member that does not exist is reported and the others still serve reads', () => {
  const dir = tempDir();
  const src = path.join(dir, 'src');
  fs.mkdirSync(src);
  fs.writeFileSync(path.join(src, 'f'), 'replicated');
  const a = path.join(dir, 'a.img');
  const b = path.join(dir, 'b.img');
  assert.equal(strata(['mkfs', '--replicas', '2', '--from', src, a, b]).code, 0);
  fs.unlinkSync(b);
  const r = strata(['dump', 'cat', `${a}:${b}`, '/f']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'replicated');
  assert.match(r.stderr, /does not exist|missing/);
});
