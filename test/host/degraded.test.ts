// HostSyscalls without python3: PATH holds only the coreutils it falls back on.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as nodePath from 'node:path';
import { after, before, describe, test } from 'node:test';
import { HostSyscallError, HostSyscalls, openHost } from '../../host/index.js';

const isRoot = process.geteuid?.() === 0;

describe('HostSyscalls without python3', () => {
  let dir: string;
  let env: NodeJS.ProcessEnv;
  let host: HostSyscalls;
  const at = (...parts: Array<string | Buffer>) => Buffer.concat([Buffer.from(dir), ...parts.flatMap((part) => [Buffer.from('/'), Buffer.from(part)])]);

  before(() => {
    dir = fs.mkdtempSync(nodePath.join(os.tmpdir(), 'strata-degraded-'));
    const bin = nodePath.join(dir, 'bin');
    fs.mkdirSync(bin);
    for (const tool of ['mkfifo', 'mknod', 'touch']) {
      const real = execFileSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).trim();
      fs.symlinkSync(real, nodePath.join(bin, tool));
    }
    env = { ...process.env, PATH: bin };
    delete env.STRATA_PYTHON;
    host = new HostSyscalls({ env });
  });
  after(async () => {
    await host.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('reports what is missing in capabilities, in one line', async () => {
    const capabilities = await host.probe();
    assert.equal(capabilities.xattrs, false);
    assert.equal(capabilities.nsTimes, false);
    assert.equal(capabilities.mkfifo, true);
    assert.equal(capabilities.mknod, isRoot);
    assert.match(capabilities.reason ?? '', /python3 not found on PATH/);
    assert.doesNotMatch(capabilities.reason ?? '', /\n/);
    assert.equal(host.helperPid, undefined);
  });

  test('reads no xattrs and writes none, without an error per path', async () => {
    const file = at('file');
    fs.writeFileSync(file, '');
    assert.deepEqual(await host.readXattrs([file, at('missing')]), [[], []]);
    assert.deepEqual(await host.writeXattrs([{ path: file, xattrs: [{ name: Buffer.from('user.a'), value: Buffer.from('b') }] }]), [null]);
  });

  test('sets times to within a microsecond', async () => {
    const file = at('timed');
    fs.writeFileSync(file, '');
    const atime = { sec: 1_700_000_000, nsec: 123_456_789 };
    const mtime = { sec: 1_600_000_000, nsec: 987_654_321 };
    assert.deepEqual(await host.setTimes([{ path: file, atime, mtime }]), [null]);
    const stat = fs.lstatSync(file, { bigint: true });
    const distance = (actual: bigint, expected: { sec: number; nsec: number }) => {
      const difference = actual - (BigInt(expected.sec) * 1_000_000_000n + BigInt(expected.nsec));
      return difference < 0n ? -difference : difference;
    };
    assert.ok(distance(stat.atimeNs, atime) < 1000n, `atime ${stat.atimeNs}`);
    assert.ok(distance(stat.mtimeNs, mtime) < 1000n, `mtime ${stat.mtimeNs}`);
  });

  test('sets times before 1970 exactly through touch(1), where lutimes would use now', async () => {
    const file = at('old');
    fs.writeFileSync(file, '');
    const atime = { sec: -2, nsec: 750_000_000 };
    const mtime = { sec: -315_619_200, nsec: 1 };
    assert.deepEqual(await host.setTimes([{ path: file, atime, mtime }]), [null]);
    const stat = fs.lstatSync(file, { bigint: true });
    assert.equal(stat.atimeNs, -1_250_000_000n);
    assert.equal(stat.mtimeNs, -315_619_200n * 1_000_000_000n + 1n);
  });

  test('reports a missing path per item when setting times', async () => {
    const results = await host.setTimes([{ path: at('nope'), atime: { sec: 1, nsec: 0 }, mtime: { sec: 1, nsec: 0 } }]);
    assert.equal((results[0] as HostSyscallError).code, 'ENOENT');
  });

  test('creates fifos with mkfifo(1), exact modes and non-UTF-8 names included', async () => {
    await host.mkfifo(at('fifo'), 0o2640);
    await host.mkfifo(at(Buffer.from([0x66, 0xff, 0xfe])), 0o604);
    const plain = fs.lstatSync(at('fifo'));
    const odd = fs.lstatSync(at(Buffer.from([0x66, 0xff, 0xfe])));
    assert.ok(plain.isFIFO() && odd.isFIFO());
    assert.equal(plain.mode & 0o7777, 0o2640);
    assert.equal(odd.mode & 0o7777, 0o604);
    assert.deepEqual(
      fs.readdirSync(dir, { encoding: 'buffer' }).filter((name) => name.toString('latin1').startsWith('.strata-host')),
      [],
      'no temporary name is left behind',
    );
    await assert.rejects(host.mkfifo(at(Buffer.from([0x66, 0xff, 0xfe])), 0o604), (error: HostSyscallError) => error.code === 'EEXIST');
    await assert.rejects(host.mkfifo(at('no-dir', 'fifo'), 0o604), (error: HostSyscallError) => error.code === 'ENOENT');
  });

  test('creates device nodes with mknod(1) when root', { skip: !isRoot && 'needs root' }, async () => {
    await host.mknod(at(Buffer.from([0x64, 0xe9])), 'block', 0o600, 259, 70_000);
    const stat = fs.lstatSync(at(Buffer.from([0x64, 0xe9])), { bigint: true });
    assert.ok(stat.isBlockDevice());
    assert.equal(Number(stat.mode & 0o7777n), 0o600);
    assert.equal(stat.rdev, (259n << 8n) | (70_000n & 0xffn) | ((70_000n & ~0xffn) << 12n));
  });
});

describe('choosing the interpreter', () => {
  test('STRATA_PYTHON=none disables the helper', () => {
    const host = new HostSyscalls({ env: { ...process.env, STRATA_PYTHON: 'none' } });
    assert.equal(host.capabilities.xattrs, false);
    assert.match(host.capabilities.reason ?? '', /disabled/);
  });

  test('python: null disables the helper whatever the environment says', () => {
    const host = new HostSyscalls({ python: null });
    assert.equal(host.capabilities.nsTimes, false);
  });

  test('an interpreter that cannot run the helper degrades instead of failing', async () => {
    const host = await openHost({ python: '/bin/false' });
    try {
      assert.equal(host.capabilities.xattrs, false);
      assert.match(host.capabilities.reason ?? '', /did not start/);
      assert.deepEqual(await host.readXattrs([Buffer.from('/')]), [[]]);
    } finally {
      await host.close();
    }
  });
});
