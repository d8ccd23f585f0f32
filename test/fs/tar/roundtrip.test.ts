import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { OperationalError } from '../../../format/errors.js';
import type { SourceEntry } from '../../../fs/entry.js';
import { readTar } from '../../../fs/tar/reader.js';
import { TarWriter } from '../../../fs/tar/writer.js';
import { b, chunked, entry, fileEntry, readArchive, writeArchive } from './helpers.js';

/** Writes, reads back, and checks every field survived. */
async function roundTrip(members: Array<[SourceEntry, Buffer?]>): Promise<void> {
  const archive = await writeArchive(members);
  assert.equal(archive.length % 10240, 0, 'archive is padded to whole records');
  // Read with awkward chunking so no header or record lands on a chunk boundary by luck.
  for (const chunkSize of [1 << 20, 511, 7]) {
    const read = await readArchive(chunked(archive, chunkSize));
    assert.equal(read.length, members.length);
    for (const [index, [written, content]] of members.entries()) {
      const got = read[index]!;
      assert.deepEqual(got.entry, { ...written, size: written.kind === 'file' ? written.size : 0 });
      if (written.kind === 'file') assert.ok(got.content!.equals(content ?? Buffer.alloc(0)), `content of ${written.path}`);
      else assert.equal(got.content, undefined);
    }
  }
}

describe('TarWriter -> readTar round trip', () => {
  it('round-trips every kind of entry', async () => {
    await roundTrip([
      [entry('', { kind: 'dir', perm: 0o755 })],
      [entry('dir', { kind: 'dir', perm: 0o1777 })],
      fileEntry('dir/file.txt', b('hello, tar\n'), { perm: 0o4755 }),
      [entry('dir/link', { kind: 'symlink', perm: 0o777, linkTarget: b('file.txt') })],
      [entry('dir/hard', { kind: 'hardlink', linkTarget: b('dir/file.txt') })],
      [entry('dev/null', { kind: 'char', perm: 0o666, rdevMajor: 1, rdevMinor: 3 })],
      [entry('dev/sda', { kind: 'block', perm: 0o660, rdevMajor: 8, rdevMinor: 0 })],
      [entry('pipe', { kind: 'fifo', perm: 0o600 })],
    ]);
  });

  it('round-trips an empty file', async () => {
    await roundTrip([fileEntry('empty', Buffer.alloc(0))]);
  });

  it('round-trips files whose sizes straddle the block size', async () => {
    await roundTrip([511, 512, 513, 1024, 1025].map((size) => fileEntry(`f${size}`, Buffer.alloc(size, size & 0xff))));
  });

  it('round-trips a 255-byte component and a 4096-byte path', async () => {
    const component = 'c'.repeat(255);
    // 17 components (15 of 255 bytes, then 200 and 55) and 16 slashes: exactly 4096 bytes.
    const longPath = [...Array.from({ length: 15 }, () => component), 'm'.repeat(200), 'z'.repeat(55)].join('/');
    assert.equal(longPath.length, 4096);
    await roundTrip([fileEntry(component, b('x')), fileEntry(longPath, b('deep'))]);
  });

  it('round-trips paths of 100+ bytes, split into ustar prefix and name or carried by pax', async () => {
    await roundTrip([
      fileEntry(`${'p'.repeat(100)}/${'n'.repeat(99)}`, b('split')), // fits prefix + name
      fileEntry('q'.repeat(101), b('no slash: pax')),
      [entry(`${'d'.repeat(99)}`, { kind: 'dir' })], // 100 bytes with the trailing '/'
      [entry(`${'e'.repeat(100)}`, { kind: 'dir' })], // 101 with the '/': pax
      [entry('s', { kind: 'symlink', linkTarget: b(`/${'t'.repeat(150)}`) })],
    ]);
  });

  it('round-trips non-UTF-8 name bytes, link targets and xattr names', async () => {
    const name = Buffer.from([0x63, 0x61, 0x66, 0xe9, 0xff, 0x01]);
    await roundTrip([
      fileEntry(name, b('latin1 name'), {
        xattrs: [{ name: Buffer.concat([b('user.'), Buffer.from([0xfe, 0x3d, 0x25])]), value: Buffer.from([0, 1, 2, 0x0a, 0xff]) }],
      }),
      [entry(Buffer.concat([b('link-'), name]), { kind: 'symlink', linkTarget: Buffer.concat([b('../'), name]) })],
      [entry('hard', { kind: 'hardlink', linkTarget: name })],
    ]);
  });

  it('round-trips xattrs including empty and 64 KiB values', async () => {
    await roundTrip([
      fileEntry('x', b('data'), {
        xattrs: [
          { name: b('user.empty'), value: Buffer.alloc(0) },
          { name: b('user.big'), value: Buffer.alloc(65536, 7) },
          { name: b('security.selinux'), value: b('system_u:object_r:tmp_t:s0\0') },
          { name: b('trusted.with=equals%and percent'), value: b('v') },
        ],
      }),
    ]);
  });

  it('round-trips nanosecond, negative and far-future times', async () => {
    await roundTrip([
      fileEntry('ns', b('1'), { mtime: { sec: 1_700_000_000, nsec: 123_456_789 }, atime: { sec: 1_700_000_001, nsec: 1 }, ctime: { sec: 1_700_000_002, nsec: 999_999_999 } }),
      fileEntry('negative', b('2'), { mtime: { sec: -2, nsec: 500_000_000 }, atime: { sec: -1, nsec: 0 }, ctime: { sec: -100, nsec: 0 } }),
      fileEntry('epoch', b('3'), { mtime: { sec: 0, nsec: 0 }, atime: { sec: 0, nsec: 0 }, ctime: { sec: 0, nsec: 0 } }),
      fileEntry('future', b('4'), { mtime: { sec: 2 ** 40, nsec: 5 }, atime: { sec: 2 ** 40, nsec: 5 }, ctime: { sec: 2 ** 40, nsec: 5 } }),
    ]);
  });

  it('round-trips uids, gids and device numbers beyond the octal range', async () => {
    await roundTrip([
      fileEntry('ids', b('i'), { uid: 4_000_000_000, gid: 2_097_152 }),
      [entry('bigdev', { kind: 'char', rdevMajor: 4095, rdevMinor: 1_048_575 })],
      [entry('hugedev', { kind: 'block', rdevMajor: 3_000_000, rdevMinor: 2 ** 32 - 1 })],
    ]);
  });

  it('round-trips a large file streamed in chunks', async () => {
    const chunkSize = 64 * 1024 + 3;
    const chunkCount = 300; // ~19 MiB
    const makeChunk = (index: number) => Buffer.alloc(chunkSize, index & 0xff);
    const expected = createHash('sha256');
    for (let index = 0; index < chunkCount; index++) expected.update(makeChunk(index));
    const size = chunkSize * chunkCount;

    const pipe = new PassThrough({ highWaterMark: 256 * 1024 });
    const writer = new TarWriter(async (chunk) => {
      if (!pipe.write(chunk)) await once(pipe, 'drain');
    });
    const writing = (async () => {
      await writer.addEntry(entry('big', { size }), (function* () {
        for (let index = 0; index < chunkCount; index++) yield makeChunk(index);
      })());
      await writer.addEntry(entry('after', { size: 5 }), b('after'));
      await writer.end();
      pipe.end();
    })();

    const names: string[] = [];
    let largestChunk = 0;
    for await (const member of readTar(pipe)) {
      names.push(member.entry.path.toString());
      const hash = createHash('sha256');
      let total = 0;
      for await (const chunk of member.content!) {
        largestChunk = Math.max(largestChunk, chunk.length);
        total += chunk.length;
        hash.update(chunk);
      }
      assert.equal(total, member.entry.size);
      if (member.entry.path.toString() === 'big') assert.equal(hash.digest('hex'), expected.digest('hex'));
    }
    await writing;
    assert.deepEqual(names, ['big', 'after']);
    assert.ok(largestChunk <= 256 * 1024, `content arrives in source-sized chunks, largest ${largestChunk}`);
  });

  it('streams an 8 GiB file (pax size, base-256 size field) through writer and reader in bounded memory', async () => {
    const size = 2 ** 33 + 1000; // past the 11-digit octal size limit
    const chunkSize = 1 << 20;
    const pipe = new PassThrough({ highWaterMark: 4 * chunkSize });
    const writer = new TarWriter(async (chunk) => {
      if (!pipe.write(chunk)) await once(pipe, 'drain');
    });
    const writing = (async () => {
      await writer.addEntry(entry('huge', { size }), (function* () {
        for (let sent = 0; sent < size; sent += chunkSize) {
          const chunk = Buffer.allocUnsafe(Math.min(chunkSize, size - sent));
          chunk[0] = 0x5a; // a marker the reader can check without holding anything
          yield chunk;
        }
      })());
      await writer.addEntry(entry('tail', { size: 4 }), b('tail'));
      await writer.end();
      pipe.end();
    })();

    const baseline = process.memoryUsage().arrayBuffers;
    let peak = 0;
    const seen: Array<[string, number]> = [];
    for await (const member of readTar(pipe)) {
      let total = 0;
      let chunks = 0;
      for await (const chunk of member.content!) {
        total += chunk.length;
        if (++chunks % 256 === 0) peak = Math.max(peak, process.memoryUsage().arrayBuffers - baseline);
      }
      seen.push([member.entry.path.toString(), total]);
    }
    await writing;
    assert.deepEqual(seen, [['huge', size], ['tail', 4]]);
    assert.ok(peak < 256 * 2 ** 20, `array buffers grew by ${peak} bytes`);
  });

  it('writes byte-identical archives for identical input', async () => {
    const members: Array<[SourceEntry, Buffer?]> = [
      [entry('', { kind: 'dir' })],
      fileEntry('a', b('a'), { mtime: { sec: 5, nsec: 6 } }),
      [entry(`${'l'.repeat(200)}/${'m'.repeat(200)}`, { kind: 'symlink', linkTarget: b('a') })],
    ];
    assert.ok((await writeArchive(members)).equals(await writeArchive(members)));
  });

  it('pads the archive to the requested record size', async () => {
    assert.equal((await writeArchive([fileEntry('a', b('a'))], 512)).length, 512 * 4);
    assert.equal((await writeArchive([fileEntry('a', b('a'))])).length, 10240);
  });
});

describe('TarWriter refusals', () => {
  const writeOne = (member: SourceEntry, content?: Buffer) => writeArchive([[member, content]]);
  const assertOperational = async (action: () => Promise<unknown>, code: string) => {
    await assert.rejects(action, (error: unknown) => error instanceof OperationalError && error.code === code);
  };

  it('refuses sockets with UNSUPPORTED_ENTRY', async () => {
    await assertOperational(() => writeOne(entry('sock', { kind: 'socket' })), 'UNSUPPORTED_ENTRY');
  });

  it('refuses paths that are not normalised or would escape', async () => {
    for (const path of ['/abs', '../up', 'a/../b', './a', 'a/', 'a//b', 'nul\0byte', `${'x'.repeat(256)}`]) {
      await assertOperational(() => writeOne(entry(path)), 'BAD_ENTRY');
    }
    await assertOperational(() => writeOne(entry('h', { kind: 'hardlink', linkTarget: b('../x') })), 'BAD_ENTRY');
  });

  it('refuses content that does not match the declared size', async () => {
    await assertOperational(() => writeOne(entry('short', { size: 10 }), b('abc')), 'CONTENT_SIZE_MISMATCH');
    await assertOperational(() => writeOne(entry('long', { size: 2 }), b('abc')), 'CONTENT_SIZE_MISMATCH');
  });

  it('refuses calls after end() and overlapping calls', async () => {
    const writer = new TarWriter(() => undefined);
    const first = writer.addEntry(entry('a', { size: 1 }), b('a'));
    await assert.rejects(writer.addEntry(entry('b')), /previous call has not finished/);
    await first;
    await writer.end();
    await assert.rejects(writer.addEntry(entry('c')), /end\(\) was called/);
  });
});
