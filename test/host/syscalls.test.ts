import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as nodePath from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Timespec, Xattr } from '../../fs/entry.js';
import { HostSyscallError, HostSyscalls, openHost } from '../../host/index.js';
import { isAlive, waitUntil } from './process-tools.js';

const isRoot = process.geteuid?.() === 0;

function xattr(name: string | Buffer, value: string | Buffer): Xattr {
  return { name: typeof name === 'string' ? Buffer.from(name) : name, value: typeof value === 'string' ? Buffer.from(value) : value };
}

function lstatNs(path: Buffer | string): { atimeNs: bigint; mtimeNs: bigint } {
  const stat = fs.lstatSync(path, { bigint: true });
  return { atimeNs: stat.atimeNs, mtimeNs: stat.mtimeNs };
}

function ns(time: Timespec): bigint {
  return BigInt(time.sec) * 1_000_000_000n + BigInt(time.nsec);
}

describe('HostSyscalls with python3', () => {
  let dir: string;
  let host: HostSyscalls;
  const at = (...parts: Array<string | Buffer>) => Buffer.concat([Buffer.from(dir), ...parts.flatMap((part) => [Buffer.from('/'), Buffer.from(part)])]);

  before(async () => {
    dir = fs.mkdtempSync(nodePath.join(os.tmpdir(), 'strata-host-'));
    host = await openHost();
  });
  after(async () => {
    await host.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('reports full capabilities when python3 is on PATH', () => {
    const capabilities = host.capabilities;
    assert.equal(capabilities.xattrs, true);
    assert.equal(capabilities.nsTimes, true);
    assert.equal(capabilities.mkfifo, true);
    assert.equal(capabilities.mknod, isRoot);
    assert.equal(typeof host.helperPid, 'number');
  });

  test('reads back binary, empty and non-ASCII-named xattr values, sorted by name bytes', async () => {
    const file = at('xattr-values');
    fs.writeFileSync(file, 'content');
    const allBytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const written = [xattr('user.zeta', allBytes), xattr('user.empty', ''), xattr(Buffer.from('user.caf\xe9', 'latin1'), Buffer.from([0, 0, 0])), xattr('user.alpha', 'a'.repeat(3000))];
    assert.deepEqual(await host.writeXattrs([{ path: file, xattrs: written }]), [null]);
    const [read] = await host.readXattrs([file]);
    assert.ok(Array.isArray(read));
    const expected = [...written].sort((x, y) => Buffer.compare(x.name, y.name));
    assert.deepEqual(
      read.map((x) => [x.name.toString('hex'), x.value.toString('hex')]),
      expected.map((x) => [x.name.toString('hex'), x.value.toString('hex')]),
    );
  });

  test('reads the xattrs of a symlink itself, not of its target', async () => {
    const target = at('link-target');
    const link = at('link');
    fs.writeFileSync(target, '');
    fs.symlinkSync('link-target', link);
    await host.writeXattrs([{ path: target, xattrs: [xattr('user.on-target', 'x')] }]);
    const [ofLink, ofTarget] = await host.readXattrs([link, target]);
    assert.deepEqual(ofLink, []);
    assert.equal((ofTarget as Xattr[]).length, 1);
  });

  test('returns errors per path and keeps answering the others', async () => {
    const present = at('present');
    fs.writeFileSync(present, '');
    const results = await host.readXattrs([present, at('missing'), present]);
    assert.deepEqual(results[0], []);
    assert.ok(results[1] instanceof HostSyscallError);
    assert.equal((results[1] as HostSyscallError).code, 'ENOENT');
    assert.equal((results[1] as HostSyscallError).syscall, 'llistxattr');
    assert.deepEqual((results[1] as HostSyscallError).path, at('missing'));
    assert.deepEqual(results[2], []);
  });

  test('reports a refused xattr write per item: EPERM for user.* on a symlink, ENOTSUP on procfs', async () => {
    const link = at('refusing-link');
    fs.symlinkSync('anything', link);
    const plain = at('accepting');
    fs.writeFileSync(plain, '');
    const results = await host.writeXattrs([
      { path: link, xattrs: [xattr('user.a', 'b')] },
      { path: plain, xattrs: [xattr('user.a', 'b')] },
      { path: Buffer.from('/proc/self/comm'), xattrs: [xattr('user.a', 'b')] },
      { path: plain, xattrs: [] },
    ]);
    assert.equal((results[0] as HostSyscallError).code, 'EPERM');
    assert.equal(results[1], null);
    assert.equal((results[2] as HostSyscallError).code, 'ENOTSUP');
    assert.equal(results[3], null);
  });

  test('sets atime and mtime with exact nanoseconds', async () => {
    const cases: Array<[string, Timespec, Timespec]> = [
      ['ordinary', { sec: 1_700_000_000, nsec: 123_456_789 }, { sec: 1_600_000_000, nsec: 987_654_321 }],
      ['odd nanoseconds', { sec: 1, nsec: 1 }, { sec: 2, nsec: 999_999_999 }],
      ['before 1970', { sec: -1, nsec: 500_000_001 }, { sec: -315_619_200, nsec: 42 }],
      ['after 2038', { sec: 4_102_444_800, nsec: 7 }, { sec: 7_258_118_400, nsec: 999_999_999 }],
    ];
    const items = cases.map(([name, atime, mtime]) => {
      const path = at(`times-${name}`);
      fs.writeFileSync(path, name);
      return { path, atime, mtime };
    });
    assert.deepEqual(await host.setTimes(items), items.map(() => null));
    for (const item of items) assert.deepEqual(lstatNs(item.path), { atimeNs: ns(item.atime), mtimeNs: ns(item.mtime) });
  });

  test('sets the times of a symlink without following it', async () => {
    const target = at('times-target');
    const link = at('times-link');
    fs.writeFileSync(target, '');
    fs.symlinkSync('times-target', link);
    const targetBefore = lstatNs(target);
    const atime = { sec: 1_234_567_890, nsec: 111_111_111 };
    const mtime = { sec: 1_234_567_891, nsec: 222_222_222 };
    assert.deepEqual(await host.setTimes([{ path: link, atime, mtime }]), [null]);
    assert.deepEqual(lstatNs(link), { atimeNs: ns(atime), mtimeNs: ns(mtime) });
    assert.deepEqual(lstatNs(target), targetBefore);
  });

  test('rejects a timespec that is not one', async () => {
    await assert.rejects(host.setTimes([{ path: at('x'), atime: { sec: 0, nsec: 1_000_000_000 }, mtime: { sec: 0, nsec: 0 } }]), RangeError);
    await assert.rejects(host.setTimes([{ path: at('x'), atime: { sec: 0.5, nsec: 0 }, mtime: { sec: 0, nsec: 0 } }]), RangeError);
  });

  test('creates a fifo with exactly the permission bits asked for, whatever the umask', async () => {
    const fifo = at('fifo');
    const previous = process.umask(0o077);
    try {
      await host.mkfifo(fifo, 0o1664);
    } finally {
      process.umask(previous);
    }
    const stat = fs.lstatSync(fifo);
    assert.ok(stat.isFIFO());
    assert.equal(stat.mode & 0o7777, 0o1664);
  });

  test('reports EEXIST when the fifo path is taken', async () => {
    const taken = at('taken');
    fs.writeFileSync(taken, '');
    await assert.rejects(host.mkfifo(taken, 0o644), (error: HostSyscallError) => error.code === 'EEXIST' && error.syscall === 'mkfifo');
  });

  test('creates char and block device nodes with their numbers when root', { skip: !isRoot && 'needs root' }, async () => {
    await host.mknod(at('char'), 'char', 0o620, 1, 3);
    await host.mknod(at('block'), 'block', 0o640, 259, 70_000);
    const char = fs.lstatSync(at('char'), { bigint: true });
    const block = fs.lstatSync(at('block'), { bigint: true });
    assert.ok(char.isCharacterDevice());
    assert.ok(block.isBlockDevice());
    assert.equal(Number(char.mode & 0o7777n), 0o620);
    assert.equal(char.rdev, (1n << 8n) | 3n);
    // major 259, minor 70000: new_encode_dev puts minor bits 8.. above the major.
    assert.equal(block.rdev, (259n << 8n) | (70_000n & 0xffn) | ((70_000n & ~0xffn) << 12n));
  });

  test('handles path names that are not valid UTF-8', async () => {
    const odd = at(Buffer.from([0xff, 0xfe]));
    const latin = at(Buffer.from('caf\xe9', 'latin1'));
    fs.writeFileSync(odd, '');
    assert.deepEqual(await host.writeXattrs([{ path: odd, xattrs: [xattr('user.k', 'v')] }]), [null]);
    assert.deepEqual((await host.readXattrs([odd]))[0], [xattr('user.k', 'v')]);
    const time = { sec: 1_111_111_111, nsec: 123 };
    assert.deepEqual(await host.setTimes([{ path: odd, atime: time, mtime: time }]), [null]);
    assert.equal(lstatNs(odd).mtimeNs, ns(time));
    await host.mkfifo(latin, 0o600);
    assert.ok(fs.lstatSync(latin).isFIFO());
    const missing = (await host.readXattrs([at(Buffer.from([0x80, 0x81]))]))[0] as HostSyscallError;
    assert.equal(missing.code, 'ENOENT');
    assert.match(missing.message, /\\x80\\x81/);
  });

  test('answers calls made concurrently, each with its own results', async () => {
    const paths = Array.from({ length: 20 }, (_, i) => {
      const path = at(`concurrent-${i}`);
      fs.writeFileSync(path, '');
      return path;
    });
    await host.writeXattrs(paths.map((path, i) => ({ path, xattrs: [xattr('user.index', String(i))] })));
    const answers = await Promise.all(paths.map((path) => host.readXattrs([path])));
    answers.forEach(([list], i) => assert.equal((list as Xattr[])[0].value.toString(), String(i)));
  });

  test('splits large calls into bounded batches and keeps results in order', async () => {
    const small = new HostSyscalls({ maxBatchItems: 7, maxBatchBytes: 200 });
    try {
      const paths = Array.from({ length: 50 }, (_, i) => {
        const path = at(`batched-${i}`);
        fs.writeFileSync(path, '');
        return path;
      });
      const items = paths.map((path, i) => ({ path, atime: { sec: 1000 + i, nsec: i }, mtime: { sec: 2000 + i, nsec: 999_999_999 - i } }));
      assert.deepEqual(await small.setTimes(items), items.map(() => null));
      for (const item of items) assert.deepEqual(lstatNs(item.path), { atimeNs: ns(item.atime), mtimeNs: ns(item.mtime) });
      const lists = await small.readXattrs([...paths, at('not-there'), ...paths]);
      assert.equal(lists.length, 101);
      assert.equal((lists[50] as HostSyscallError).code, 'ENOENT');
    } finally {
      await small.close();
    }
  });

  test('completes a batch of 50,000 paths for xattrs and times', { timeout: 120_000 }, async () => {
    const many = at('many');
    fs.mkdirSync(many);
    const paths: Buffer[] = [];
    for (let i = 0; i < 50_000; i++) {
      const path = Buffer.concat([many, Buffer.from(`/f${i}`)]);
      fs.writeFileSync(path, '');
      paths.push(path);
    }
    await host.writeXattrs([{ path: paths[12_345], xattrs: [xattr('user.one', '1')] }]);
    const lists = await host.readXattrs(paths);
    assert.equal(lists.length, paths.length);
    assert.equal(lists.filter((list) => Array.isArray(list) && list.length === 0).length, paths.length - 1);
    assert.deepEqual(lists[12_345], [xattr('user.one', '1')]);
    const items = paths.map((path, i) => ({ path, atime: { sec: 1_600_000_000 + i, nsec: i }, mtime: { sec: 1_500_000_000 + i, nsec: 999_999_999 - i } }));
    const results = await host.setTimes(items);
    assert.equal(results.filter((result) => result !== null).length, 0);
    for (const i of [0, 777, 49_999]) assert.deepEqual(lstatNs(paths[i]), { atimeNs: ns(items[i].atime), mtimeNs: ns(items[i].mtime) });
  });
});

describe('HostSyscalls helper lifetime', () => {
  test('starts no process until first needed', async () => {
    const host = new HostSyscalls();
    assert.equal(host.helperPid, undefined);
    assert.deepEqual(await host.readXattrs([]), []);
    assert.equal(host.helperPid, undefined);
    await host.close();
  });

  test('stops the helper when closed', async () => {
    const host = await openHost();
    const pid = host.helperPid!;
    assert.ok(isAlive(pid));
    await host.close();
    assert.equal(isAlive(pid), false);
    await assert.rejects(host.readXattrs([Buffer.from('/')]), /after close/);
    await host.close();
  });

  test('lets outstanding requests finish before the helper exits on close', async () => {
    const host = new HostSyscalls();
    const pending = host.readXattrs([Buffer.from('/'), Buffer.from('/nonexistent')]);
    const closed = host.close();
    const [root, missing] = await pending;
    await closed;
    assert.ok(Array.isArray(root));
    assert.equal((missing as HostSyscallError).code, 'ENOENT');
  });

  test('starts a new helper after the old one died', async () => {
    const host = await openHost();
    try {
      const first = host.helperPid!;
      process.kill(first, 'SIGKILL');
      await waitUntil(() => host.helperPid === undefined);
      assert.deepEqual(await host.readXattrs([Buffer.from('/')]), [[]]);
      assert.notEqual(host.helperPid, first);
    } finally {
      await host.close();
    }
  });

  test('rejects the requests a dying helper still owed', async () => {
    const host = await openHost();
    try {
      const many = Array.from({ length: 200_000 }, () => Buffer.from('/nonexistent/path'));
      const pending = host.readXattrs(many);
      process.kill(host.helperPid!, 'SIGKILL');
      await assert.rejects(pending, /helper exited/);
    } finally {
      await host.close();
    }
  });
});
