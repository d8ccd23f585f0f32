// Archives no honest tar writes: each must fail with its specific error, naming the entry and
// the offset, and without yielding the offending member.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BLOCK_SIZE } from '../../../fs/tar/header.js';
import { readTar } from '../../../fs/tar/reader.js';
import { END, assertTarError, b, data, fileMember, header, patchHeader, paxMember, readArchive, tarOf } from './helpers.js';

const read = (archive: Buffer) => () => readArchive(archive);

describe('hostile archives', () => {
  it('refuses an absolute path, naming the entry and its offset', async () => {
    const error = await assertTarError(read(tarOf(fileMember('ok', b('1')), fileMember('/etc/passwd', b('root::0:0')))), 'absolute-path');
    assert.match(error.message, /^tar archive: entry "\/etc\/passwd" at offset 1024: name is an absolute path$/);
    assert.equal(error.offset, 1024);
  });

  it('refuses a ".." component in the ustar name, pax path, GNU long name and prefix', async () => {
    await assertTarError(read(tarOf(fileMember('a/../../etc/cron.d/x', b('')))), 'dotdot');
    await assertTarError(read(tarOf(fileMember('..', b('')))), 'dotdot');
    await assertTarError(read(tarOf(paxMember([['path', 'safe/../../x']]), fileMember('safe', b('')))), 'dotdot');
    const longName = Buffer.from('../escape\0');
    await assertTarError(read(tarOf(header('././@LongLink', { typeflag: 'L', size: longName.length }), data(longName), fileMember('x', b('')))), 'dotdot');
    await assertTarError(read(tarOf(fileMember('x', b(''), { prefix: b('..') }))), 'dotdot');
  });

  it('escapes non-UTF-8 bytes as \\xNN when naming a hostile entry', async () => {
    const name = Buffer.concat([Buffer.from([0xff, 0xfe]), b('/../\u0001x')]);
    const error = await assertTarError(read(tarOf(fileMember(name, b('')))), 'dotdot');
    assert.match(error.message, /entry "\\xff\\xfe\/\.\.\/\\x01x"/);
  });

  it('refuses a NUL byte inside a pax path or a GNU long name', async () => {
    await assertTarError(read(tarOf(paxMember([['path', 'evil\0.txt']]), fileMember('x', b('')))), 'nul-in-name');
    const longName = Buffer.from('a\0b\0');
    await assertTarError(read(tarOf(header('././@LongLink', { typeflag: 'L', size: longName.length }), data(longName), fileMember('x', b('')))), 'nul-in-name');
  });

  it('refuses empty path components but accepts "./" and a trailing "/"', async () => {
    await assertTarError(read(tarOf(fileMember('a//b', b('')))), 'empty-component');
    await assertTarError(read(tarOf(paxMember([['path', './/a']]), fileMember('x', b('')))), 'empty-component');
    const members = await readArchive(tarOf(header('./', { typeflag: '5' }), header('./a/./b/', { typeflag: '5' })));
    assert.deepEqual(members.map((member) => member.entry.path.toString()), ['', 'a/b']);
  });

  it('refuses an empty name', async () => {
    await assertTarError(read(tarOf(fileMember('', b('')))), 'empty-name');
  });

  it('refuses names longer than 4096 bytes and components longer than 255', async () => {
    const long = Array.from({ length: 20 }, () => 'n'.repeat(250)).join('/');
    await assertTarError(read(tarOf(paxMember([['path', long]]), fileMember('x', b('')))), 'name-too-long');
    const huge = Buffer.alloc(100_000, 0x61);
    await assertTarError(read(tarOf(header('././@LongLink', { typeflag: 'L', size: huge.length }), data(huge), fileMember('x', b('')))), 'name-too-long');
    await assertTarError(read(tarOf(paxMember([['path', `ok/${'c'.repeat(256)}`]]), fileMember('x', b('')))), 'component-too-long');
  });

  it('refuses a pax header larger than 1 MiB without reading it', async () => {
    // The claimed data is not even present: the size alone is enough to refuse.
    await assertTarError(read(Buffer.concat([header('PaxHeaders/x', { typeflag: 'x', size: 1024 * 1024 + 1 }), END])), 'pax-too-large');
  });

  it('refuses a pax record whose length is absurd or inconsistent', async () => {
    const withBody = (body: Buffer) => tarOf(header('PaxHeaders/x', { typeflag: 'x', size: body.length }), data(body), fileMember('x', b('')));
    await assertTarError(read(withBody(b('99999999 path=a\n'))), 'bad-pax-record', { message: /claims 99999999 bytes/ });
    await assertTarError(read(withBody(b('3 a=\n'))), 'bad-pax-record');
    await assertTarError(read(withBody(b('10 path=ab\n'))), 'bad-pax-record'); // length says 10, record is 11
    await assertTarError(read(withBody(b('9999999999999999999 path=a\n'))), 'bad-pax-record');
    await assertTarError(read(withBody(b('x path=a\n'))), 'bad-pax-record');
    await assertTarError(read(withBody(b('11 noequal\n'))), 'bad-pax-record');
  });

  it('bounds the pax records pending for one entry and the global pax state', async () => {
    const bigRecord = (key: string) => paxMember([[key, 'v'.repeat(600 * 1024)]]);
    await assertTarError(read(tarOf(bigRecord('comment'), bigRecord('comment'), fileMember('x', b('')))), 'pax-too-large');
    await assertTarError(
      read(tarOf(paxMember([['comment.a', 'v'.repeat(600 * 1024)]], 'g'), paxMember([['comment.b', 'v'.repeat(600 * 1024)]], 'g'), fileMember('x', b('')))),
      'pax-too-large',
    );
    // Re-setting the same global keyword does not accumulate.
    const same = Array.from({ length: 4 }, () => paxMember([['comment', 'v'.repeat(600 * 1024)]], 'g'));
    assert.equal((await readArchive(tarOf(...same, fileMember('x', b(''))))).length, 1);
  });

  it('refuses an xattr value larger than 64 KiB', async () => {
    await assertTarError(read(tarOf(paxMember([['SCHILY.xattr.user.big', Buffer.alloc(65537, 1)]]), fileMember('x', b('')))), 'xattr-too-large');
    const base64 = Buffer.alloc(65537, 1).toString('base64');
    await assertTarError(read(tarOf(paxMember([['LIBARCHIVE.xattr.user.big', base64]]), fileMember('x', b('')))), 'xattr-too-large');
  });

  it('refuses malformed xattrs: empty name, NUL in name, bad base64', async () => {
    await assertTarError(read(tarOf(paxMember([['SCHILY.xattr.', 'v']]), fileMember('x', b('')))), 'bad-xattr');
    await assertTarError(read(tarOf(paxMember([['LIBARCHIVE.xattr.user.a%00b', 'dg==']]), fileMember('x', b('')))), 'bad-xattr');
    await assertTarError(read(tarOf(paxMember([['LIBARCHIVE.xattr.user.a', '!!!']]), fileMember('x', b('')))), 'bad-xattr');
  });

  it('refuses sizes beyond 2^53-1 or negative, in base-256 and pax', async () => {
    const base256 = (size: number[]) => patchHeader(header('big'), { size });
    await assertTarError(read(tarOf(base256([0x80, 0, 0, 0, 0x40, 0, 0, 0, 0, 0, 0, 0]))), 'size-out-of-range'); // 2^62
    await assertTarError(read(tarOf(base256([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe]))), 'size-out-of-range'); // -2
    await assertTarError(read(tarOf(paxMember([['size', String(2 ** 53)]]), fileMember('x', b('')))), 'size-out-of-range');
    await assertTarError(read(tarOf(paxMember([['size', '-1']]), fileMember('x', b('')))), 'size-out-of-range');
    await assertTarError(read(tarOf(paxMember([['size', '12abc']]), fileMember('x', b('')))), 'bad-pax-record');
  });

  it('refuses uids and times out of range', async () => {
    await assertTarError(read(tarOf(paxMember([['uid', String(2 ** 32)]]), fileMember('x', b('')))), 'id-out-of-range');
    await assertTarError(read(tarOf(paxMember([['mtime', '9'.repeat(30)]]), fileMember('x', b('')))), 'time-out-of-range');
    await assertTarError(read(tarOf(paxMember([['mtime', '12:00']]), fileMember('x', b('')))), 'bad-pax-record');
  });

  it('refuses a hardlink to a name not seen earlier in the archive', async () => {
    const error = await assertTarError(
      read(tarOf(header('link', { typeflag: '1', linkname: b('later') }), fileMember('later', b('x')))),
      'hardlink-unseen',
    );
    assert.match(error.message, /entry "link" at offset 0: hardlink target "later" is not an earlier entry/);
  });

  it('refuses a hardlink that points outside the archive or at a directory', async () => {
    await assertTarError(read(tarOf(header('link', { typeflag: '1', linkname: b('/etc/shadow') }))), 'absolute-path', { message: /hardlink target: / });
    await assertTarError(read(tarOf(fileMember('a', b('')), header('link', { typeflag: '1', linkname: b('a/../../x') }))), 'dotdot');
    await assertTarError(read(tarOf(paxMember([['linkpath', 'a\0b']]), header('link', { typeflag: '1' }))), 'nul-in-name');
    await assertTarError(read(tarOf(header('d/', { typeflag: '5' }), header('link', { typeflag: '1', linkname: b('d') }))), 'hardlink-to-directory');
    await assertTarError(read(tarOf(header('./', { typeflag: '5' }), header('link', { typeflag: '1', linkname: b('.') }))), 'hardlink-to-directory');
  });

  it('accepts symlink targets that are absolute or climb with ".."', async () => {
    const members = await readArchive(
      tarOf(header('abs', { typeflag: '2', linkname: b('/etc/passwd') }), header('up', { typeflag: '2', linkname: b('../../../../etc') })),
    );
    assert.deepEqual(members.map((member) => member.entry.linkTarget!.toString()), ['/etc/passwd', '../../../../etc']);
  });

  it('refuses symlink targets no filesystem can hold', async () => {
    await assertTarError(read(tarOf(header('empty', { typeflag: '2' }))), 'bad-link-target');
    await assertTarError(read(tarOf(paxMember([['linkpath', 'a\0b']]), header('nul', { typeflag: '2' }))), 'bad-link-target');
  });

  it('passes duplicate names through in archive order', async () => {
    const members = await readArchive(tarOf(fileMember('same', b('first')), fileMember('./same', b('second'))));
    assert.deepEqual(members.map((member) => [member.entry.path.toString(), member.content!.toString()]), [['same', 'first'], ['same', 'second']]);
  });

  it('refuses a root entry that is not a directory', async () => {
    await assertTarError(read(tarOf(fileMember('./', b(''), { typeflag: '2', linkname: b('x') }))), 'root-not-directory');
    await assertTarError(read(tarOf(fileMember('.', b('data')))), 'root-not-directory');
  });

  it('refuses a header whose checksum does not match', async () => {
    const member = fileMember('file', b('x'));
    member[0] ^= 1;
    await assertTarError(read(tarOf(fileMember('ok', b('')), member)), 'checksum', { message: /at offset 512: header checksum mismatch/ });
    await assertTarError(read(Buffer.alloc(4096, 0x41)), 'checksum', { message: /not a tar archive/ });
  });

  it('refuses a number field that is neither octal nor base-256', async () => {
    await assertTarError(read(tarOf(patchHeader(header('f'), { uid: '12x4' }))), 'bad-field', { message: /uid field is not an octal number/ });
  });

  it('refuses entry types it does not handle, as UNSUPPORTED_ARCHIVE', async () => {
    await assertTarError(read(tarOf(header('vol', { typeflag: 'M' }))), 'unsupported-type', { code: 'UNSUPPORTED_ARCHIVE', message: /multi-volume/ });
    await assertTarError(read(tarOf(header('odd', { typeflag: 'Q' }))), 'unsupported-type', { code: 'UNSUPPORTED_ARCHIVE' });
  });

  it('refuses an extension header that is not followed by an entry', async () => {
    await assertTarError(read(tarOf(paxMember([['path', 'x']]))), 'orphan-extension');
  });
});

describe('truncated archives', () => {
  const archive = tarOf(fileMember('first', b('1')), fileMember('second', Buffer.alloc(3000, 2)));

  it('reports EOF inside content, naming the entry', async () => {
    const cut = archive.subarray(0, 1024 + BLOCK_SIZE + 1000);
    const error = await assertTarError(read(cut), 'truncated');
    assert.match(error.message, /entry "second" at offset 1024: archive ends inside the entry's data \(3000 bytes from offset 1536, stream ends at offset 2536\)/);
  });

  it('reports EOF inside content that the consumer skips', async () => {
    const cut = archive.subarray(0, 1024 + BLOCK_SIZE + 1000);
    await assertTarError(async () => {
      for await (const member of readTar([cut])) void member;
    }, 'truncated');
  });

  it('reports EOF inside the padding after content', async () => {
    await assertTarError(read(archive.subarray(0, 1024 + BLOCK_SIZE + 3000)), 'truncated');
  });

  it('reports EOF inside a header', async () => {
    await assertTarError(read(archive.subarray(0, 1024 + 100)), 'truncated', { message: /inside a header/ });
  });

  it('reports EOF inside a pax header and after one', async () => {
    const pax = paxMember([['path', 'p'.repeat(700)]]);
    await assertTarError(read(pax.subarray(0, 700)), 'truncated');
    await assertTarError(read(pax), 'truncated', { message: /after an extension header/ });
  });

  it('reports a missing end-of-archive marker and an empty archive', async () => {
    await assertTarError(read(archive.subarray(0, archive.length - END.length)), 'missing-end', { message: /truncated/ });
    await assertTarError(read(Buffer.alloc(0)), 'missing-end', { message: /empty/ });
  });

  it('accepts a single zero block at EOF but not one followed by data', async () => {
    const lone = Buffer.concat([fileMember('a', b('1')), Buffer.alloc(BLOCK_SIZE)]);
    assert.equal((await readArchive(lone)).length, 1);
    await assertTarError(read(Buffer.concat([lone, fileMember('b', b('2'))])), 'trailing-data');
  });
});
