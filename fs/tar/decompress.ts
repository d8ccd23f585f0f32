// Opens an archive file as a stream of (decompressed) tar bytes, choosing the decompressor
// from the file's magic bytes rather than its name. Everything streams with bounded memory:
// gzip through node:zlib; zstd through node:zlib when this Node has it (>= 22.15), otherwise
// through fzstd fed one zstd block at a time (see zstdBlocks below for why).

import { open, type FileHandle } from 'node:fs/promises';
import type { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream';
import * as zlib from 'node:zlib';
import { Decompress as FzstdDecompress } from 'fzstd';
import { OperationalError } from '../../format/errors.js';
import { ByteCursor } from './cursor.js';

export type ArchiveCompression = 'none' | 'gzip' | 'zstd';

/** The decompressed bytes of an archive file. Iterate it once; close() it if you do not. */
export interface ArchiveStream extends AsyncIterable<Buffer> {
  readonly compression: ArchiveCompression;
  /** Releases the file. Iterating to the end, or leaving a for-await loop early, also does. */
  close(): Promise<void>;
}

export interface OpenArchiveOptions {
  /**
   * Which zstd decoder to use: 'auto' (node:zlib when available, else fzstd), or force one
   * ('native' fails when this Node lacks zlib zstd support). For tests and benchmarks.
   */
  zstdDecoder?: 'auto' | 'native' | 'fzstd';
}

/** Largest zstd window accepted: zstd's own default decoder limit (--long=27), 128 MiB. */
export const MAX_ZSTD_WINDOW_BYTES = 1 << 27;
/** zstd's Block_Maximum_Size: no block may decode to (or be stored as) more than 128 KiB. */
const MAX_ZSTD_BLOCK_BYTES = 128 * 1024;
const READ_CHUNK_BYTES = 256 * 1024;

const GZIP_MAGIC = Buffer.from([0x1f, 0x8b]);
const ZSTD_MAGIC = Buffer.from([0x28, 0xb5, 0x2f, 0xfd]);
const ZSTD_FRAME_MAGIC = 0xfd2fb528;
/** Refused with a clear message instead of being misread as (broken) tar. */
const UNSUPPORTED_MAGICS: readonly { magic: Buffer; name: string }[] = [
  { magic: Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]), name: 'xz' },
  { magic: Buffer.from([0x42, 0x5a, 0x68]), name: 'bzip2' }, // "BZh", checked with the block magic below
  { magic: Buffer.from([0x04, 0x22, 0x4d, 0x18]), name: 'lz4' },
  { magic: Buffer.from([0x5d, 0x00, 0x00]), name: 'lzma' },
];
const BZIP2_BLOCK_MAGIC = Buffer.from([0x31, 0x41, 0x59, 0x26, 0x53, 0x59]);

/** node:zlib's zstd support, present from Node 22.15 / 23.8 (absent from this project's Node 20 types). */
type NativeZstd = { createZstdDecompress?: () => Transform };

/**
 * Opens `path` and returns its tar bytes, decompressing gzip (1f 8b) or zstd (28 b5 2f fd)
 * by magic; anything else is passed through as plain tar (the tar reader rejects non-tar).
 * A missing or unreadable file is an OperationalError ('ARCHIVE_UNREADABLE'); corrupt
 * compressed data surfaces while iterating as OperationalError 'BAD_ARCHIVE', xz/bzip2/lz4
 * as 'UNSUPPORTED_ARCHIVE' right here.
 */
export async function openArchiveStream(path: string, options: OpenArchiveOptions = {}): Promise<ArchiveStream> {
  let handle: FileHandle;
  let magic: Buffer;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    throw unreadable(path, error);
  }
  try {
    const probe = Buffer.alloc(10);
    const { bytesRead } = await handle.read(probe, 0, probe.length, 0);
    magic = probe.subarray(0, bytesRead);
  } catch (error) {
    await handle.close().catch(() => undefined);
    throw unreadable(path, error);
  }

  const compression: ArchiveCompression = startsWith(magic, GZIP_MAGIC) ? 'gzip' : startsWith(magic, ZSTD_MAGIC) ? 'zstd' : 'none';
  if (compression === 'none') {
    for (const { magic: known, name } of UNSUPPORTED_MAGICS) {
      if (startsWith(magic, known) && (name !== 'bzip2' || magic.subarray(4, 10).equals(BZIP2_BLOCK_MAGIC))) {
        await handle.close().catch(() => undefined);
        throw new OperationalError('UNSUPPORTED_ARCHIVE', `${path}: ${name}-compressed archives are not supported (only gzip and zstd); decompress it first`);
      }
    }
  }
  const nativeZstd = (zlib as unknown as NativeZstd).createZstdDecompress;
  if (options.zstdDecoder === 'native' && nativeZstd === undefined) {
    await handle.close().catch(() => undefined);
    throw new OperationalError('UNSUPPORTED', `this Node (${process.version}) has no zlib zstd support`);
  }

  const file = handle.createReadStream({ start: 0, highWaterMark: READ_CHUNK_BYTES });
  let bytes: AsyncIterable<Buffer>;
  if (compression === 'gzip') bytes = throughNodeStream(file, zlib.createGunzip());
  else if (compression === 'zstd' && nativeZstd !== undefined && options.zstdDecoder !== 'fzstd') bytes = throughNodeStream(file, nativeZstd());
  else if (compression === 'zstd') bytes = zstdWithFzstd(file, path);
  else bytes = file as AsyncIterable<Buffer>;

  return new OpenedArchive(path, compression, handle, file, bytes);
}

class OpenedArchive implements ArchiveStream {
  #iterated = false;

  constructor(
    private readonly path: string,
    readonly compression: ArchiveCompression,
    private readonly handle: FileHandle,
    private readonly file: Readable,
    private readonly bytes: AsyncIterable<Buffer>,
  ) {}

  async *[Symbol.asyncIterator](): AsyncIterator<Buffer> {
    if (this.#iterated) throw new Error(`${this.path}: archive stream can be iterated only once`);
    this.#iterated = true;
    try {
      for await (const chunk of this.bytes) yield chunk;
    } catch (error) {
      throw this.#translate(error);
    } finally {
      await this.close();
    }
  }

  async close(): Promise<void> {
    this.file.destroy();
    await this.handle.close().catch(() => undefined); // already closed by the stream: fine
  }

  /** Failures while reading become OperationalErrors: I/O errors, or corrupt compressed data. */
  #translate(error: unknown): unknown {
    if (error instanceof OperationalError) return error;
    // fs errors carry the failing system call; zlib and fzstd errors do not.
    if (typeof (error as NodeJS.ErrnoException | undefined)?.syscall === 'string') return unreadable(this.path, error);
    if (this.compression === 'none') return error;
    const message = error instanceof Error ? error.message : String(error);
    return new OperationalError('BAD_ARCHIVE', `${this.path}: ${this.compression} data is corrupt or truncated (${message})`);
  }
}

/** Pipes `input` through a zlib transform; errors from either side end the iteration. */
function throughNodeStream(input: Readable, transform: Transform): AsyncIterable<Buffer> {
  return pipeline(input, transform, () => {
    // Errors reach the consumer through the async iteration of the transform.
  }) as AsyncIterable<Buffer>;
}

/**
 * zstd through fzstd. fzstd decodes synchronously inside push() and emits every block it can
 * complete, so one push of a small, highly compressed input (a "zstd bomb": 3-byte RLE blocks
 * that each expand to 128 KiB) could produce gigabytes before control returns. This splits
 * the compressed stream along zstd's own framing and pushes one block at a time, so each push
 * yields at most a block or two, and refuses windows beyond MAX_ZSTD_WINDOW_BYTES (fzstd
 * allocates the window up front).
 */
async function* zstdWithFzstd(input: AsyncIterable<Buffer>, path: string): AsyncGenerator<Buffer, void, undefined> {
  const output: Buffer[] = [];
  const decoder = new FzstdDecompress((data) => {
    if (data.length > 0) output.push(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  });
  const push = (piece: Buffer, final = false) => {
    try {
      decoder.push(piece, final);
    } catch (error) {
      throw new OperationalError('BAD_ARCHIVE', `${path}: zstd data is corrupt (${error instanceof Error ? error.message : String(error)})`);
    }
  };
  for await (const piece of zstdBlocks(input, path)) {
    push(piece);
    yield* output.splice(0);
  }
  push(Buffer.alloc(0), true);
  yield* output.splice(0);
}

/**
 * Splits a zstd stream into self-contained pieces: frame headers, single blocks (3-byte
 * header plus body), checksums; skippable frames are dropped. Validates what fzstd would
 * otherwise trust: reserved bits, window size, block size, and truncation.
 */
async function* zstdBlocks(input: AsyncIterable<Buffer>, path: string): AsyncGenerator<Buffer, void, undefined> {
  const cursor = new ByteCursor(input);
  const bad = (code: 'BAD_ARCHIVE' | 'UNSUPPORTED_ARCHIVE', detail: string) => new OperationalError(code, `${path}: ${detail}`);
  const corrupt = (detail: string) => bad('BAD_ARCHIVE', `zstd data is corrupt at compressed offset ${cursor.position}: ${detail}`);
  const exact = async (length: number, what: string) => {
    const bytes = Buffer.from(await cursor.readExact(length)); // copied: fzstd may keep it
    if (bytes.length < length) throw bad('BAD_ARCHIVE', `zstd data is truncated inside a ${what} (at compressed offset ${cursor.position})`);
    return bytes;
  };
  try {
    let frames = 0;
    for (;;) {
      const magic = await cursor.readExact(4);
      if (magic.length === 0 && frames > 0) return;
      if (magic.length < 4) throw bad('BAD_ARCHIVE', 'zstd data is truncated inside a frame header');
      const magicNumber = magic.readUInt32LE(0);
      if ((magicNumber & 0xfffffff0) === 0x184d2a50) {
        const length = (await exact(4, 'skippable frame')).readUInt32LE(0);
        if ((await cursor.skip(length)) < length) throw bad('BAD_ARCHIVE', 'zstd data is truncated inside a skippable frame');
        continue;
      }
      if (magicNumber !== ZSTD_FRAME_MAGIC) throw corrupt('not a zstd frame (trailing garbage?)');
      const descriptor = (await exact(1, 'frame header'))[0]!;
      const contentSizeFlag = descriptor >> 6;
      const singleSegment = (descriptor >> 5) & 1;
      const hasChecksum = (descriptor >> 2) & 1;
      const dictionaryIdFlag = descriptor & 3;
      if (descriptor & 0x08) throw corrupt('reserved frame header bit is set');
      const dictionaryIdBytes = [0, 1, 2, 4][dictionaryIdFlag]!;
      const contentSizeBytes = contentSizeFlag === 0 ? singleSegment : 1 << contentSizeFlag;
      const rest = await exact((singleSegment ? 0 : 1) + dictionaryIdBytes + contentSizeBytes, 'frame header');
      if (dictionaryIdBytes > 0 && rest.readUIntLE(singleSegment ? 0 : 1, dictionaryIdBytes) !== 0) {
        throw bad('UNSUPPORTED_ARCHIVE', 'zstd frames that need a dictionary are not supported');
      }
      let window: number;
      if (singleSegment) {
        // The window is the whole content; its size field is little-endian, 1/2/4/8 bytes.
        const at = dictionaryIdBytes;
        window = contentSizeBytes === 8 ? Number(rest.readBigUInt64LE(at)) : rest.readUIntLE(at, contentSizeBytes) + (contentSizeBytes === 2 ? 256 : 0);
      } else {
        const exponent = rest[0]! >> 3;
        const base = 2 ** (10 + exponent);
        window = base + (base / 8) * (rest[0]! & 7);
      }
      if (window > MAX_ZSTD_WINDOW_BYTES) {
        throw bad(
          'UNSUPPORTED_ARCHIVE',
          `zstd frame needs a ${Math.ceil(window / 2 ** 20)} MiB window, more than the ${MAX_ZSTD_WINDOW_BYTES / 2 ** 20} MiB limit; recompress without --long or with a smaller one`,
        );
      }
      yield Buffer.concat([magic, Buffer.of(descriptor), rest]);
      for (let last = false; !last; ) {
        const blockHeader = await exact(3, 'block header');
        last = (blockHeader[0]! & 1) === 1;
        const type = (blockHeader[0]! >> 1) & 3;
        const size = (blockHeader[0]! >> 3) | (blockHeader[1]! << 5) | (blockHeader[2]! << 13);
        if (type === 3) throw corrupt('reserved block type');
        if (size > MAX_ZSTD_BLOCK_BYTES) throw corrupt(`block of ${size} bytes exceeds the 128 KiB maximum`);
        const body = await exact(type === 1 ? 1 : size, 'block'); // RLE: one byte, repeated `size` times
        yield Buffer.concat([blockHeader, body]);
      }
      if (hasChecksum) yield await exact(4, 'frame checksum');
      frames++;
    }
  } finally {
    await cursor.close();
  }
}

function startsWith(bytes: Buffer, prefix: Buffer): boolean {
  return bytes.length >= prefix.length && bytes.subarray(0, prefix.length).equals(prefix);
}

function unreadable(path: string, error: unknown): OperationalError {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const reasons: Record<string, string> = {
    ENOENT: 'No such file or directory',
    EACCES: 'Permission denied',
    EISDIR: 'Is a directory',
    ENOTDIR: 'Not a directory',
    EIO: 'Input/output error',
  };
  const reason = (code && reasons[code]) ?? (error instanceof Error ? error.message : String(error));
  return new OperationalError('ARCHIVE_UNREADABLE', `cannot read archive ${path}: ${reason}`);
}
