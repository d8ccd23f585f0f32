// Interoperability with the system's GNU tar, both directions. Skipped when `tar` is not GNU tar.

import assert from 'node:assert/strict';
import {
  createReadStream,
  linkSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { SourceEntry, Xattr } from '../../../fs/entry.js';
import { b, entry, fileEntry, gnuTar, hasGnuTar, isRoot, readArchive, run, withTempDir, writeArchive, type ReadMember } from './helpers.js';

const skip = hasGnuTar() ? false : 'GNU tar is not installed';

const NON_UTF8 = Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x2d, 0xff]); // "caf\xe9-\xff"
const COMPONENT_255 = 'k'.repeat(255);
const DEEP = ['deep', 'a'.repeat(90), 'b'.repeat(90), 'c'.repeat(90)].join('/'); // > 255 bytes: no ustar split

/** Sets a file's times with nanoseconds (Node's utimes takes a double and loses them). */
function touch(path: string | Buffer, stamp: string, options: { noDereference?: boolean } = {}): void {
  run('touch', [...(options.noDereference ? ['-h'] : []), '-d', `@${stamp}`, path.toString('latin1')]);
}

/** A source tree with every kind GNU tar can archive without privileges, and awkward names. */
function buildTree(root: string): void {
  mkdirSync(join(root, DEEP), { recursive: true });
  writeFileSync(join(root, 'plain.txt'), 'plain content\n');
  writeFileSync(join(root, 'empty'), '');
  writeFileSync(join(root, DEEP, 'leaf.bin'), Buffer.alloc(3000, 0xab));
  writeFileSync(join(root, COMPONENT_255), 'long component');
  writeFileSync(Buffer.concat([Buffer.from(`${root}/`), NON_UTF8]), 'non-utf8 name');
  linkSync(join(root, 'plain.txt'), join(root, 'hardlink'));
  symlinkSync(`/absolute/${'t'.repeat(120)}/../target`, join(root, 'symlink'));
  run('mkfifo', [join(root, 'fifo')]);
  const stamps: Array<[string, string]> = [
    ['plain.txt', '1600000000.123456789'],
    ['empty', '1500000000.5'],
    [join(DEEP, 'leaf.bin'), '1400000000.000000001'],
    [COMPONENT_255, '1300000000'],
  ];
  for (const [path, stamp] of stamps) touch(join(root, path), stamp);
  touch(join(root, 'symlink'), '1200000000.25', { noDereference: true });
}

function byPath(members: ReadMember[]): Map<string, ReadMember> {
  return new Map(members.map((member) => [member.entry.path.toString('latin1'), member]));
}

/** Checks what GNU tar archived from buildTree against the files themselves. */
function checkAgainstTree(root: string, members: ReadMember[], nanoseconds: boolean): void {
  const found = byPath(members);
  const mtimeOf = (path: string | Buffer) => {
    const ns = lstatSync(path, { bigint: true }).mtimeNs;
    return nanoseconds ? { sec: Number(ns / 1_000_000_000n), nsec: Number(ns % 1_000_000_000n) } : { sec: Number(ns / 1_000_000_000n), nsec: 0 };
  };

  assert.equal(found.get('')?.entry.kind, 'dir', 'the root "./" is the root entry');
  for (const [name, file] of [
    ['empty', 'empty'],
    [`${DEEP}/leaf.bin`, join(DEEP, 'leaf.bin')],
    [COMPONENT_255, COMPONENT_255],
  ] as const) {
    const member = found.get(name);
    assert.ok(member, `${name.slice(0, 40)} is in the archive`);
    assert.equal(member.entry.kind, 'file');
    assert.ok(member.content!.equals(readFileSync(join(root, file))));
    assert.equal(member.entry.perm, statSync(join(root, file)).mode & 0o7777);
    assert.deepEqual(member.entry.mtime, mtimeOf(join(root, file)));
  }
  const nonUtf8 = found.get(NON_UTF8.toString('latin1'));
  assert.ok(nonUtf8, 'non-UTF-8 name survives byte for byte');
  assert.equal(nonUtf8.content!.toString(), 'non-utf8 name');

  assert.equal(found.get(DEEP)?.entry.kind, 'dir');
  const symlink = found.get('symlink')!;
  assert.equal(symlink.entry.kind, 'symlink');
  assert.ok(symlink.entry.linkTarget!.equals(readlinkSync(join(root, 'symlink'), { encoding: 'buffer' })));
  assert.deepEqual(symlink.entry.mtime, mtimeOf(join(root, 'symlink')));
  // GNU tar stores whichever of the two names it meets second as the hardlink.
  const links = ['plain.txt', 'hardlink'].map((name) => found.get(name)!.entry);
  const hardlink = links.find((member) => member.kind === 'hardlink')!;
  assert.ok(hardlink, 'one of the two names is a hardlink');
  const linked = links.find((member) => member.kind === 'file')!;
  assert.equal(hardlink.linkTarget!.toString(), linked.path.toString());
  assert.ok(found.get(linked.path.toString())!.content!.equals(readFileSync(join(root, 'plain.txt'))));
  assert.deepEqual(linked.mtime, mtimeOf(join(root, 'plain.txt')));
  assert.equal(found.get('fifo')?.entry.kind, 'fifo');
}

describe('reading archives made by GNU tar', { skip }, () => {
  it('reads a --format=pax archive with long, 255-byte and non-UTF-8 names and nanosecond mtimes', async () => {
    await withTempDir(async (dir) => {
      const src = join(dir, 'src');
      mkdirSync(src);
      buildTree(src);
      gnuTar(['--format=pax', '-cf', join(dir, 'a.tar'), '-C', src, '.']);
      checkAgainstTree(src, await readArchive(createReadStream(join(dir, 'a.tar'))), true);
    });
  });

  it('reads a --format=gnu archive with long names (L/K records) and non-UTF-8 names', async () => {
    await withTempDir(async (dir) => {
      const src = join(dir, 'src');
      mkdirSync(src);
      buildTree(src);
      gnuTar(['--format=gnu', '-cf', join(dir, 'a.tar'), '-C', src, '.']);
      assert.ok(readFileSync(join(dir, 'a.tar')).includes('././@LongLink'), 'the archive uses GNU long-name records');
      checkAgainstTree(src, await readArchive(createReadStream(join(dir, 'a.tar'))), false);
    });
  });

  it('reads a --format=ustar archive whose long path is split into prefix and name', async () => {
    await withTempDir(async (dir) => {
      const path = `${'p'.repeat(120)}/${'n'.repeat(90)}`;
      mkdirSync(join(dir, 'src', 'p'.repeat(120)), { recursive: true });
      writeFileSync(join(dir, 'src', path), 'split');
      gnuTar(['--format=ustar', '-cf', join(dir, 'a.tar'), '-C', join(dir, 'src'), path]);
      const [member] = await readArchive(readFileSync(join(dir, 'a.tar')));
      assert.equal(member!.entry.path.toString(), path);
      assert.equal(member!.content!.toString(), 'split');
    });
  });

  it('reads base-256 uid, gid and negative mtime from a --format=gnu archive', async () => {
    await withTempDir(async (dir) => {
      writeFileSync(join(dir, 'f'), 'x');
      gnuTar(['--format=gnu', '--owner=someone:30000000', '--group=somegroup:40000000', '--mtime=@-1000000', '-cf', join(dir, 'a.tar'), '-C', dir, 'f']);
      const raw = readFileSync(join(dir, 'a.tar'));
      assert.equal(raw[108], 0x80, 'uid field is base-256');
      const [member] = await readArchive(raw);
      assert.equal(member!.entry.uid, 30_000_000);
      assert.equal(member!.entry.gid, 40_000_000);
      assert.deepEqual(member!.entry.mtime, { sec: -1_000_000, nsec: 0 });
    });
  });

  it('reads pax uid and gid beyond the octal range from a --format=pax archive', async () => {
    await withTempDir(async (dir) => {
      writeFileSync(join(dir, 'f'), 'x');
      gnuTar(['--format=pax', '--owner=someone:30000000', '--group=somegroup:40000000', '-cf', join(dir, 'a.tar'), '-C', dir, 'f']);
      const [member] = await readArchive(readFileSync(join(dir, 'a.tar')));
      assert.equal(member!.entry.uid, 30_000_000);
      assert.equal(member!.entry.gid, 40_000_000);
    });
  });

  it('reads character and block devices archived by GNU tar', { skip: isRoot ? false : 'mknod needs root' }, async () => {
    await withTempDir(async (dir) => {
      try {
        run('mknod', [join(dir, 'null'), 'c', '1', '3']);
        run('mknod', [join(dir, 'disk'), 'b', '8', '17']);
      } catch {
        return; // no CAP_MKNOD in this container: nothing to archive
      }
      gnuTar(['--format=pax', '-cf', join(dir, 'a.tar'), '-C', dir, 'null', 'disk']);
      const found = byPath(await readArchive(readFileSync(join(dir, 'a.tar'))));
      assert.deepEqual([found.get('null')!.entry.kind, found.get('null')!.entry.rdevMajor, found.get('null')!.entry.rdevMinor], ['char', 1, 3]);
      assert.deepEqual([found.get('disk')!.entry.kind, found.get('disk')!.entry.rdevMajor, found.get('disk')!.entry.rdevMinor], ['block', 8, 17]);
    });
  });
});

describe('extracting TarWriter output with GNU tar', { skip }, () => {
  // Depth-first order, as tar itself writes: GNU tar sets a directory's mtime once it has
  // moved past the directory's members, so an entry added to it later would change it again.
  const deepDirectories = DEEP.split('/').map((_, index, parts) => parts.slice(0, index + 1).join('/'));
  const members: Array<[SourceEntry, Buffer?]> = [
    [entry('', { kind: 'dir', perm: 0o755, mtime: { sec: 1_500_000_000, nsec: 1 } })],
    [entry('dir', { kind: 'dir', perm: 0o750, mtime: { sec: 1_600_000_000, nsec: 987_654_321 } })],
    fileEntry('dir/file.txt', b('hello\n'), { perm: 0o640, mtime: { sec: 1_700_000_000, nsec: 123_456_789 } }),
    [entry('dir/link', { kind: 'symlink', perm: 0o777, linkTarget: Buffer.concat([b('../'), NON_UTF8]), mtime: { sec: 1_111_111_111, nsec: 222 } })],
    ...deepDirectories.map((path): [SourceEntry] => [entry(path, { kind: 'dir', perm: 0o755, mtime: { sec: 1_300_000_000, nsec: 42 } })]),
    fileEntry(`${DEEP}/${'z'.repeat(200)}`, Buffer.alloc(100_000, 0x42), { perm: 0o4755, mtime: { sec: 1_234_567_890, nsec: 111 } }),
    fileEntry('empty', Buffer.alloc(0), { perm: 0o600, mtime: { sec: 1_000_000_000, nsec: 999_999_999 } }),
    fileEntry(NON_UTF8, b('latin1'), { mtime: { sec: 1_650_000_000, nsec: 5 } }),
    fileEntry(COMPONENT_255, b('255'), { mtime: { sec: -86_400, nsec: 250_000_000 } }),
    [entry('abslink', { kind: 'symlink', perm: 0o777, linkTarget: b(`/nonexistent/${'x'.repeat(200)}`) })],
    [entry('hard', { kind: 'hardlink', linkTarget: b('dir/file.txt') })],
    [entry(`${'h'.repeat(150)}`, { kind: 'hardlink', linkTarget: b(`${DEEP}/${'z'.repeat(200)}`) })],
    [entry('fifo', { kind: 'fifo', perm: 0o620, mtime: { sec: 1_400_000_000, nsec: 7 } })],
  ];

  const nsOf = (time: { sec: number; nsec: number }) => BigInt(time.sec) * 1_000_000_000n + BigInt(time.nsec);

  it('restores content, modes, nanosecond mtimes, symlinks, hardlinks and non-UTF-8 names', async () => {
    await withTempDir(async (dir) => {
      writeFileSync(join(dir, 'a.tar'), await writeArchive(members));
      mkdirSync(join(dir, 'out'));
      // GNU tar warns about any time before the epoch ("implausibly old"), yet restores it.
      const warnings = gnuTar(['-xf', join(dir, 'a.tar'), '--no-same-owner', '-C', join(dir, 'out')])
        .split('\n')
        .filter((line) => line !== '' && !line.includes('implausibly old time stamp'));
      assert.deepEqual(warnings, [], 'GNU tar extracts without other warnings');
      assert.equal(gnuTar(['-tvf', join(dir, 'a.tar')]), '', 'GNU tar lists without warnings');

      for (const [member, content] of members) {
        const path = Buffer.concat([Buffer.from(`${dir}/out/`), member.path]);
        const stats = lstatSync(path, { bigint: true });
        const shown = member.path.toString('latin1').slice(0, 50);
        if (member.kind === 'hardlink') {
          const target = lstatSync(Buffer.concat([Buffer.from(`${dir}/out/`), member.linkTarget!]), { bigint: true });
          assert.equal(stats.ino, target.ino, `${shown} is a hardlink to ${member.linkTarget}`);
          continue;
        }
        assert.equal(Number(stats.mode) & 0o7777, member.perm, `mode of ${shown}`);
        assert.equal(stats.mtimeNs, nsOf(member.mtime), `mtime of ${shown}`);
        if (member.kind === 'file') assert.ok(readFileSync(path).equals(content!), `content of ${shown}`);
        if (member.kind === 'symlink') assert.ok(readlinkSync(path, { encoding: 'buffer' }).equals(member.linkTarget!), `target of ${shown}`);
        if (member.kind === 'fifo') assert.ok(stats.isFIFO());
        if (member.kind === 'dir') assert.ok(stats.isDirectory());
      }
      assert.ok(readdirSync(join(dir, 'out'), { encoding: 'buffer' }).some((name) => name.equals(NON_UTF8)), 'the non-UTF-8 name is byte-exact');
    });
  });

  it('restores numeric owners as root', { skip: isRoot ? false : 'chown needs root' }, async () => {
    await withTempDir(async (dir) => {
      writeFileSync(join(dir, 'a.tar'), await writeArchive([fileEntry('owned', b('x'), { uid: 3_000_000, gid: 1234 })]));
      gnuTar(['-xf', join(dir, 'a.tar'), '--same-owner', '--numeric-owner', '-C', dir]);
      const stats = lstatSync(join(dir, 'owned'));
      assert.deepEqual([stats.uid, stats.gid], [3_000_000, 1234]);
    });
  });

  it('restores devices as root', { skip: isRoot ? false : 'mknod needs root' }, async () => {
    await withTempDir(async (dir) => {
      writeFileSync(
        join(dir, 'a.tar'),
        await writeArchive([[entry('null', { kind: 'char', perm: 0o666, rdevMajor: 1, rdevMinor: 3 })], [entry('disk', { kind: 'block', perm: 0o660, rdevMajor: 8, rdevMinor: 17 })]]),
      );
      try {
        gnuTar(['-xf', join(dir, 'a.tar'), '-C', dir]);
      } catch (error) {
        if (/Operation not permitted/.test(String(error))) return; // no CAP_MKNOD here
        throw error;
      }
      const nullDevice = lstatSync(join(dir, 'null'));
      const disk = lstatSync(join(dir, 'disk'));
      assert.ok(nullDevice.isCharacterDevice());
      assert.ok(disk.isBlockDevice());
      assert.equal(nullDevice.rdev, (1 << 8) | 3);
      assert.equal(disk.rdev, (8 << 8) | 17);
    });
  });

  it('lets GNU tar restore xattrs, which it archives again identically', async () => {
    await withTempDir(async (dir) => {
      const xattrs: Xattr[] = [
        { name: b('user.plain'), value: b('value') },
        { name: b('user.binary'), value: Buffer.from([0, 1, 0xff, 0x0a, 0x3d]) },
        { name: b('user.with=equals'), value: b('eq') },
      ];
      writeFileSync(join(dir, 'a.tar'), await writeArchive([fileEntry('x', b('content'), { xattrs })]));
      mkdirSync(join(dir, 'out'));
      const warnings = gnuTar(['-xf', join(dir, 'a.tar'), '--xattrs', '--xattrs-include=*', '-C', join(dir, 'out')]);
      if (/setxattr|Operation not supported/.test(warnings)) return; // this filesystem has no user xattrs
      assert.equal(warnings, '');
      gnuTar(['-cf', join(dir, 'b.tar'), '--format=pax', '--xattrs', '--xattrs-include=*', '-C', join(dir, 'out'), 'x']);
      const [member] = await readArchive(readFileSync(join(dir, 'b.tar')));
      const sorted = (list: typeof xattrs) => [...list].sort((left, right) => Buffer.compare(left.name, right.name));
      assert.deepEqual(sorted(member!.entry.xattrs), sorted(xattrs));
    });
  });

  it('extracts a file larger than the read buffer identically', async () => {
    await withTempDir(async (dir) => {
      const size = 5 * 1024 * 1024 + 17;
      const content = Buffer.alloc(size);
      for (let index = 0; index < size; index += 4096) content[index] = index & 0xff;
      const chunks = (function* () {
        for (let offset = 0; offset < size; offset += 100_000) yield content.subarray(offset, offset + 100_000);
      })();
      writeFileSync(join(dir, 'a.tar'), await writeArchive([[entry('big', { size }), chunks]]));
      gnuTar(['-xf', join(dir, 'a.tar'), '-C', dir]);
      assert.ok(readFileSync(join(dir, 'big')).equals(content));
    });
  });
});
