// readTar features on hand-made archives, and its content-streaming contract.

import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { printableBytes } from '../../../fs/tar/errors.js';
import { BLOCK_SIZE, GNU_MAGIC, GNU_VERSION, USTAR_FIELDS, checksumMatches, decodeFields } from '../../../fs/tar/header.js';
import { formatPaxTime, parsePaxTime } from '../../../fs/tar/pax.js';
import { readTar } from '../../../fs/tar/reader.js';
import { b, chunked, data, fileMember, header, patchHeader, paxMember, readArchive, tarOf } from './helpers.js';

describe('readTar formats', () => {
  it('reads a pax header with nanosecond mtime, atime and ctime', async () => {
    const [member] = await readArchive(
      tarOf(paxMember([['mtime', '1700000000.123456789'], ['atime', '1700000001.5'], ['ctime', '1700000002.0000000019999']]), fileMember('f', b('x'))),
    );
    assert.deepEqual(member!.entry.mtime, { sec: 1_700_000_000, nsec: 123_456_789 });
    assert.deepEqual(member!.entry.atime, { sec: 1_700_000_001, nsec: 500_000_000 });
    assert.deepEqual(member!.entry.ctime, { sec: 1_700_000_002, nsec: 1 }, 'digits past the ninth are dropped');
  });

  it('reads negative pax times as real numbers ("-1.5" is 1.5 s before the epoch)', () => {
    assert.deepEqual(parsePaxTime('mtime', b('-1.5')), { sec: -2, nsec: 500_000_000 });
    assert.deepEqual(parsePaxTime('mtime', b('-0.25')), { sec: -1, nsec: 750_000_000 });
    assert.deepEqual(parsePaxTime('mtime', b('-7')), { sec: -7, nsec: 0 });
    for (const time of [{ sec: -2, nsec: 500_000_000 }, { sec: -1, nsec: 1 }, { sec: 5, nsec: 10 }, { sec: 0, nsec: 0 }]) {
      assert.deepEqual(parsePaxTime('mtime', b(formatPaxTime(time))), time);
    }
  });

  it('defaults atime and ctime to mtime when the archive has none', async () => {
    const [member] = await readArchive(tarOf(fileMember('f', b('x'), { mtime: 1234 })));
    assert.deepEqual([member!.entry.atime, member!.entry.ctime], [{ sec: 1234, nsec: 0 }, { sec: 1234, nsec: 0 }]);
  });

  it('reads old GNU atime and ctime fields', async () => {
    const block = header('f', { magic: GNU_MAGIC, version: GNU_VERSION });
    const [member] = await readArchive(tarOf(patchHeader(block, { atime: '00000001750\0', ctime: '00000003720\0' })));
    assert.deepEqual([member!.entry.atime.sec, member!.entry.ctime.sec], [1000, 2000]);
  });

  it('applies pax global headers to later entries, with per-entry overrides and deletion', async () => {
    const members = await readArchive(
      tarOf(
        paxMember([['uid', '5000'], ['SCHILY.xattr.user.global', 'g']], 'g'),
        fileMember('a', b('')),
        paxMember([['uid', '6000']]),
        fileMember('b', b('')),
        paxMember([['uid', '']], 'g'),
        fileMember('c', b(''), { uid: 7 }),
      ),
    );
    assert.deepEqual(members.map((member) => member.entry.uid), [5000, 6000, 7]);
    assert.deepEqual(members[2]!.entry.xattrs, [{ name: b('user.global'), value: b('g') }]);
  });

  it('reads path and linkpath from pax, over the ustar fields', async () => {
    const members = await readArchive(
      tarOf(
        paxMember([['path', 'real/name']]),
        fileMember('fallback', b('x')),
        paxMember([['linkpath', 'real/name'], ['path', 'link']]),
        header('ignored', { typeflag: '1', linkname: b('also-ignored') }),
      ),
    );
    assert.deepEqual(members.map((member) => [member.entry.path.toString(), member.entry.linkTarget?.toString()]), [['real/name', undefined], ['link', 'real/name']]);
  });

  it('reads SCHILY, LIBARCHIVE (URL-encoded name, base64 value) and RHT SELinux xattrs', async () => {
    const [member] = await readArchive(
      tarOf(
        paxMember([
          ['SCHILY.xattr.user.a%3Db%25c', 'raw\nvalue'],
          ['LIBARCHIVE.xattr.user.%E9t%C3%A9', Buffer.from([0, 1, 2, 0xff]).toString('base64').replace(/=+$/, '')],
          ['RHT.security.selinux', 'system_u:object_r:etc_t:s0'],
          ['SCHILY.xattr.user.empty', ''],
        ]),
        fileMember('f', b('')),
      ),
    );
    assert.deepEqual(member!.entry.xattrs, [
      { name: b('user.a=b%c'), value: b('raw\nvalue') },
      { name: Buffer.from([...b('user.'), 0xe9, 0x74, 0xc3, 0xa9]), value: Buffer.from([0, 1, 2, 0xff]) },
      { name: b('security.selinux'), value: b('system_u:object_r:etc_t:s0') },
      { name: b('user.empty'), value: Buffer.alloc(0) },
    ]);
  });

  it('ignores pax keywords it does not use, such as hdrcharset, uname and comment', async () => {
    const [member] = await readArchive(
      tarOf(paxMember([['hdrcharset', 'BINARY'], ['uname', 'root'], ['comment', 'hi'], ['SCHILY.acl.access', 'user::rw-']]), fileMember('f', b('x'))),
    );
    assert.equal(member!.entry.path.toString(), 'f');
  });

  it('reads GNU long names and long link names', async () => {
    const name = Buffer.concat([b('n/'.repeat(150)), Buffer.from([0xff]), b('\0')]);
    const link = Buffer.concat([b('/target/'.repeat(40)), b('\0')]);
    const [member] = await readArchive(
      tarOf(
        header('././@LongLink', { typeflag: 'L', size: name.length }),
        data(name),
        header('././@LongLink', { typeflag: 'K', size: link.length }),
        data(link),
        header('truncated', { typeflag: '2', linkname: b('truncated') }),
      ),
    );
    assert.ok(member!.entry.path.equals(name.subarray(0, -1)));
    assert.ok(member!.entry.linkTarget!.equals(link.subarray(0, -1)));
  });

  it('reads base-256 uid, gid and negative mtime fields', async () => {
    const block = patchHeader(header('f'), {
      uid: [0x80, 0, 0, 0, 0x01, 0xc9, 0xc3, 0x80], // 30000000
      gid: [0x80, 0, 0, 0, 0xff, 0xff, 0xff, 0xff], // 2^32-1
      mtime: [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00], // -256
    });
    const [member] = await readArchive(tarOf(block));
    assert.deepEqual([member!.entry.uid, member!.entry.gid, member!.entry.mtime.sec], [30_000_000, 2 ** 32 - 1, -256]);
  });

  it('reads every entry kind and the content types 0, NUL and 7', async () => {
    const members = await readArchive(
      tarOf(
        fileMember('zero', b('0'), { typeflag: '0' }),
        fileMember('nul', b('n'), { typeflag: '\0' }),
        fileMember('contiguous', b('7'), { typeflag: '7' }),
        header('dir/', { typeflag: '5', mode: 0o40755 }),
        header('olddir/', { typeflag: '\0' }),
        header('link', { typeflag: '2', linkname: b('zero') }),
        header('hard', { typeflag: '1', linkname: b('./zero') }),
        header('chr', { typeflag: '3', devmajor: 4, devminor: 64 }),
        header('blk', { typeflag: '4', devmajor: 259, devminor: 1 }),
        header('fifo', { typeflag: '6' }),
        header('label', { typeflag: 'V' }),
      ),
    );
    assert.deepEqual(
      members.map(({ entry, content }) => [entry.path.toString(), entry.kind, entry.perm.toString(8), content?.toString(), entry.linkTarget?.toString(), entry.rdevMajor, entry.rdevMinor]),
      [
        ['zero', 'file', '644', '0', undefined, undefined, undefined],
        ['nul', 'file', '644', 'n', undefined, undefined, undefined],
        ['contiguous', 'file', '644', '7', undefined, undefined, undefined],
        ['dir', 'dir', '755', undefined, undefined, undefined, undefined],
        ['olddir', 'dir', '644', undefined, undefined, undefined, undefined],
        ['link', 'symlink', '644', undefined, 'zero', undefined, undefined],
        ['hard', 'hardlink', '644', undefined, 'zero', undefined, undefined],
        ['chr', 'char', '644', undefined, undefined, 4, 64],
        ['blk', 'block', '644', undefined, undefined, 259, 1],
        ['fifo', 'fifo', '644', undefined, undefined, undefined, undefined],
      ],
    );
  });

  it('skips data stored with non-file entries and reports size 0', async () => {
    const members = await readArchive(tarOf(fileMember('dir/', b('listing'), { typeflag: '5' }), fileMember('after', b('ok'))));
    assert.deepEqual(members.map((member) => [member.entry.kind, member.entry.size, member.content?.toString()]), [['dir', 0, undefined], ['file', 2, 'ok']]);
  });

  it('reports the offset of each member, counting its extension headers', async () => {
    const members = await readArchive(tarOf(fileMember('a', b('1')), paxMember([['path', 'b']]), fileMember('x', b('2'))));
    assert.deepEqual(members.map((member) => member.offset), [0, 2 * BLOCK_SIZE]);
  });
});

describe('readTar content streaming', () => {
  const archive = tarOf(fileMember('first', Buffer.alloc(5000, 1)), fileMember('second', b('second')));

  it('skips content the consumer does not read', async () => {
    const names: string[] = [];
    for await (const member of readTar(chunked(archive, 1000))) names.push(member.entry.path.toString());
    assert.deepEqual(names, ['first', 'second']);
  });

  it('skips the rest of partially read content', async () => {
    const seen: string[] = [];
    for await (const member of readTar(chunked(archive, 1000))) {
      for await (const chunk of member.content!) {
        seen.push(`${member.entry.path}:${chunk.length}`);
        break;
      }
    }
    assert.deepEqual(seen, ['first:488', 'second:6']); // the first chunk also held the 512-byte header
  });

  it('throws when content is read after moving to the next member', async () => {
    const reader = readTar(chunked(archive, 1000));
    const first = (await reader.next()).value!;
    const iterator = first.content![Symbol.asyncIterator]();
    await reader.next();
    await assert.rejects(iterator.next(), /read after the reader moved to the next member/);
    await reader.return();
  });

  it('refuses to iterate content twice', async () => {
    for await (const member of readTar(chunked(archive, 1000))) {
      for await (const chunk of member.content!) void chunk;
      assert.throws(() => member.content![Symbol.asyncIterator](), /only once/);
    }
  });

  it('parses correctly when the source yields one byte at a time', async () => {
    const members = await readArchive(chunked(tarOf(paxMember([['path', 'p'.repeat(200)]]), fileMember('x', b('tiny'))), 1));
    assert.equal(members[0]!.entry.path.toString(), 'p'.repeat(200));
    assert.equal(members[0]!.content!.toString(), 'tiny');
  });

  it('reads from a Node readable stream and from an array of chunks', async () => {
    assert.equal((await readArchive(Readable.from([archive]))).length, 2);
    assert.equal((await readArchive([archive.subarray(0, 700), archive.subarray(700)])).length, 2);
  });

  it('closes the source when the consumer stops early', async () => {
    let closed = false;
    async function* source() {
      try {
        yield* chunked(archive, 512);
      } finally {
        closed = true;
      }
    }
    for await (const member of readTar(source())) {
      void member;
      break;
    }
    assert.ok(closed);
  });
});

describe('tar helpers', () => {
  it('escapes invalid UTF-8, control bytes and backslashes but keeps valid UTF-8', () => {
    assert.equal(printableBytes(Buffer.from('café/日本/😀', 'utf8')), 'café/日本/😀');
    assert.equal(printableBytes(Buffer.from([0x61, 0xe9, 0x62, 0x0a, 0x5c, 0xed, 0xa0, 0x80, 0xc0, 0xaf])), 'a\\xe9b\\x0a\\x5c\\xed\\xa0\\x80\\xc0\\xaf');
  });

  it('derives header encode and decode from one field table', () => {
    const block = header('name', { size: 2 ** 33 + 5, uid: 2 ** 21, mtime: -1 });
    assert.ok(checksumMatches(block));
    const decoded = decodeFields(USTAR_FIELDS, block);
    assert.deepEqual([decoded.name.toString(), decoded.size, decoded.uid, decoded.mtime], ['name', 2 ** 33 + 5, 2 ** 21, -1]);
  });
});
