// fsck in process (repair/fsck.ts): the modes, what -n and a clean -y never write, -p's limits,
// interruption, degraded images, and the btree rebuild it relies on.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runFsck, type FsckReport } from '../../repair/fsck.js';
import { Volume } from '../../format/volume.js';
import { FsReader } from '../../fs/reader.js';
import { BTREE, KEY_TYPE } from '../../format/layout.js';
import { ops } from '../../format/keys.js';
import { at, makeBase, memberNames, Workbench, type BaseName } from './fsck-corrupt.js';

const bases = new Map<BaseName, string>();
let scratch = '';

before(async () => {
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-fsck-unit-'));
  for (const b of ['single', 'mirror'] as const) bases.set(b, await makeBase(path.join(scratch, `base-${b}`), b));
});

after(() => fs.rmSync(scratch, { recursive: true, force: true }));

/** A fresh copy of a base; returns its workbench. */
function copyOf(base: BaseName, name: string): Workbench {
  const dir = path.join(scratch, name);
  fs.mkdirSync(dir, { recursive: true });
  for (const m of memberNames(base)) fs.copyFileSync(path.join(scratch, `base-${base}`, m), path.join(dir, m));
  return new Workbench(dir, bases.get(base)!);
}

function hash(w: Workbench): string {
  return w.spec.split(':').map((p) => crypto.createHash('sha256').update(fs.readFileSync(p)).digest('hex')).join();
}

const codes = (r: FsckReport) => r.problems.map((p) => p.code);

test('a clean image is clean in every mode, and fsck -y writes nothing to it', async () => {
  const w = copyOf('single', 'clean');
  const before = hash(w);
  for (const mode of ['check', 'yes', 'preen'] as const) {
    const r = await runFsck(w.spec, { mode });
    assert.deepEqual(r.problems, [], mode);
    assert.equal(r.summary.exitCode, 0);
    assert.equal(r.summary.result, 'clean');
    assert.equal(r.summary.modified, false);
  }
  assert.equal(hash(w), before);
});

test('the summary counts what was checked and every pass is timed', async () => {
  const r = await runFsck(copyOf('single', 'counts').spec, { mode: 'check' });
  assert.equal(r.summary.inodes, 14);
  assert.equal(r.summary.directories, 6);
  assert.equal(r.summary.files, 5);
  assert.deepEqual(r.passes.map((p) => p.pass), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
  assert.match(r.uuid, /^[0-9a-f]{32}$/);
});

test('fsck -n reports every problem, fixes none, and writes no byte', async () => {
  const w = copyOf('single', 'check-only');
  await w.editInode('/docs/readme.txt', { nlink: 9 });
  await w.editDirent('/docs', 'big.bin', (d, k) => ({ ...k, value: ops.dirent.encode({ ...d, target: 999 }) }));
  const before = hash(w);
  const r = await runFsck(w.spec, { mode: 'check' });
  assert.deepEqual(codes(r), ['DIRENT_TARGET_MISSING', 'INODE_UNATTACHED', 'NLINK_WRONG']);
  assert.ok(r.problems.every((p) => !p.fixed));
  assert.equal(r.summary.exitCode, 4);
  assert.equal(hash(w), before);
});

test('fsck -p fixes what is preen-ok, leaves the rest, and exits 4; fsck -y then fixes the rest', async () => {
  const w = copyOf('single', 'preen');
  await w.editInode('/src/tool', { nlink: 3 });
  await w.editDirent('/docs', 'big.bin', (d, k) => ({ ...k, value: ops.dirent.encode({ ...d, target: 999 }) }));
  const preen = await runFsck(w.spec, { mode: 'preen' });
  const fixed = Object.fromEntries(preen.problems.map((p) => [p.code, p.fixed]));
  assert.deepEqual(fixed, { DIRENT_TARGET_MISSING: false, INODE_UNATTACHED: false, NLINK_WRONG: true });
  assert.equal(preen.summary.exitCode, 4);
  const again = await runFsck(w.spec, { mode: 'check' });
  assert.deepEqual(codes(again), ['DIRENT_TARGET_MISSING', 'INODE_UNATTACHED']);
  const yes = await runFsck(w.spec, { mode: 'yes' });
  assert.equal(yes.summary.exitCode, 1);
  assert.equal((await runFsck(w.spec, { mode: 'check' })).summary.exitCode, 0);
});

test('fsck -p writes nothing when the btree structure needs a rebuild it must not make alone', async () => {
  const w = copyOf('single', 'preen-structure');
  await w.editInode('/src/tool', { nlink: 3 });
  const n = await w.node(BTREE.dirents, at(1));
  await w.flip(n.pointers[0]!.member, n.pointers[0]!.offset + 8, 3);
  const before = hash(w);
  const r = await runFsck(w.spec, { mode: 'preen' });
  assert.equal(r.summary.exitCode, 4);
  assert.ok(r.problems.every((p) => !p.fixed));
  assert.match(r.notes.join(), /nothing written; run strata fsck -y/);
  assert.equal(hash(w), before);
});

test('a btree rebuilt from salvaged keys reads back every file the damaged node held', async () => {
  const w = copyOf('single', 'rebuild');
  await w.editKeys(BTREE.inodes, at(1), (keys) => [keys[1]!, keys[0]!, ...keys.slice(2)]);
  const r = await runFsck(w.spec, { mode: 'yes' });
  assert.deepEqual(codes(r), ['KEYS_OUT_OF_ORDER']);
  const vol = await Volume.open(w.spec, {});
  try {
    const reader = new FsReader(vol.img);
    assert.equal(reader.readAll(reader.lookup('/src/tool').inum, 20_000, 'tool').length, 20_000);
    assert.equal(reader.readdir(1).length, 3);
  } finally {
    vol.abandon();
  }
});

test('MutableBtree.resetToEmpty, inserts and a checkpoint rebuild a non-alloc btree in place', async () => {
  const w = copyOf('single', 'reset');
  const before = await w.keys(BTREE.dirents);
  const vol = await Volume.open(w.spec, { writable: true });
  try {
    const tree = vol.trees[BTREE.dirents]!;
    const keys = [...tree.range()].map((k) => ({ ...k, value: Buffer.from(k.value) }));
    tree.resetToEmpty();
    for (const k of keys.reverse()) tree.insert(k);
    vol.checkpoint();
  } finally {
    vol.close();
  }
  assert.deepEqual((await w.keys(BTREE.dirents)).map((k) => k.value.toString('hex')), before.map((k) => k.value.toString('hex')));
  assert.equal((await runFsck(w.spec, { mode: 'check' })).summary.exitCode, 0);
});

test('an interrupted fsck -y exits 32 and leaves an image the next fsck -y finishes', async () => {
  const w = copyOf('single', 'interrupt');
  await w.editInode('/src/tool', { nlink: 3 });
  await w.editDirent('/docs', 'big.bin', (d, k) => ({ ...k, value: ops.dirent.encode({ ...d, target: 999 }) }));
  const controller = new AbortController();
  const r = await runFsck(w.spec, {
    mode: 'yes', signal: controller.signal,
    onProgress: (pass) => {
      if (pass === 'dirents') controller.abort();
    },
  });
  assert.equal(r.summary.result, 'interrupted');
  assert.equal(r.summary.exitCode, 32);
  const rest = await runFsck(w.spec, { mode: 'yes' });
  assert.equal(rest.summary.exitCode, 1);
  assert.equal((await runFsck(w.spec, { mode: 'check' })).summary.exitCode, 0);
});

test('with a member missing, fsck checks degraded, writes nothing and exits 4', async () => {
  const w = copyOf('mirror', 'degraded');
  const [m0, m1] = w.spec.split(':') as [string, string];
  // Out of the folder: a file beside m0 with the member's uuid would be found whatever its name.
  const away = path.join(scratch, 'm1-away.img');
  fs.renameSync(m1, away);
  const before = crypto.createHash('sha256').update(fs.readFileSync(m0)).digest('hex');
  const r = await runFsck(m0, { mode: 'yes' });
  assert.ok(codes(r).includes('MEMBER_MISSING'));
  assert.equal(r.summary.exitCode, 4);
  assert.match(r.notes.join(), /a member is missing/);
  assert.equal(crypto.createHash('sha256').update(fs.readFileSync(m0)).digest('hex'), before);
  fs.renameSync(away, m1);
  assert.equal((await runFsck(m0, { mode: 'check' })).summary.exitCode, 0, 'the other member is found by its uuid');
});

test('a key the journal replays is checked like any other', async () => {
  const w = copyOf('single', 'journal-key');
  await w.volume((vol) => {
    vol.commit([{ btreeId: BTREE.dirents, key: { ...at(1, 77), type: KEY_TYPE.dirent, value: ops.dirent.encode({ target: 555, dType: 8, name: Buffer.from('ghost') }) } }]);
  }, { checkpoint: false });
  const r = await runFsck(w.spec, { mode: 'check' });
  assert.deepEqual(codes(r), ['JOURNAL_REPLAY', 'DIRENT_TARGET_MISSING', 'DIRENT_HASH_WRONG']);
  const y = await runFsck(w.spec, { mode: 'yes' });
  assert.equal(y.summary.exitCode, 1);
  assert.deepEqual((await runFsck(w.spec, { mode: 'check' })).problems, []);
});
