import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as nodePath from 'node:path';
import { after, before, describe, test } from 'node:test';
import { HostSyscalls, openHost } from '../../host/index.js';
import { makeCorpus } from './corpus.js';
import { diffTrees, formatNs, makeEdgeCaseTree, pathKey, removeTree, restoreTimes, snapshotTree, type NodeRecord, type TreeInfo } from './tree.js';

const isRoot = process.geteuid?.() === 0;

describe('makeEdgeCaseTree, snapshotTree and diffTrees', () => {
  let work: string;
  let host: HostSyscalls;
  let source: string;
  let info: TreeInfo;
  let original: Map<string, NodeRecord>;
  let copies = 0;

  /** A fresh `cp -a` of the source tree (cp preserves everything the snapshot records). */
  const copyOfSource = async () => {
    const target = nodePath.join(work, `copy-${copies++}`);
    execFileSync('cp', ['-a', source, target]);
    // cp read the source and so moved its atimes; the next copy must start from the originals.
    await restoreTimes(source, original, { host });
    return target;
  };
  before(async () => {
    work = fs.mkdtempSync(nodePath.join(os.tmpdir(), 'strata-tree-'));
    host = await openHost();
    source = nodePath.join(work, 'source');
    info = await makeEdgeCaseTree(source, { seed: 11, host });
    // Before anything else reads the source: reading moves atimes (cp does not use O_NOATIME).
    original = await snapshotTree(source, { host });
  });
  after(async () => {
    await host.close();
    removeTree(work);
  });

  test('builds every kind of entry, with the machine-dependent ones reported', () => {
    const kinds = new Set([...original.values()].map((record) => record.kind));
    for (const kind of ['file', 'dir', 'symlink', 'fifo'] as const) assert.ok(kinds.has(kind), kind);
    assert.equal(kinds.has('socket'), info.socket);
    assert.equal(kinds.has('char') && kinds.has('block'), info.devices);
    assert.equal(info.devices, isRoot);
    assert.equal(info.foreignOwners, isRoot);
    assert.equal(info.xattrs, true, info.notes.join('; '));
    assert.equal(info.nsTimes, true);
    assert.equal(original.size, info.entries.length + 1, 'every created name and the root');
  });

  test('writes sparse files with holes, three hard links to one inode, and the odd names', () => {
    const sparse = original.get(pathKey(info.paths.sparseFile))!;
    assert.equal(sparse.sparse, true);
    assert.equal(sparse.size, 10 * 1024 * 1024 + 123);
    assert.equal(original.get('files/zeros-64k')!.sparse, false);
    const group = info.paths.hardlinks.map((name) => original.get(pathKey(name))!);
    assert.deepEqual(
      group.map((record) => [record.nlink, record.hardlinkGroup]),
      group.map(() => [3, 'hardlinks/first']),
    );
    const longName = info.paths.longName.subarray(info.paths.longName.lastIndexOf(0x2f) + 1);
    assert.equal(longName.length, 255);
    assert.ok(original.has('names/\\xff\\xfe'));
    assert.ok(original.has('names/caf\\xe9'));
    assert.ok(original.has('names/new\\x0aline'));
    assert.deepEqual(original.get('links/binary-target')!.target, Buffer.from([0x74, 0x2d, 0xff, 0xfe, 0xe9]));
  });

  test('sets modes exactly, set-id and sticky bits included', () => {
    assert.equal(original.get('modes/none')!.perm, 0o000);
    assert.equal(original.get('modes/all')!.perm, 0o777);
    assert.equal(original.get('modes/setuid')!.perm, 0o4755);
    assert.equal(original.get(pathKey(info.paths.setgidDir))!.perm, 0o2775);
    assert.equal(original.get(pathKey(info.paths.stickyDir))!.perm, 0o1777);
    assert.equal(original.get(pathKey(info.paths.readonlyDir))!.perm, 0o555);
    if (isRoot) {
      assert.deepEqual([original.get('owners/file')!.uid, original.get('owners/file')!.gid], [1234, 5678]);
      assert.deepEqual([original.get('owners/symlink')!.uid, original.get('owners/symlink')!.gid], [777, 888]);
    }
  });

  test('gives every inode its own nanosecond times, directories included', () => {
    const mtimes = new Set<bigint>();
    for (const record of original.values()) {
      if (record.hardlinkGroup !== undefined && record.hardlinkGroup !== pathKey(record.path)) continue;
      assert.notEqual(record.mtimeNs! % 1000n, 0n, `${pathKey(record.path)} mtime is a whole microsecond`);
      mtimes.add(record.mtimeNs!);
    }
    assert.equal(mtimes.size, [...original.values()].filter((record) => record.hardlinkGroup === undefined || record.hardlinkGroup === pathKey(record.path)).length);
    assert.equal(original.get(pathKey(info.paths.preEpochFile))!.mtimeNs, -315_619_200n * 1_000_000_000n + 123_456_789n);
  });

  test('records xattrs, with binary, empty and 4 KiB-class values', () => {
    const names = (key: string) => original.get(key)!.xattrs!.map((x) => x.name.toString('latin1'));
    assert.deepEqual(names(pathKey(info.paths.xattrFile)), ['user.binary', 'user.caf\xe9', 'user.empty', 'user.text']);
    assert.deepEqual(names(pathKey(info.paths.xattrDir)), ['user.dir', 'user.zero']);
    const big = original.get(pathKey(info.paths.bigXattrFile))!.xattrs!;
    assert.equal(big[0].value.length, info.bigXattrBytes);
    assert.ok(info.bigXattrBytes >= 2048);
  });

  test('is deterministic for a seed', async () => {
    const again = nodePath.join(work, 'same-seed');
    const otherInfo = await makeEdgeCaseTree(again, { seed: 11, host });
    assert.deepEqual(otherInfo.notes, info.notes);
    assert.deepEqual(diffTrees(original, await snapshotTree(again, { host }), { include: ['dirAtime'] }), []);
  });

  test('a different seed gives different contents and times', async () => {
    const other = nodePath.join(work, 'other-seed');
    await makeEdgeCaseTree(other, { seed: 12, host });
    const differences = diffTrees(original, await snapshotTree(other, { host }));
    assert.ok(differences.some((line) => line.startsWith('files/random-3m: content sha256')));
    assert.ok(differences.some((line) => line.startsWith('files/random-3m: mtime')));
  });

  test('diffTrees is empty for a cp -a copy', async () => {
    const copy = await copyOfSource();
    assert.deepEqual(diffTrees(original, await snapshotTree(copy, { host })), []);
  });

  test('snapshotTree leaves atimes as it found them, directories and symlinks included', async () => {
    const copy = await copyOfSource();
    const first = await snapshotTree(copy, { host });
    const second = await snapshotTree(copy, { host });
    assert.deepEqual(diffTrees(first, second, { include: ['dirAtime', 'dirNlink', 'blocks'] }), []);
  });

  test('diffTrees names a changed byte and nothing else', async () => {
    const copy = await copyOfSource();
    const path = abs(copy, info.paths.randomFile);
    const before = fs.lstatSync(path, { bigint: true });
    const fd = fs.openSync(path, 'r+');
    const byte = Buffer.alloc(1);
    fs.readSync(fd, byte, 0, 1, 1_000_000);
    byte[0] ^= 0x01;
    fs.writeSync(fd, byte, 0, 1, 1_000_000);
    fs.closeSync(fd);
    await restoreStatTimes(host, path, before);
    const differences = diffTrees(original, await snapshotTree(copy, { host }));
    assert.equal(differences.length, 1, differences.join('\n'));
    assert.match(differences[0], /^files\/random-3m: content sha256 [0-9a-f]{16} != [0-9a-f]{16}$/);
  });

  test('diffTrees names a changed xattr', async () => {
    const copy = await copyOfSource();
    const path = abs(copy, info.paths.xattrFile);
    await host.writeXattrs([{ path, xattrs: [{ name: Buffer.from('user.text'), value: Buffer.from('hello, World') }] }]);
    assert.deepEqual(diffTrees(original, await snapshotTree(copy, { host })), ['xattrs/file: xattr user.text value 0x68656c6c6f2c20776f726c64 != 0x68656c6c6f2c20576f726c64']);
  });

  test('diffTrees names an xattr present on one side only', async () => {
    const copy = await copyOfSource();
    await host.writeXattrs([{ path: abs(copy, info.paths.emptyDir), xattrs: [{ name: Buffer.from('user.new'), value: Buffer.alloc(0) }] }]);
    assert.deepEqual(diffTrees(original, await snapshotTree(copy, { host })), ['empty-dir: xattr user.new only in second']);
  });

  test('diffTrees names a one-nanosecond mtime change', async () => {
    const copy = await copyOfSource();
    const path = abs(copy, info.paths.deepFile);
    const before = fs.lstatSync(path, { bigint: true });
    await restoreStatTimes(host, path, before, 1n);
    const key = pathKey(info.paths.deepFile);
    assert.deepEqual(diffTrees(original, await snapshotTree(copy, { host })), [`${key}: mtime ${formatNs(before.mtimeNs)} != ${formatNs(before.mtimeNs + 1n)}`]);
  });

  test('diffTrees names a changed mode bit', async () => {
    const copy = await copyOfSource();
    fs.chmodSync(abs(copy, info.paths.stickyDir), 0o0777);
    assert.deepEqual(diffTrees(original, await snapshotTree(copy, { host })), ['modes/sticky-dir: mode 1777 != 0777']);
  });

  test('diffTrees names a missing entry, a changed symlink target and a broken hard link', async () => {
    const copy = await copyOfSource();
    fs.unlinkSync(abs(copy, info.paths.smallFile));
    const link = abs(copy, Buffer.from('links/dangling'));
    const linkStat = fs.lstatSync(link, { bigint: true });
    fs.unlinkSync(link);
    fs.symlinkSync('nowhere/else', link);
    await restoreStatTimes(host, link, linkStat);
    // Replace one name of the three with a copy: same content, different inode.
    const third = abs(copy, info.paths.hardlinks[2]);
    const thirdStat = fs.lstatSync(third, { bigint: true });
    const content = fs.readFileSync(third);
    fs.unlinkSync(third);
    fs.writeFileSync(third, content);
    fs.chmodSync(third, Number(thirdStat.mode & 0o7777n));
    await restoreStatTimes(host, third, thirdStat);
    await restoreStatTimes(host, abs(copy, info.paths.hardlinks[0]), thirdStat); // reading it moved the shared atime
    // Removing and creating names moved their directories' mtimes; put those back too.
    for (const dir of ['files', 'links', 'other']) await restoreStatTimes(host, abs(copy, Buffer.from(dir)), fs.lstatSync(abs(source, Buffer.from(dir)), { bigint: true }));
    assert.deepEqual(diffTrees(original, await snapshotTree(copy, { host })), [
      'files/one-byte: only in first (file)',
      'hardlinks/first: nlink 3 != 2',
      'hardlinks/sub/second: nlink 3 != 2',
      'links/dangling: size 15 != 12',
      'links/dangling: symlink target nowhere/missing != nowhere/else',
      'other/third: nlink 3 != 1',
      'other/third: hardlink group hardlinks/first != (none)',
    ]);
  });

  test('diffTrees ignores directory atimes by default and compares them when asked', () => {
    const changed = new Map(original);
    const record = { ...changed.get('nested')! };
    record.atimeNs = record.atimeNs! + 5n;
    changed.set('nested', record);
    assert.deepEqual(diffTrees(original, changed), []);
    assert.deepEqual(diffTrees(original, changed, { include: ['dirAtime'] }), [`nested: atime ${formatNs(record.atimeNs - 5n)} != ${formatNs(record.atimeNs)}`]);
    assert.deepEqual(diffTrees(original, changed, { ignore: ['atime'], include: ['dirAtime'] }), []);
  });

  test('a field recorded on one side only is not compared', async () => {
    const copy = await copyOfSource();
    fs.chmodSync(abs(copy, info.paths.stickyDir), 0o0777);
    assert.deepEqual(diffTrees(original, await snapshotTree(copy, { host, ignore: ['perm'] })), []);
  });
});

describe('makeCorpus', () => {
  let work: string;
  let host: HostSyscalls;
  before(async () => {
    work = fs.mkdtempSync(nodePath.join(os.tmpdir(), 'strata-corpus-'));
    host = await openHost();
  });
  after(async () => {
    await host.close();
    removeTree(work);
  });

  test('meets the file and byte counts exactly, with duplicates, empties, hard links and symlinks', async () => {
    const root = nodePath.join(work, 'small');
    const info = await makeCorpus(root, { files: 3000, bytes: 30_000_000, seed: 5, host });
    assert.equal(info.files, 3000);
    assert.equal(info.bytes, 30_000_000);
    const snapshot = await snapshotTree(root, { host });
    const inodes = new Map<string, NodeRecord>();
    for (const record of snapshot.values()) if (record.kind === 'file') inodes.set(record.hardlinkGroup ?? pathKey(record.path), record);
    assert.equal(inodes.size, 3000);
    assert.equal([...inodes.values()].reduce((sum, record) => sum + record.size!, 0), 30_000_000);
    const byContent = new Map<string, number>();
    for (const record of inodes.values()) if (record.size! > 0) byContent.set(record.sha256!, (byContent.get(record.sha256!) ?? 0) + 1);
    const duplicated = [...byContent.values()].filter((count) => count > 1).reduce((sum, count) => sum + count - 1, 0);
    // Tiny files of different recipes can coincide, and a duplicate of a file that rounded to
    // zero bytes is not counted here: so close, not equal.
    assert.ok(Math.abs(duplicated - info.duplicates) <= info.duplicates * 0.1, `${duplicated} vs ${info.duplicates}`);
    assert.ok(info.duplicates > 50 && info.empty > 20 && info.binary > 100, JSON.stringify(info));
    assert.equal([...snapshot.values()].filter((record) => record.kind === 'symlink').length, info.symlinks);
    assert.equal([...snapshot.values()].filter((record) => record.kind === 'dir').length, info.dirs + 1);
    const depths = [...snapshot.values()].filter((record) => record.kind === 'dir').map((record) => record.path.filter((byte) => byte === 0x2f).length);
    assert.ok(Math.max(...depths) >= 4, 'some depth');
  });

  test('is deterministic for a seed, times included', async () => {
    const first = nodePath.join(work, 'first');
    const second = nodePath.join(work, 'second');
    await makeCorpus(first, { files: 500, bytes: 2_000_000, seed: 9, host });
    await makeCorpus(second, { files: 500, bytes: 2_000_000, seed: 9, host });
    assert.deepEqual(diffTrees(await snapshotTree(first, { host }), await snapshotTree(second, { host }), { include: ['dirAtime'] }), []);
  });

  test('writes text that compresses and binary that does not', async () => {
    const root = nodePath.join(work, 'kinds');
    await makeCorpus(root, { files: 200, bytes: 4_000_000, seed: 3, host, times: false });
    const { deflateSync } = await import('node:zlib');
    let text = 0;
    let textCompressed = 0;
    let binary = 0;
    let binaryCompressed = 0;
    for (const record of (await snapshotTree(root, { host })).values()) {
      if (record.kind !== 'file' || record.size! < 4096) continue;
      const data = fs.readFileSync(abs(root, record.path));
      const isBinary = /\.(bin|dat|png|jpg|gz|so|o|db)$/.test(record.path.toString());
      if (isBinary) [binary, binaryCompressed] = [binary + data.length, binaryCompressed + deflateSync(data).length];
      else [text, textCompressed] = [text + data.length, textCompressed + deflateSync(data).length];
    }
    assert.ok(text > 0 && textCompressed < text / 2, `text ${text} -> ${textCompressed}`);
    assert.ok(binary > 0 && binaryCompressed > binary * 0.99, `binary ${binary} -> ${binaryCompressed}`);
  });

  test('builds 50,000 files', { timeout: 300_000 }, async () => {
    const root = nodePath.join(work, 'large');
    const info = await makeCorpus(root, { files: 50_000, bytes: 100_000_000, seed: 1, host });
    assert.equal(info.files, 50_000);
    let regular = 0;
    const walk = (dir: string) => {
      for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
        if (entry.isDirectory()) walk(nodePath.join(dir, entry.name));
        else if (entry.isFile()) regular++;
      }
    };
    walk(root);
    assert.equal(regular, 50_000 + info.hardlinks);
  });
});

function abs(root: string, rel: Buffer): Buffer {
  return Buffer.concat([Buffer.from(root), Buffer.from('/'), rel]);
}

/** Puts back times a modification moved; `mtimeShift` nanoseconds are added to the mtime. */
async function restoreStatTimes(host: HostSyscalls, path: Buffer, stat: fs.BigIntStats, mtimeShift = 0n): Promise<void> {
  const split = (ns: bigint) => {
    const sec = ns / 1_000_000_000n - (ns % 1_000_000_000n < 0n ? 1n : 0n);
    return { sec: Number(sec), nsec: Number(ns - sec * 1_000_000_000n) };
  };
  const [result] = await host.setTimes([{ path, atime: split(stat.atimeNs), mtime: split(stat.mtimeNs + mtimeShift) }]);
  if (result) throw result;
}
