// put, rm, mkdir, mv, ln: coreutils behaviour and errors, and failure paths that must leave
// the image consistent: journal full, member full, a write error, and a real SIGKILL.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { strata, tempDir, isOneLineError, sha256File, STRATA } from '../helpers/cli.js';
import { Volume } from '../../format/volume.js';
import { FsWriter } from '../../fs/ops.js';
import { FileBlockLayer } from '../../format/io.js';
import { readState } from '../helpers/crash.js';

function image(size = '16M', extra: string[] = []): { dir: string; img: string; src: string } {
  const dir = tempDir('strata-edit-');
  const src = path.join(dir, 'src');
  fs.mkdirSync(path.join(src, 'sub'), { recursive: true });
  fs.writeFileSync(path.join(src, 'a.txt'), 'alpha\n');
  fs.writeFileSync(path.join(src, 'sub', 'b.bin'), crypto.randomBytes(100_000));
  const img = path.join(dir, 'x.img');
  const r = strata(['mkfs', '--size', size, ...extra, '--from', src, img]);
  assert.equal(r.code, 0, r.stderr);
  return { dir, img, src };
}

function listing(img: string): string {
  const r = strata(['dump', 'ls', '-R', img, '/']);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout;
}

test('put copies a tree in, cp -r style, and it reads back identical', () => {
  const { dir, img, src } = image();
  assert.equal(strata(['mkdir', img, '/into']).code, 0);
  const r = strata(['put', img, src, '/into']);
  assert.equal(r.code, 0, r.stderr);
  const out = path.join(dir, 'out');
  assert.equal(strata(['dump', 'extract', img, '/into/src', out]).code, 0);
  assert.deepEqual(fs.readFileSync(path.join(out, 'sub', 'b.bin')), fs.readFileSync(path.join(src, 'sub', 'b.bin')));
  // A single source onto a missing name becomes that name.
  assert.equal(strata(['put', img, path.join(src, 'a.txt'), '/renamed.txt']).code, 0);
  assert.equal(strata(['dump', 'cat', img, '/renamed.txt']).stdout, 'alpha\n');
});

test('editing commands answer like coreutils, name the path, and change nothing on error', () => {
  const { img } = image();
  const before = sha256File(img);
  const cases: Array<[string[], RegExp]> = [
    [['mkdir', img, '/sub'], /\/sub: File exists/],
    [['mkdir', img, '/no/such/dir'], /\/no\/such\/dir: No such file or directory/],
    [['rm', img, '/sub'], /\/sub: Is a directory/],
    [['rm', img, '/missing'], /\/missing: No such file or directory/],
    [['mv', img, '/missing', '/x'], /\/missing: No such file or directory/],
    [['mv', img, '/sub', '/sub/inner'], /subdirectory of itself/],
    [['ln', img, '/sub', '/sub-link'], /hard link not allowed for directory/],
    [['ln', img, '/a.txt', '/sub/b.bin'], /\/sub\/b.bin: File exists/],
    [['put', img, '/nonexistent/host/file', '/x'], /No such file or directory/],
  ];
  for (const [args, message] of cases) {
    const r = strata(args);
    assert.equal(r.code, 8, `${args.join(' ')}: ${r.stderr}`);
    assert.ok(isOneLineError(r.stderr), r.stderr);
    assert.match(r.stderr, message);
  }
  assert.equal(sha256File(img), before, 'a failed command wrote to the image');
});

test('rm -r, mv over a file, ln -s and mkdir -p do what their namesakes do', () => {
  const { img } = image();
  assert.equal(strata(['mkdir', '-p', img, '/p/q/r']).code, 0);
  assert.equal(strata(['mkdir', '-p', img, '/p/q/r']).code, 0);
  assert.equal(strata(['ln', '-s', img, '../a.txt', '/p/link']).code, 0);
  assert.equal(strata(['ln', img, '/a.txt', '/p/hard']).code, 0);
  assert.equal(strata(['mv', img, '/p/hard', '/sub/b.bin']).code, 0);
  assert.equal(strata(['dump', 'cat', img, '/sub/b.bin']).stdout, 'alpha\n');
  assert.equal(strata(['rm', '-r', img, '/p']).code, 0);
  assert.equal(strata(['mv', img, '/sub', '/moved']).code, 0);
  assert.equal(listing(img).split('\n').filter(Boolean).map((l) => l.split(' ').pop()).join(' '), '/a.txt /moved /moved/b.bin');
  const st = JSON.parse(strata(['dump', 'stat', '--json', img, '/a.txt']).stdout);
  assert.equal(st.nlink, 2);
});

test('a transaction larger than the journal is refused cleanly and changes nothing', async () => {
  const { img } = image('6M', ['--bucket-size', '64K', '--node-size', '4K']);
  const before = listing(img);
  const vol = await Volume.open(img, { writable: true });
  const w = await FsWriter.on(vol);
  const xattrs = Array.from({ length: 200 }, (_, i) => ({ name: Buffer.from(`user.attr${i}`), value: Buffer.alloc(1000, i) }));
  await assert.rejects(w.create('/huge-meta', { kind: 'file', perm: 0o644, xattrs }), /JOURNAL_FULL|journal/i);
  vol.close();
  assert.equal(listing(img), before);
});

test('a full member is a clean "no space" error; files put before stay intact', () => {
  const { dir, img } = image('6M', ['--bucket-size', '64K', '--node-size', '4K']);
  const big = path.join(dir, 'big');
  fs.writeFileSync(big, crypto.randomBytes(8 << 20));
  const r = strata(['put', img, big, '/big']);
  assert.equal(r.code, 8, r.stderr);
  assert.ok(isOneLineError(r.stderr), r.stderr);
  assert.match(r.stderr, /full|space/);
  assert.equal(strata(['dump', 'cat', img, '/a.txt']).stdout, 'alpha\n');
  assert.equal(strata(['dump', 'stat', img, '/big']).code, 8);
  // The space the failed put wrote into is reusable.
  fs.writeFileSync(big, crypto.randomBytes(1 << 20));
  assert.equal(strata(['put', img, big, '/big']).code, 0);
});

test('a write error from the block layer fails the operation and the image still opens consistent', async () => {
  const { img } = image();
  let writes = 0;
  const vol = await Volume.open(img, {
    writable: true,
    wrapLayer: (inner) => new Proxy(inner, {
      get(target, prop, receiver) {
        if (prop === 'write') return (m: number, o: number, d: Uint8Array) => {
          if (++writes === 3) throw Object.assign(new Error('injected EIO'), { code: 'EIO' });
          return (target as FileBlockLayer).write(m, o, d);
        };
        const v = Reflect.get(target, prop, receiver);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    }),
  });
  const w = await FsWriter.on(vol);
  await w.create('/one', { kind: 'file', perm: 0o644 }, Buffer.alloc(10_000, 1));
  await assert.rejects(w.create('/two', { kind: 'file', perm: 0o644 }, Buffer.alloc(300_000, 2)), /EIO/);
  vol.abandon();
  const again = await Volume.open(img, {});
  const state = readState(again);
  again.abandon();
  assert.ok(state.has('/one'), 'the acknowledged file survived');
  assert.equal(state.has('/two'), false);
});

test('SIGKILL at random moments of a 200 MB put never loses what was committed before', { timeout: 600_000 }, async () => {
  const { dir, img } = image('512M');
  const big = path.join(dir, 'big.bin');
  const fd = fs.openSync(big, 'w');
  for (let i = 0; i < 200; i++) fs.writeSync(fd, crypto.randomBytes(1 << 20));
  fs.closeSync(fd);
  let seed = 12345;
  const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
  for (let run = 0; run < 20; run++) {
    const child = spawn(process.execPath, [STRATA, 'put', img, big, `/big-${run}`], { stdio: 'ignore', env: { ...process.env, CI: '1' } });
    const exited = new Promise((r) => child.once('exit', r));
    await Promise.race([exited, new Promise((r) => setTimeout(r, 100 + rand() * 2500))]);
    child.kill('SIGKILL');
    await exited;
    // fsck -y after the crash: it replays the journal and must find the image consistent.
    const fsck = strata(['fsck', '-y', img]);
    assert.ok(fsck.code === 0 || fsck.code === 1, `run ${run}: fsck -y exited ${fsck.code}: ${fsck.stdout}${fsck.stderr}`);
    assert.equal(strata(['fsck', '-n', img]).code, 0, `run ${run}: not clean after fsck -y`);
    const vol = await Volume.open(img, {});
    const state = readState(vol);
    vol.abandon();
    assert.ok(state.get('/a.txt')?.startsWith('file 644 size=6'), `run ${run}: /a.txt lost`);
    assert.ok(state.has('/sub/b.bin'), `run ${run}: /sub/b.bin lost`);
    const present = state.get(`/big-${run}`);
    if (present) assert.match(present, /size=209715200 /, `run ${run}: a partial file became visible`);
    // Free the space for the next run; removing is itself crash-safe.
    if (present) assert.equal(strata(['rm', img, `/big-${run}`]).code, 0);
  }
});
