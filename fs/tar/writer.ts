// Deterministic pax-format tar writer (for `strata dump tar`). Each member is a ustar header,
// preceded by a pax 'x' header only when ustar cannot say something exactly:
//   path / linkpath   longer than the ustar fields allow, or not pure ASCII
//   size              8 GiB or more
//   uid / gid         2^21 or more
//   mtime             nanoseconds, or outside 0..2^33-1
//   atime / ctime     whenever they carry nanoseconds or differ from mtime (a reader that
//                     finds them absent takes mtime, so nothing is lost either way)
//   SCHILY.devmajor/devminor   2^21 or more
//   SCHILY.xattr.<name>        every xattr, value raw (GNU tar's form)
// Non-UTF-8 names are written as raw bytes in pax `path` without `hdrcharset`: that is what
// GNU tar 1.34 itself writes, and what it extracts byte-exactly (it warns about, and ignores,
// the `hdrcharset` keyword). When a value needs pax, the ustar field still gets the best
// fallback that fits (base-256 numbers, a truncated name) for readers without pax support.
//
// Output depends only on the entries given: no clock, no host user or group names (uname and
// gname stay empty), pax headers named from the entry itself.

import { OperationalError } from '../../format/errors.js';
import type { EntryKind, SourceEntry, Timespec } from '../entry.js';
import { printableBytes } from './errors.js';
import { BLOCK_SIZE, USTAR_FIELDS, USTAR_MAGIC, USTAR_VERSION, encodeUstarHeader, fitsOctal, paddingAfter, type Fields } from './header.js';
import { MAX_PATH_BYTES, isNormalizedPath } from './path.js';
import { encodePaxRecord, encodeSchilyXattrName, formatPaxTime } from './pax.js';

/** A file's bytes for addEntry: one buffer, or chunks (sync or async) totalling exactly entry.size. */
export type TarContent = Uint8Array | Iterable<Uint8Array> | AsyncIterable<Uint8Array>;

/** Receives the archive bytes in order; the writer awaits it before producing more. */
export type TarSink = (chunk: Buffer) => void | Promise<void>;

export interface TarWriterOptions {
  /**
   * The archive is padded with zeros to a multiple of this many bytes after the end marker.
   * Default 10240 (GNU tar's default record of 20 blocks); 512 means no extra padding.
   */
  recordSize?: number;
}

const FIELD_LENGTH = Object.fromEntries(USTAR_FIELDS.map((field) => [field.name, field.length])) as Record<
  (typeof USTAR_FIELDS)[number]['name'],
  number
>;

const TYPEFLAGS: Readonly<Record<Exclude<EntryKind, 'socket'>, string>> = {
  file: '0',
  hardlink: '1',
  symlink: '2',
  char: '3',
  block: '4',
  dir: '5',
  fifo: '6',
};

/**
 * Writes a tar archive through `sink`.
 *
 * Contract:
 * - Call addEntry for each member, awaiting each call, then end() once. Overlapping calls, or
 *   calls after end() or after a failed addEntry, throw (the archive would be corrupt).
 * - Entries are written as given: paths must already be in SourceEntry form (relative, no '.',
 *   '..' or empty components, no trailing '/'); a hardlink's linkTarget must be such a path
 *   and should name an entry added earlier (tar readers resolve it against what they have
 *   extracted so far). Sockets cannot be stored in tar: addEntry refuses them with code
 *   'UNSUPPORTED_ENTRY' (GNU tar skips them with a warning; filter them out first).
 * - A 'file' entry's content must total exactly entry.size bytes (it may be omitted when the
 *   size is 0). Content is streamed: each chunk goes to the sink as is, and the next chunk is
 *   pulled only after the sink has finished with it, so a source reusing its buffer is safe as
 *   long as the sink does not keep the chunk past its returned promise. A mismatch (say, the
 *   file changed while being read) throws OperationalError 'CONTENT_SIZE_MISMATCH' before any
 *   extra byte is written; the archive is then unusable.
 */
export class TarWriter {
  readonly #sink: TarSink;
  readonly #recordSize: number;
  #bytesWritten = 0;
  #state: 'ready' | 'busy' | 'ended' | 'failed' = 'ready';

  constructor(sink: TarSink, options: TarWriterOptions = {}) {
    const recordSize = options.recordSize ?? 20 * BLOCK_SIZE;
    if (!Number.isInteger(recordSize) || recordSize <= 0 || recordSize % BLOCK_SIZE !== 0) {
      throw new RangeError(`recordSize must be a positive multiple of ${BLOCK_SIZE}`);
    }
    this.#sink = sink;
    this.#recordSize = recordSize;
  }

  /** Bytes handed to the sink so far. */
  get bytesWritten(): number {
    return this.#bytesWritten;
  }

  async addEntry(entry: SourceEntry, content?: TarContent): Promise<void> {
    await this.#exclusive(async () => {
      const plan = planEntry(entry, content);
      if (plan.paxData.length > 0) {
        await this.#write(encodeUstarHeader(paxHeaderFields(entry, plan.paxData.length)));
        await this.#write(plan.paxData);
        await this.#write(Buffer.alloc(paddingAfter(plan.paxData.length)));
      }
      await this.#write(encodeUstarHeader(plan.header));
      if (entry.kind === 'file') await this.#writeContent(entry, content);
    });
  }

  /** Writes the end-of-archive marker (two zero blocks) and the record padding. */
  async end(): Promise<void> {
    await this.#exclusive(async () => {
      const withMarker = this.#bytesWritten + 2 * BLOCK_SIZE;
      const total = Math.ceil(withMarker / this.#recordSize) * this.#recordSize;
      await this.#write(Buffer.alloc(total - this.#bytesWritten));
    });
    this.#state = 'ended';
  }

  async #writeContent(entry: SourceEntry, content: TarContent | undefined): Promise<void> {
    let written = 0;
    const mismatch = (actual: string) =>
      new OperationalError(
        'CONTENT_SIZE_MISMATCH',
        `${printableBytes(entry.path)}: content is ${actual} bytes but the entry says ${entry.size} (did the file change while being archived?)`,
      );
    if (content !== undefined) {
      const chunks: Iterable<Uint8Array> | AsyncIterable<Uint8Array> = content instanceof Uint8Array ? [content] : content;
      for await (const chunk of chunks) {
        if (written + chunk.length > entry.size) throw mismatch(`more than ${entry.size}`);
        if (chunk.length === 0) continue;
        await this.#write(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
        written += chunk.length;
      }
    }
    if (written !== entry.size) throw mismatch(String(written));
    await this.#write(Buffer.alloc(paddingAfter(entry.size)));
  }

  async #write(chunk: Buffer): Promise<void> {
    if (chunk.length === 0) return;
    await this.#sink(chunk);
    this.#bytesWritten += chunk.length;
  }

  async #exclusive(operation: () => Promise<void>): Promise<void> {
    if (this.#state !== 'ready') {
      const why = { busy: 'the previous call has not finished', ended: 'end() was called', failed: 'an earlier call failed' }[this.#state];
      throw new Error(`TarWriter: cannot write, ${why}`);
    }
    this.#state = 'busy';
    try {
      await operation();
      this.#state = 'ready';
    } catch (error) {
      this.#state = 'failed';
      throw error;
    }
  }
}

/** The ustar header of an entry and the pax records (serialised) it needs. */
function planEntry(entry: SourceEntry, content: TarContent | undefined): { header: Omit<Fields<typeof USTAR_FIELDS>, 'checksum'>; paxData: Buffer } {
  validateEntry(entry, content);
  const kind = entry.kind as Exclude<EntryKind, 'socket'>;
  const records: Buffer[] = [];
  const pax = (key: string | Buffer, value: string | Buffer) =>
    records.push(encodePaxRecord(typeof key === 'string' ? Buffer.from(key, 'latin1') : key, typeof value === 'string' ? Buffer.from(value, 'latin1') : value));

  // Directories carry a trailing '/' (and the root is "./"), as GNU tar writes them.
  const archiveName = kind === 'dir' ? Buffer.concat([entry.path.length === 0 ? Buffer.from('.') : entry.path, Buffer.from('/')]) : entry.path;
  let nameFields = splitUstarName(archiveName);
  if (nameFields === undefined || !isAscii(archiveName)) {
    pax('path', archiveName);
    nameFields ??= { name: archiveName.subarray(0, FIELD_LENGTH.name), prefix: Buffer.alloc(0) };
  }

  let linkname: Buffer = Buffer.alloc(0);
  if (kind === 'symlink' || kind === 'hardlink') {
    const target = entry.linkTarget!;
    if (target.length > FIELD_LENGTH.linkname || !isAscii(target)) pax('linkpath', target);
    linkname = target.subarray(0, FIELD_LENGTH.linkname);
  }

  const size = kind === 'file' ? entry.size : 0;
  if (!fitsOctal(size, FIELD_LENGTH.size)) pax('size', String(size));
  if (!fitsOctal(entry.uid, FIELD_LENGTH.uid)) pax('uid', String(entry.uid));
  if (!fitsOctal(entry.gid, FIELD_LENGTH.gid)) pax('gid', String(entry.gid));
  if (entry.mtime.nsec !== 0 || !fitsOctal(entry.mtime.sec, FIELD_LENGTH.mtime)) pax('mtime', formatPaxTime(entry.mtime));
  for (const [keyword, time] of [['atime', entry.atime], ['ctime', entry.ctime]] as const) {
    if (time.nsec !== 0 || time.sec !== entry.mtime.sec) pax(keyword, formatPaxTime(time));
  }
  let devmajor = 0;
  let devminor = 0;
  if (kind === 'char' || kind === 'block') {
    devmajor = entry.rdevMajor ?? 0;
    devminor = entry.rdevMinor ?? 0;
    if (!fitsOctal(devmajor, FIELD_LENGTH.devmajor)) pax('SCHILY.devmajor', String(devmajor));
    if (!fitsOctal(devminor, FIELD_LENGTH.devminor)) pax('SCHILY.devminor', String(devminor));
  }
  for (const xattr of entry.xattrs) pax(Buffer.concat([Buffer.from('SCHILY.xattr.'), encodeSchilyXattrName(xattr.name)]), xattr.value);

  return {
    header: {
      name: nameFields.name,
      mode: entry.perm & 0o7777,
      uid: entry.uid,
      gid: entry.gid,
      size,
      mtime: entry.mtime.sec,
      typeflag: TYPEFLAGS[kind],
      linkname,
      magic: USTAR_MAGIC,
      version: USTAR_VERSION,
      uname: Buffer.alloc(0),
      gname: Buffer.alloc(0),
      devmajor,
      devminor,
      prefix: nameFields.prefix,
    },
    paxData: Buffer.concat(records),
  };
}

/**
 * The header of the 'x' member that precedes an entry. Its name follows GNU tar's
 * "PaxHeaders/<basename>" convention (so a reader without pax support extracts it somewhere
 * harmless); its time is the entry's, clamped into the octal range, to stay deterministic.
 */
function paxHeaderFields(entry: SourceEntry, dataLength: number): Omit<Fields<typeof USTAR_FIELDS>, 'checksum'> {
  const slash = entry.path.lastIndexOf(0x2f);
  const basename = entry.path.length === 0 ? Buffer.from('.') : entry.path.subarray(slash + 1);
  const name = Buffer.concat([Buffer.from('PaxHeaders/'), basename]).subarray(0, FIELD_LENGTH.name);
  return {
    name,
    mode: 0o644,
    uid: 0,
    gid: 0,
    size: dataLength,
    mtime: Math.min(Math.max(entry.mtime.sec, 0), 8 ** (FIELD_LENGTH.mtime - 1) - 1),
    typeflag: 'x',
    linkname: Buffer.alloc(0),
    magic: USTAR_MAGIC,
    version: USTAR_VERSION,
    uname: Buffer.alloc(0),
    gname: Buffer.alloc(0),
    devmajor: 0,
    devminor: 0,
    prefix: Buffer.alloc(0),
  };
}

/**
 * Fits a name into ustar's name (100) and prefix (155) fields, split at a '/', or returns
 * undefined. The name part must not be empty (readers would join "prefix/" + "").
 */
function splitUstarName(archiveName: Buffer): { name: Buffer; prefix: Buffer } | undefined {
  if (archiveName.length <= FIELD_LENGTH.name) return { name: archiveName, prefix: Buffer.alloc(0) };
  // Smallest split point that leaves at most 100 bytes after it; keep it within the prefix.
  const earliest = archiveName.length - FIELD_LENGTH.name - 1;
  for (let slash = archiveName.indexOf(0x2f, Math.max(earliest, 0)); slash !== -1 && slash <= FIELD_LENGTH.prefix; slash = archiveName.indexOf(0x2f, slash + 1)) {
    if (slash > 0 && slash < archiveName.length - 1) {
      return { prefix: archiveName.subarray(0, slash), name: archiveName.subarray(slash + 1) };
    }
  }
  return undefined;
}

function isAscii(bytes: Buffer): boolean {
  for (const byte of bytes) if (byte >= 0x80) return false;
  return true;
}

/** Refuses entries whose archive form would be wrong or hostile; the dump layer passes SourceEntries through. */
function validateEntry(entry: SourceEntry, content: TarContent | undefined): void {
  const shown = printableBytes(entry.path);
  const bad = (detail: string) => new OperationalError('BAD_ENTRY', `${shown}: cannot be written to tar: ${detail}`);
  if (entry.kind === 'socket') {
    throw new OperationalError('UNSUPPORTED_ENTRY', `${shown}: sockets cannot be stored in a tar archive`);
  }
  if (!(entry.kind in TYPEFLAGS)) throw bad(`unknown kind ${JSON.stringify(entry.kind)}`);
  if (!isNormalizedPath(entry.path)) throw bad("path is not relative and normalised (no '.', '..', empty components, NUL, or over-long names)");
  if (entry.path.length === 0 && entry.kind !== 'dir') throw bad('the root must be a directory');
  const safe = (value: number) => Number.isSafeInteger(value) && value >= 0;
  if (!safe(entry.uid) || !safe(entry.gid)) throw bad(`uid/gid ${entry.uid}/${entry.gid} are not non-negative integers`);
  for (const time of [entry.mtime, entry.atime, entry.ctime] satisfies Timespec[]) {
    if (!Number.isSafeInteger(time.sec) || !Number.isInteger(time.nsec) || time.nsec < 0 || time.nsec > 999_999_999) {
      throw bad(`time ${time.sec}.${time.nsec} is not a valid timespec`);
    }
  }
  if (entry.kind === 'file') {
    if (!safe(entry.size)) throw bad(`size ${entry.size} is not a non-negative integer below 2^53`);
    if (content === undefined && entry.size !== 0) throw bad(`no content given for a ${entry.size}-byte file`);
  } else if (content !== undefined) {
    throw bad(`content given for a ${entry.kind}`);
  }
  if (entry.kind === 'symlink') {
    const target = entry.linkTarget;
    if (target === undefined || target.length === 0 || target.includes(0) || target.length > MAX_PATH_BYTES) {
      throw bad('symlink target must be 1..4096 bytes without NUL');
    }
  }
  if (entry.kind === 'hardlink') {
    const target = entry.linkTarget;
    if (target === undefined || target.length === 0 || !isNormalizedPath(target)) throw bad('hardlink target must be a normalised relative path');
  }
  if (entry.kind === 'char' || entry.kind === 'block') {
    if (!safe(entry.rdevMajor ?? 0) || !safe(entry.rdevMinor ?? 0)) throw bad('device numbers must be non-negative integers');
  }
  for (const xattr of entry.xattrs) {
    if (xattr.name.length === 0 || xattr.name.includes(0)) throw bad('xattr name is empty or contains NUL');
  }
}
