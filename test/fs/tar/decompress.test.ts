// openArchiveStream: magic sniffing, streaming gzip and zstd, and its errors.

import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import * as zlib from 'node:zlib';
import { compress, init } from '@bokuweb/zstd-wasm';
import { OperationalError } from '../../../format/errors.js';
import type { SourceEntry } from '../../../fs/entry.js';
import { openArchiveStream } from '../../../fs/tar/decompress.js';
import { b, entry, fileEntry, readArchive, withTempDir, writeArchive } from './helpers.js';

const hasNativeZstd = typeof (zlib as unknown as { createZstdDecompress?: unknown }).createZstdDecompress === 'function';

const members: Array<[SourceEntry, Buffer?]> = [
  [entry('', { kind: 'dir' })],
  fileEntry('text', b('hello '.repeat(10_000))),
  fileEntry('random', randomish(300_000)),
  [entry('link', { kind: 'symlink', linkTarget: b('text') })],
];

function randomish(length: number): Buffer {
  const bytes = Buffer.alloc(length);
  let state = 12345;
  for (let index = 0; index < length; index++) {
    state = (state * 1103515245 + 12345) >>> 0;
    bytes[index] = state >>> 24;
  }
  return bytes;
}

// zstd-wasm must be initialised once per process: a second init() swaps the wasm instance under
// the module's heap views, and later compress() calls then return garbage.
const zstdReady = init();

async function zstd(bytes: Buffer, level = 3): Promise<Buffer> {
  await zstdReady;
  return Buffer.from(compress(bytes, level));
}

/** Opens and reads an archive file, checking it holds `members`. */
async function assertReadsBack(path: string, expectedCompression: string, options?: Parameters<typeof openArchiveStream>[1]): Promise<void> {
  const stream = await openArchiveStream(path, options);
  assert.equal(stream.compression, expectedCompression);
  const read = await readArchive(stream, { archiveName: path });
  assert.deepEqual(
    read.map((member) => [member.entry.path.toString(), member.content?.length]),
    members.map(([member, content]) => [member.path.toString(), content?.length]),
  );
  for (const [index, [, content]] of members.entries()) if (content) assert.ok(read[index]!.content!.equals(content));
}

async function assertOperational(action: () => Promise<unknown>, code: string, message?: RegExp): Promise<void> {
  await assert.rejects(action, (error: unknown) => {
    assert.ok(error instanceof OperationalError, `expected OperationalError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    if (message) assert.match(error.message, message);
    return true;
  });
}

async function drain(path: string, options?: Parameters<typeof openArchiveStream>[1]): Promise<{ total: number; largest: number }> {
  let total = 0;
  let largest = 0;
  for await (const chunk of await openArchiveStream(path, options)) {
    total += chunk.length;
    largest = Math.max(largest, chunk.length);
  }
  return { total, largest };
}

describe('openArchiveStream', () => {
  it('reads a plain tar archive', async () => {
    await withTempDir(async (dir) => {
      writeFileSync(join(dir, 'a.tar'), await writeArchive(members));
      await assertReadsBack(join(dir, 'a.tar'), 'none');
    });
  });

  it('reads a gzip-compressed archive, including a multi-member gzip file', async () => {
    await withTempDir(async (dir) => {
      const archive = await writeArchive(members);
      writeFileSync(join(dir, 'a.tar.gz'), zlib.gzipSync(archive));
      await assertReadsBack(join(dir, 'a.tar.gz'), 'gzip');
      const half = 10_000;
      writeFileSync(join(dir, 'multi.tgz'), Buffer.concat([zlib.gzipSync(archive.subarray(0, half)), zlib.gzipSync(archive.subarray(half))]));
      await assertReadsBack(join(dir, 'multi.tgz'), 'gzip');
    });
  });

  it('reads a zstd-compressed archive through fzstd, including several frames', async () => {
    await withTempDir(async (dir) => {
      const archive = await writeArchive(members);
      writeFileSync(join(dir, 'a.tar.zst'), await zstd(archive, 19));
      await assertReadsBack(join(dir, 'a.tar.zst'), 'zstd', { zstdDecoder: 'fzstd' });
      const skippable = Buffer.from([0x50, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 1, 2, 3]);
      const frames = Buffer.concat([await zstd(archive.subarray(0, 7000)), skippable, await zstd(archive.subarray(7000), 1)]);
      writeFileSync(join(dir, 'multi.tar.zst'), frames);
      await assertReadsBack(join(dir, 'multi.tar.zst'), 'zstd', { zstdDecoder: 'fzstd' });
    });
  });

  it('reads a zstd-compressed archive through node:zlib when this Node has it', { skip: hasNativeZstd ? false : `no zlib zstd in Node ${process.version}` }, async () => {
    await withTempDir(async (dir) => {
      writeFileSync(join(dir, 'a.tar.zst'), await zstd(await writeArchive(members)));
      await assertReadsBack(join(dir, 'a.tar.zst'), 'zstd', { zstdDecoder: 'native' });
    });
  });

  it('decodes a zstd bomb one block at a time instead of all at once', async () => {
    await withTempDir(async (dir) => {
      // 2000 RLE blocks of 128 KiB each: 8 KB of input, 250 MiB of output.
      const blocks = 2000;
      const header = Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x58]); // no checksum, 16 MiB window
      const rle = (last: boolean) => {
        const value = (128 * 1024) << 3 | (1 << 1) | (last ? 1 : 0);
        return Buffer.from([value & 0xff, (value >> 8) & 0xff, (value >> 16) & 0xff, 0x00]);
      };
      const bomb = Buffer.concat([header, ...Array.from({ length: blocks }, (_, index) => rle(index === blocks - 1))]);
      writeFileSync(join(dir, 'bomb.zst'), bomb);
      const { total, largest } = await drain(join(dir, 'bomb.zst'), { zstdDecoder: 'fzstd' });
      assert.equal(total, blocks * 128 * 1024);
      assert.ok(largest <= 256 * 1024, `largest chunk ${largest}`);
    });
  });

  it('refuses a zstd frame that needs a window beyond 128 MiB', async () => {
    await withTempDir(async (dir) => {
      const frame = Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, (21 << 3) | 0, 0x01, 0x00, 0x00]); // 2 GiB window
      writeFileSync(join(dir, 'wide.zst'), frame);
      await assertOperational(() => drain(join(dir, 'wide.zst'), { zstdDecoder: 'fzstd' }), 'UNSUPPORTED_ARCHIVE', /2048 MiB window/);
    });
  });

  it('reports truncated and corrupt compressed data as BAD_ARCHIVE', async () => {
    await withTempDir(async (dir) => {
      const archive = await writeArchive(members);
      const zst = await zstd(archive);
      writeFileSync(join(dir, 'cut.zst'), zst.subarray(0, zst.length - 100));
      await assertOperational(() => drain(join(dir, 'cut.zst'), { zstdDecoder: 'fzstd' }), 'BAD_ARCHIVE', /cut\.zst: zstd data is truncated/);

      const garbage = Buffer.concat([zst, Buffer.from('trailing garbage')]);
      writeFileSync(join(dir, 'garbage.zst'), garbage);
      await assertOperational(() => drain(join(dir, 'garbage.zst'), { zstdDecoder: 'fzstd' }), 'BAD_ARCHIVE', /not a zstd frame/);

      const gz = zlib.gzipSync(archive);
      writeFileSync(join(dir, 'cut.gz'), gz.subarray(0, gz.length - 100));
      await assertOperational(() => drain(join(dir, 'cut.gz')), 'BAD_ARCHIVE', /cut\.gz: gzip data is corrupt or truncated/);

      const corrupt = Buffer.from(gz);
      for (let index = 20; index < 60; index++) corrupt[index] ^= 0x55;
      writeFileSync(join(dir, 'corrupt.gz'), corrupt);
      await assertOperational(() => drain(join(dir, 'corrupt.gz')), 'BAD_ARCHIVE', /gzip data is corrupt/);
    });
  });

  it('reports a missing file or a directory as ARCHIVE_UNREADABLE', async () => {
    await withTempDir(async (dir) => {
      await assertOperational(() => openArchiveStream(join(dir, 'missing.tar')), 'ARCHIVE_UNREADABLE', /missing\.tar: No such file or directory/);
      mkdirSync(join(dir, 'adir'));
      await assertOperational(() => openArchiveStream(join(dir, 'adir')), 'ARCHIVE_UNREADABLE', /Is a directory/);
    });
  });

  it('refuses xz and bzip2 archives with a clear message', async () => {
    await withTempDir(async (dir) => {
      writeFileSync(join(dir, 'a.tar.xz'), Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 0, 0, 0, 0]));
      await assertOperational(() => openArchiveStream(join(dir, 'a.tar.xz')), 'UNSUPPORTED_ARCHIVE', /xz-compressed/);
      writeFileSync(join(dir, 'a.tar.bz2'), Buffer.from([0x42, 0x5a, 0x68, 0x39, 0x31, 0x41, 0x59, 0x26, 0x53, 0x59]));
      await assertOperational(() => openArchiveStream(join(dir, 'a.tar.bz2')), 'UNSUPPORTED_ARCHIVE', /bzip2-compressed/);
    });
  });

  it('names the archive in tar errors after decompression', async () => {
    await withTempDir(async (dir) => {
      const archive = await writeArchive(members, 512);
      writeFileSync(join(dir, 'short.tar.gz'), zlib.gzipSync(archive.subarray(0, 2000)));
      const path = join(dir, 'short.tar.gz');
      await assertOperational(async () => readArchive(await openArchiveStream(path), { archiveName: path }), 'BAD_ARCHIVE', /short\.tar\.gz: entry "text" at offset 512: archive ends inside the entry's data/);
    });
  });

  it('can be closed without being read', async () => {
    await withTempDir(async (dir) => {
      writeFileSync(join(dir, 'a.tar'), await writeArchive(members));
      const stream = await openArchiveStream(join(dir, 'a.tar'));
      await stream.close();
    });
  });
});
