// Extraction safety: `dump extract` and `dump tar` of images whose directory entries were
// rewritten to be hostile. Each case extracts into <sandbox>/out next to a sentinel folder and
// checks that nothing outside `out` changed, that the bad entry is named on stderr, and that
// the good entries were extracted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { BTREE, DT, KEY_TYPE } from '../../format/layout.js';
import { nameHash, type Key } from '../../format/keys.js';
import { readTar } from '../../fs/tar/reader.js';
import { isOneLineError, strata, STRATA, tempDir } from '../helpers/cli.js';
import { direntKey, entry, file, imageOf, inumOf, listOut, nobodyPrefix, rawDirentKey, readKeys, rewriteKeys, sandbox, snapshotOutside, type Sandbox } from './helpers.js';

const BASE = [file('good', 'good\n'), entry('sub', 'dir'), file('sub/inner', 'inner\n'), file('victim', 'victim\n')];

async function baseImage(): Promise<{ dir: string; img: string; victim: number; sub: number }> {
  const dir = tempDir('strata-security-img-');
  const img = await imageOf(dir, BASE);
  const { keys } = await readKeys(img, BTREE.dirents);
  return { dir, img, victim: inumOf(keys, 1, 'victim'), sub: inumOf(keys, 1, 'sub') };
}

function extractInto(img: string, box: Sandbox): { code: number; stderr: string; listing: string[] } {
  const before = snapshotOutside(box);
  const r = strata(['dump', 'extract', img, '/', box.out]);
  assert.equal(snapshotOutside(box), before, 'something outside the extraction folder changed');
  return { code: r.code, stderr: r.stderr, listing: listOut(box) };
}

function assertGoodEntriesExtracted(box: Sandbox): void {
  assert.equal(fs.readFileSync(path.join(box.out, 'good'), 'utf8'), 'good\n');
  assert.equal(fs.readFileSync(path.join(box.out, 'sub', 'inner'), 'utf8'), 'inner\n');
}

/** Add dirents to the root (or `dir`) of the base image. */
async function withDirents(img: string, add: (keys: Key[]) => Key[]): Promise<void> {
  await rewriteKeys(img, BTREE.dirents, (keys) => [...keys, ...add(keys)]);
}

async function tarNames(img: string): Promise<{ names: string[]; stderr: string; code: number }> {
  const r = spawnSync(process.execPath, [STRATA, 'dump', 'tar', img, '/'], { env: { ...process.env, CI: '1', NO_COLOR: '1' }, maxBuffer: 1 << 28 });
  const names: string[] = [];
  if (r.status === 0) {
    // Our own reader refuses absolute names and ".." components: reading it back proves none.
    for await (const m of readTar([r.stdout], { archiveName: 'dump tar output' })) names.push(m.entry.path.toString('latin1'));
  }
  return { names, stderr: r.stderr.toString(), code: r.status ?? -1 };
}

const badNames: Array<[string, Buffer, RegExp]> = [
  ['a name with "/" that climbs out', Buffer.from('../escaped'), /name contains "\/"/],
  ['a name with "/" inside', Buffer.from('sub/inner2'), /name contains "\/"/],
  ['the name "."', Buffer.from('.'), /name is "\."/],
  ['the name ".."', Buffer.from('..'), /name is "\.\."/],
  ['a name with NUL', Buffer.from('a\0b'), /name contains NUL/],
];

for (const [what, name, reason] of badNames) {
  test(`extraction skips and reports ${what}, and extracts the rest`, async () => {
    const { img, victim } = await baseImage();
    await withDirents(img, () => [direntKey(1, name, victim, DT.file)]);
    const box = sandbox();
    const r = extractInto(img, box);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, reason);
    assertGoodEntriesExtracted(box);
    assert.ok(!fs.existsSync(path.join(box.dir, 'escaped')), 'an entry landed outside the destination');
    assert.deepEqual(r.listing.filter((l) => !/^(f|d) (good|sub|sub\/inner|victim)$/.test(l)), []);
    const tar = await tarNames(img);
    assert.equal(tar.code, 0, tar.stderr);
    assert.match(tar.stderr, reason);
    assert.ok(!tar.names.includes(name.toString('latin1')));
  });
}

test('extraction skips and reports an empty name and a 256-byte name, which no dirent can hold', async () => {
  const { img, victim } = await baseImage();
  await withDirents(img, () => [
    rawDirentKey(1, 7, Buffer.alloc(0), victim, DT.file, 0),
    rawDirentKey(1, nameHash(Buffer.alloc(256, 0x41)), Buffer.alloc(256, 0x41), victim, DT.file, 256),
  ]);
  const box = sandbox();
  const r = extractInto(img, box);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /dirent name length 0 does not match value size 16/);
  assert.match(r.stderr, /dirent name length 0 does not match value size 272/);
  assertGoodEntriesExtracted(box);
});

test('a symlink and a directory with the same name: the second is skipped, nothing is written through the link', async () => {
  for (const symlinkFirst of [true, false]) {
    const dir = tempDir('strata-security-img-');
    const box = sandbox();
    // The symlink points at the sentinel folder by absolute path: writing a/f through it would
    // create sentinel/f.
    const img = await imageOf(dir, [...BASE, entry('a', 'symlink', { linkTarget: Buffer.from(box.sentinel) }), entry('adir', 'dir'), file('adir/f', 'payload\n')]);
    const { keys } = await readKeys(img, BTREE.dirents);
    const link = inumOf(keys, 1, 'a');
    const adir = inumOf(keys, 1, 'adir');
    const name = Buffer.from('a');
    await rewriteKeys(img, BTREE.dirents, (ks) => [
      ...ks.filter((k) => !(k.inode === 1 && (k.offset === nameHash(name) || k.offset === nameHash(Buffer.from('adir'))))),
      direntKey(1, name, symlinkFirst ? link : adir, symlinkFirst ? DT.symlink : DT.dir, 0),
      direntKey(1, name, symlinkFirst ? adir : link, symlinkFirst ? DT.dir : DT.symlink, 1),
    ]);
    const r = extractInto(img, box);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /\/a: duplicate name in its directory/);
    assert.ok(!fs.existsSync(path.join(box.sentinel, 'f')), 'a file was written through the symlink');
    const st = fs.lstatSync(path.join(box.out, 'a'));
    assert.equal(symlinkFirst ? st.isSymbolicLink() : st.isDirectory(), true);
    assertGoodEntriesExtracted(box);
  }
});

test('a directory entry pointing at an ancestor (a loop) is skipped; extraction ends', async () => {
  const { img, sub } = await baseImage();
  await withDirents(img, () => [direntKey(sub, Buffer.from('loop'), 1, DT.dir), direntKey(sub, Buffer.from('self'), sub, DT.dir)]);
  const box = sandbox();
  const r = extractInto(img, box);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /\/sub\/loop: directory already visited/);
  assert.match(r.stderr, /\/sub\/self: directory already visited/);
  assertGoodEntriesExtracted(box);
  assert.ok(!fs.existsSync(path.join(box.out, 'sub', 'loop')));
});

test('a hardlinked directory (a second name for a directory) is extracted once', async () => {
  const { img, sub } = await baseImage();
  await withDirents(img, () => [direntKey(1, Buffer.from('sub2'), sub, DT.dir)]);
  const box = sandbox();
  const r = extractInto(img, box);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /\/sub2: directory already visited/);
  assert.ok(!fs.existsSync(path.join(box.out, 'sub2')));
  assertGoodEntriesExtracted(box);
});

test('symlinks pointing outside are restored as symlinks and never followed', async () => {
  const dir = tempDir('strata-security-img-');
  const box = sandbox();
  const img = await imageOf(dir, [
    ...BASE,
    entry('up', 'symlink', { linkTarget: Buffer.from('../sentinel') }),
    entry('abs', 'symlink', { linkTarget: Buffer.from(path.join(box.sentinel, 'keep')) }),
    // A hardlink's first name is a symlink: the link is to the symlink, not through it.
    entry('abs2', 'hardlink', { linkTarget: Buffer.from('abs') }),
  ]);
  const r = extractInto(img, box);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(fs.readlinkSync(path.join(box.out, 'up')), '../sentinel');
  assert.equal(fs.readlinkSync(path.join(box.out, 'abs')), path.join(box.sentinel, 'keep'));
  assert.ok(fs.lstatSync(path.join(box.out, 'abs2')).isSymbolicLink());
  assertGoodEntriesExtracted(box);
  // Extracting again over the first extraction replaces the links; still nothing outside moves.
  const again = extractInto(img, box);
  assert.equal(again.code, 0, again.stderr);
});

test('an existing symlink in the destination is replaced, not followed', async () => {
  const { img } = await baseImage();
  const box = sandbox();
  fs.mkdirSync(box.out);
  // Left by someone else: out/sub -> sentinel. The image's directory "sub" must not land there.
  fs.symlinkSync(box.sentinel, path.join(box.out, 'sub'));
  fs.symlinkSync(path.join(box.sentinel, 'keep'), path.join(box.out, 'good'));
  const r = extractInto(img, box);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(fs.lstatSync(path.join(box.out, 'sub')).isDirectory());
  assertGoodEntriesExtracted(box);
});

test('device nodes and setuid bits are restored only as root; as another user they are skipped and reported', async (t) => {
  const dir = tempDir('strata-security-img-');
  const img = await imageOf(dir, [...BASE, entry('null', 'char', { rdevMajor: 1, rdevMinor: 3 }), entry('disk', 'block', { rdevMajor: 7, rdevMinor: 0 }), file('suid', '#!/bin/sh\n', { perm: 0o6755 })]);
  fs.chmodSync(dir, 0o755);
  fs.chmodSync(img, 0o644);
  const nobody = nobodyPrefix();
  if (!nobody) {
    t.skip('needs root and setpriv(1) to run the extraction as another user');
    return;
  }
  const box = sandbox();
  fs.chmodSync(box.dir, 0o777);
  const before = snapshotOutside(box);
  const [cmd, ...pre] = nobody;
  const r = spawnSync(cmd!, [...pre, process.execPath, STRATA, 'dump', 'extract', img, '/', box.out], { env: { ...process.env, CI: '1', NO_COLOR: '1' } });
  const stderr = r.stderr.toString();
  assert.equal(r.status, 0, stderr);
  assert.equal(snapshotOutside(box), before);
  assert.match(stderr, /skipped device \/null: device nodes are restored only when running as root/);
  assert.match(stderr, /skipped device \/disk/);
  assert.ok(!fs.existsSync(path.join(box.out, 'null')));
  assert.equal(fs.statSync(path.join(box.out, 'suid')).mode & 0o7777, 0o755, 'setuid/setgid bits must be dropped for a non-root user');
  assertGoodEntriesExtracted(box);

  if (process.getuid?.() === 0) {
    // As root the same image restores them (documented: root asked for a faithful copy).
    const rootBox = sandbox();
    const rr = extractInto(img, rootBox);
    assert.equal(rr.code, 0, rr.stderr);
    assert.ok(fs.lstatSync(path.join(rootBox.out, 'null')).isCharacterDevice());
    assert.equal(fs.statSync(path.join(rootBox.out, 'suid')).mode & 0o7777, 0o6755);
  }
});

test('a dirent naming a missing inode or an inode of unknown type is skipped and reported', async () => {
  const { img, victim } = await baseImage();
  await withDirents(img, () => [direntKey(1, Buffer.from('ghost'), 999_999, DT.file)]);
  await rewriteKeys(img, BTREE.inodes, (keys) => keys.map((k) => {
    if (k.inode !== victim || k.type !== KEY_TYPE.inode) return k;
    const value = Buffer.from(k.value);
    value.writeUInt32LE(0o170644, 0); // S_IFMT bits of no known type
    return { ...k, value };
  }));
  const box = sandbox();
  const r = extractInto(img, box);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /\/ghost: inode 999999 is missing/);
  assert.match(r.stderr, /\/victim: unknown file type/);
  assertGoodEntriesExtracted(box);
});

test('an extract error is one line naming the image position, never a stack trace', async () => {
  const { img } = await baseImage();
  await rewriteKeys(img, BTREE.inodes, (keys) => keys.filter((k) => k.inode !== 1));
  const box = sandbox();
  const r = extractInto(img, box);
  assert.equal(r.code, 8);
  assert.ok(isOneLineError(r.stderr), r.stderr);
});
