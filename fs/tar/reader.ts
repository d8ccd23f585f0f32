// Streaming tar reader for archives nobody vouches for. It turns a byte stream into SourceEntry
// values, one member at a time, and never lets a member's name, link or size escape the rules
// in path.ts. Memory stays bounded whatever the input: content is streamed through, every
// extension record (pax 'x'/'g', GNU 'L'/'K', sparse maps) is size-capped before it is read,
// and the global pax state is capped as a whole. The one structure that grows with the archive
// is the set of names seen so far (needed to validate hardlinks): one entry per member.
//
// Formats: v7, ustar (prefix + name), old GNU ('L', 'K', base-256 numbers, 'S' sparse, GNU
// atime/ctime), pax ('x', 'g', Solaris 'X'; path, linkpath, size, uid, gid, mtime, atime, ctime,
// SCHILY.devmajor/devminor, SCHILY.xattr.*, LIBARCHIVE.xattr.*, RHT.security.selinux, GNU
// sparse 0.0 / 0.1 / 1.0). Other pax keywords (uname, gname, comment, hdrcharset, ACLs, ...)
// are ignored, as pax requires of unknown keywords; all string values are taken as raw bytes.

import type { EntryKind, SourceEntry, Timespec, Xattr } from '../entry.js';
import { TarArchiveError, printableBytes, type TarErrorCode, type TarProblem } from './errors.js';
import {
  BLOCK_SIZE,
  GNU_MAGIC,
  GNU_SPARSE_EXTENSION_FIELDS,
  GNU_SPARSE_HEADER_FIELDS,
  GNU_TIME_FIELDS,
  GNU_VERSION,
  HeaderFieldError,
  USTAR_FIELDS,
  USTAR_MAGIC,
  checksumMatches,
  decodeFields,
  isZeroBlock,
  paddingAfter,
  type Fields,
} from './header.js';
import { ArchivePathError, MAX_PATH_BYTES, normalizeArchivePath } from './path.js';
import {
  PaxFormatError,
  PaxRangeError,
  decodeBase64Value,
  decodeLibarchiveXattrName,
  decodeSchilyXattrName,
  parsePaxInteger,
  parsePaxRecords,
  parsePaxTime,
  type PaxRecord,
} from './pax.js';
import {
  SparseMapError,
  expandSparse,
  parseGnuSparseEntries,
  parseSparseMap01,
  readSparseMap10,
  validateSparseMap,
  type SparseRegion,
} from './sparse.js';
import { ByteCursor } from './cursor.js';

export type { SparseRegion } from './sparse.js';

/**
 * Anything that yields the (decompressed) archive bytes in order: a Node stream, an async
 * iterable, or a sync iterable of chunks (say, an array of Buffers). The reader keeps views of
 * the chunks instead of copying them, so a source must not modify or reuse a chunk once it has
 * yielded it (Node streams never do).
 */
export type TarSource = AsyncIterable<Uint8Array> | Iterable<Uint8Array> | NodeJS.ReadableStream;

export interface ReadTarOptions {
  /** what to call the archive in error messages, e.g. its path; default "tar archive" */
  archiveName?: string;
  /**
   * Cap on one pax extended header's data, on the pax records pending for one member, on the
   * global pax state, and on a GNU sparse map. Default 1 MiB.
   */
  maxPaxHeaderBytes?: number;
  /** Cap on one xattr value. Default 64 KiB (Linux's XATTR_SIZE_MAX). */
  maxXattrValueBytes?: number;
}

export const DEFAULT_MAX_PAX_HEADER_BYTES = 1024 * 1024;
export const DEFAULT_MAX_XATTR_VALUE_BYTES = 64 * 1024;
/** Linux limits an xattr name to 255 bytes (XATTR_NAME_MAX). */
const MAX_XATTR_NAME_BYTES = 255;
/** uid_t, gid_t and a device major/minor number are 32-bit on Linux. */
const MAX_ID = 0xffff_ffff;

/** One archive member, as yielded by readTar. */
export interface TarMember {
  /** The member's metadata; `entry.path` is normalised and validated (see path.ts). */
  readonly entry: SourceEntry;
  /** Byte offset (in the decompressed stream) of the member's first header, extension headers included. */
  readonly offset: number;
  /**
   * Present exactly when `entry.kind === 'file'`: the file's bytes, `entry.size` in total, in
   * chunks that are views of the source's chunks (not copied; not reused by the reader, so a
   * consumer may keep them). Iterable once. It reads straight from the archive stream, so it
   * is valid only until the reader is resumed: read it (all, part, or none of it) *before*
   * asking readTar for the next member. Whatever was not read is then skipped; iterating it
   * afterwards throws. A truncated archive makes the iteration throw a TarArchiveError.
   */
  readonly content?: AsyncIterable<Buffer>;
  /**
   * For GNU sparse members: the regions of the file that hold data, in order. Everything else
   * in [0, entry.size) is a hole, and `content` yields zeros for it (a consumer that can make
   * holes may skip those bytes).
   */
  readonly sparseRegions?: readonly SparseRegion[];
}

/**
 * Reads a tar archive member by member.
 *
 * Contract:
 * - Members come in archive order. Pax and GNU extension headers are folded into the member
 *   they describe; global pax headers apply to all later members.
 * - Consume (or ignore) a member's `content` before requesting the next member; ignored
 *   content is skipped automatically.
 * - Duplicate names are passed through as they come (tar semantics: the later one wins when
 *   extracting); the consumer decides what a duplicate means.
 * - A hardlink's `linkTarget` is the normalised path of an earlier member that is not a
 *   directory; the reader has checked that such a member was seen.
 * - A symlink's `linkTarget` is its raw content, which may be absolute or contain '..'; it is
 *   where the link points, not where anything is written. Only what no filesystem can store
 *   (empty, NUL, longer than 4096 bytes) is refused.
 * - `atime`/`ctime` missing from the archive default to `mtime`.
 * - Any malformed, hostile or truncated input ends the iteration with a TarArchiveError
 *   (code 'BAD_ARCHIVE', or 'UNSUPPORTED_ARCHIVE' for valid features not handled here) naming
 *   the entry and its offset. Nothing is yielded for the offending member.
 * - Leaving the loop early (break/return/throw) closes the source.
 */
export async function* readTar(source: TarSource, options: ReadTarOptions = {}): AsyncGenerator<TarMember, void, undefined> {
  const context: ReaderContext = {
    archive: options.archiveName ?? 'tar archive',
    maxPaxBytes: options.maxPaxHeaderBytes ?? DEFAULT_MAX_PAX_HEADER_BYTES,
    maxXattrBytes: options.maxXattrValueBytes ?? DEFAULT_MAX_XATTR_VALUE_BYTES,
    globalPax: new Map(),
    globalPaxBytes: 0,
    globalXattrKeys: new Set(),
    seen: new Map(),
  };
  const cursor = new ByteCursor(source);
  let previous: MemberData | undefined;
  try {
    for (;;) {
      if (previous !== undefined) {
        previous.expire();
        await previous.skipRest();
        previous = undefined;
      }
      const next = await readMember(cursor, context);
      if (next === undefined) return;
      previous = next.data;
      yield next.member;
    }
  } finally {
    previous?.expire();
    await cursor.close();
  }
}

interface ReaderContext {
  readonly archive: string;
  readonly maxPaxBytes: number;
  readonly maxXattrBytes: number;
  /** pax 'g' state: keyword -> value; its byte total is capped at maxPaxBytes */
  readonly globalPax: Map<string, Buffer>;
  globalPaxBytes: number;
  /** the keys of globalPax that carry xattrs, so members need not scan the whole map */
  readonly globalXattrKeys: Set<string>;
  /** every member path so far (latin1 key) -> whether it is a directory; for hardlink checks */
  readonly seen: Map<string, boolean>;
}

/** The extension headers read so far on the way to a member. */
interface PendingExtensions {
  readonly records: PaxRecord[];
  recordBytes: number;
  longName?: Buffer;
  longLink?: Buffer;
  /** name of the last extension header, for errors before the member's own name is known */
  lastHeaderName?: Buffer;
}

type UstarHeader = Fields<typeof USTAR_FIELDS>;

const TYPEFLAG_KINDS: Readonly<Record<string, EntryKind>> = {
  '0': 'file',
  '\0': 'file',
  '7': 'file', // contiguous file: a regular file everywhere but on a few 1980s systems
  S: 'file', // old GNU sparse
  '1': 'hardlink',
  '2': 'symlink',
  '3': 'char',
  '4': 'block',
  '5': 'dir',
  D: 'dir', // GNU incremental dumpdir: a directory whose data (a listing) is skipped
  '6': 'fifo',
};
const UNSUPPORTED_TYPEFLAGS: Readonly<Record<string, string>> = {
  M: 'GNU multi-volume continuation',
  N: 'old GNU long-name list',
  A: 'Solaris ACL',
  E: 'Solaris extended attribute',
  I: 'star inode-only',
};

function fail(
  context: ReaderContext,
  problem: TarProblem,
  detail: string,
  offset: number,
  entryName?: Buffer,
  code: TarErrorCode = 'BAD_ARCHIVE',
): TarArchiveError {
  return new TarArchiveError(code, problem, detail, { archive: context.archive, entryName, offset });
}

/** Reads headers up to and including the next member's; undefined at the end-of-archive marker. */
async function readMember(cursor: ByteCursor, context: ReaderContext): Promise<{ member: TarMember; data: MemberData } | undefined> {
  const memberOffset = cursor.position;
  const pending: PendingExtensions = { records: [], recordBytes: 0 };
  for (;;) {
    const headerOffset = cursor.position;
    const block = await cursor.readExact(BLOCK_SIZE);
    const pendingAny = pending.records.length > 0 || pending.longName !== undefined || pending.longLink !== undefined;
    if (block.length === 0) {
      if (pendingAny) {
        throw fail(context, 'truncated', 'archive ends after an extension header, before the entry it describes', headerOffset, pending.lastHeaderName);
      }
      throw fail(
        context,
        'missing-end',
        headerOffset === 0 ? 'archive is empty' : 'archive ends without the end-of-archive marker (two zero blocks); it is probably truncated',
        headerOffset,
      );
    }
    if (block.length < BLOCK_SIZE) {
      throw fail(context, 'truncated', `archive ends inside a header (${block.length} of ${BLOCK_SIZE} bytes)`, headerOffset, rawNameOf(block));
    }
    if (isZeroBlock(block)) {
      if (pendingAny) {
        throw fail(context, 'orphan-extension', 'extension header is followed by the end-of-archive marker, not an entry', headerOffset, pending.lastHeaderName);
      }
      // POSIX ends an archive with two zero blocks. A lone one at EOF is accepted (GNU tar
      // does, with a warning); a lone one followed by data is damage, not an end.
      const second = await cursor.readExact(BLOCK_SIZE);
      if (!isZeroBlock(second)) {
        throw fail(context, 'trailing-data', 'a single zero block is followed by more data (damaged archive?)', headerOffset + BLOCK_SIZE);
      }
      return undefined;
    }
    if (!checksumMatches(block)) {
      throw fail(
        context,
        'checksum',
        headerOffset === 0 ? 'not a tar archive (header checksum mismatch)' : 'header checksum mismatch',
        headerOffset,
        rawNameOf(block),
      );
    }
    const header = decodeHeader(context, block, headerOffset);
    switch (header.typeflag) {
      case 'x':
      case 'X': {
        pending.lastHeaderName = Buffer.from(header.name);
        const data = await readExtensionData(cursor, context, header, headerOffset, 'pax extended header');
        const records = parsePax(context, data, headerOffset, pending.lastHeaderName);
        pending.recordBytes += data.length;
        if (pending.recordBytes > context.maxPaxBytes) {
          throw fail(context, 'pax-too-large', `pax extended headers for one entry exceed ${context.maxPaxBytes} bytes`, headerOffset, pending.lastHeaderName);
        }
        pending.records.push(...records);
        continue;
      }
      case 'g': {
        const name = Buffer.from(header.name);
        const data = await readExtensionData(cursor, context, header, headerOffset, 'pax global header');
        mergeGlobalPax(context, parsePax(context, data, headerOffset, name), headerOffset, name);
        continue;
      }
      case 'L':
      case 'K': {
        pending.lastHeaderName = Buffer.from(header.name);
        const what = header.typeflag === 'L' ? 'GNU long name' : 'GNU long link name';
        // The record is a name plus its NUL terminator; anything longer could only be refused.
        if (header.size > MAX_PATH_BYTES + 1) {
          throw fail(context, 'name-too-long', `${what} record is ${header.size} bytes, longer than ${MAX_PATH_BYTES}`, headerOffset, pending.lastHeaderName);
        }
        const data = await readExtensionData(cursor, context, header, headerOffset, what);
        let end = data.length;
        while (end > 0 && data[end - 1] === 0) end--;
        const value = Buffer.from(data.subarray(0, end));
        if (header.typeflag === 'L') pending.longName = value;
        else pending.longLink = value;
        continue;
      }
      case 'V': // volume label: not a file; skip its (normally empty) data
        await readExtensionData(cursor, context, header, headerOffset, 'volume label');
        continue;
      default:
        return buildMember(cursor, context, block, header, headerOffset, memberOffset, pending);
    }
  }
}

function decodeHeader(context: ReaderContext, block: Buffer, headerOffset: number): UstarHeader {
  try {
    return decodeFields(USTAR_FIELDS, block);
  } catch (error) {
    if (error instanceof HeaderFieldError) {
      const rangeProblems: Record<string, TarProblem> = {
        size: 'size-out-of-range',
        mtime: 'time-out-of-range',
        uid: 'id-out-of-range',
        gid: 'id-out-of-range',
        devmajor: 'id-out-of-range',
        devminor: 'id-out-of-range',
      };
      const problem = error.failure === 'range' ? (rangeProblems[error.field] ?? 'bad-field') : 'bad-field';
      throw fail(context, problem, error.message, headerOffset, rawNameOf(block));
    }
    throw error;
  }
}

const NAME_FIELD = USTAR_FIELDS.find((field) => field.name === 'name')!;

/** Best-effort name of a header for error messages, before its fields are trusted. */
function rawNameOf(block: Buffer): Buffer {
  const field = block.subarray(NAME_FIELD.offset, Math.min(block.length, NAME_FIELD.offset + NAME_FIELD.length));
  const nul = field.indexOf(0);
  return Buffer.from(nul === -1 ? field : field.subarray(0, nul));
}

/** Reads an extension header's data (bounded by the caller's checks) and its padding. */
async function readExtensionData(
  cursor: ByteCursor,
  context: ReaderContext,
  header: UstarHeader,
  headerOffset: number,
  what: string,
): Promise<Buffer> {
  const name = Buffer.from(header.name);
  if (header.size < 0) throw fail(context, 'size-out-of-range', `${what} has negative size ${header.size}`, headerOffset, name);
  if (header.size > context.maxPaxBytes) {
    throw fail(context, 'pax-too-large', `${what} is ${header.size} bytes, more than the ${context.maxPaxBytes}-byte limit`, headerOffset, name);
  }
  const data = await cursor.readExact(header.size);
  const padding = paddingAfter(header.size);
  if (data.length < header.size || (await cursor.skip(padding)) < padding) {
    throw fail(context, 'truncated', `archive ends inside the ${what} (${header.size} bytes from offset ${headerOffset + BLOCK_SIZE})`, headerOffset, name);
  }
  return data;
}

function parsePax(context: ReaderContext, data: Buffer, headerOffset: number, name: Buffer): PaxRecord[] {
  try {
    return parsePaxRecords(data);
  } catch (error) {
    if (error instanceof PaxFormatError) throw fail(context, 'bad-pax-record', error.message, headerOffset, name);
    throw error;
  }
}

/** Folds a 'g' header into the global state; an empty value removes the keyword. */
function mergeGlobalPax(context: ReaderContext, records: PaxRecord[], headerOffset: number, name: Buffer): void {
  for (const { key, value } of records) {
    const old = context.globalPax.get(key);
    if (old !== undefined) context.globalPaxBytes -= key.length + old.length;
    if (value.length === 0) {
      context.globalPax.delete(key);
      context.globalXattrKeys.delete(key);
    } else {
      context.globalPax.set(key, Buffer.from(value)); // copied: it outlives the header data
      context.globalPaxBytes += key.length + value.length;
      if (isXattrKeyword(key)) context.globalXattrKeys.add(key);
    }
  }
  if (context.globalPaxBytes > context.maxPaxBytes) {
    throw fail(context, 'pax-too-large', `pax global headers accumulate more than ${context.maxPaxBytes} bytes`, headerOffset, name);
  }
}

function isXattrKeyword(key: string): boolean {
  return key.startsWith('SCHILY.xattr.') || key.startsWith('LIBARCHIVE.xattr.') || key === 'RHT.security.selinux';
}

/**
 * The pax keywords in force for one member: its own 'x' records (a later record wins) over
 * the global state. The global map is consulted, not copied, so a large global header costs
 * a member nothing beyond the xattrs it defines.
 */
class PaxView {
  readonly #local = new Map<string, Buffer>();

  constructor(
    private readonly context: ReaderContext,
    records: readonly PaxRecord[],
  ) {
    for (const { key, value } of records) this.#local.set(key, value);
  }

  /** The value, or undefined when absent or empty (an empty 'x' value deletes the keyword). */
  get(key: string): Buffer | undefined {
    const value = this.#local.has(key) ? this.#local.get(key) : this.context.globalPax.get(key);
    return value === undefined || value.length === 0 ? undefined : value;
  }

  has(key: string): boolean {
    return this.get(key) !== undefined;
  }

  /** The xattr records in force. Empty values are kept here: an xattr may be empty. */
  *xattrRecords(): Generator<[string, Buffer]> {
    for (const key of this.context.globalXattrKeys) if (!this.#local.has(key)) yield [key, this.context.globalPax.get(key)!];
    for (const [key, value] of this.#local) if (isXattrKeyword(key)) yield [key, value];
  }
}

async function buildMember(
  cursor: ByteCursor,
  context: ReaderContext,
  block: Buffer,
  header: UstarHeader,
  headerOffset: number,
  memberOffset: number,
  pending: PendingExtensions,
): Promise<{ member: TarMember; data: MemberData }> {
  const pax = new PaxView(context, pending.records);
  const isGnu = header.magic.equals(GNU_MAGIC) && header.version.equals(GNU_VERSION);
  const isUstar = header.magic.equals(USTAR_MAGIC);
  const ustarName = isUstar && header.prefix.length > 0 ? Buffer.concat([header.prefix, Buffer.from('/'), header.name]) : header.name;
  const rawName = Buffer.from(pax.get('GNU.sparse.name') ?? pax.get('path') ?? pending.longName ?? ustarName);
  const error = (problem: TarProblem, detail: string, code: TarErrorCode = 'BAD_ARCHIVE') =>
    fail(context, problem, detail, headerOffset, rawName, code);

  let kind = TYPEFLAG_KINDS[header.typeflag];
  if (kind === undefined) {
    const known = UNSUPPORTED_TYPEFLAGS[header.typeflag];
    const flag = JSON.stringify(header.typeflag);
    throw error('unsupported-type', `unsupported entry type ${flag}${known ? ` (${known})` : ''}`, 'UNSUPPORTED_ARCHIVE');
  }

  const { path, trailingSlash } = normalizeOrFail(rawName, '', error);
  // BSD tar and GNU tar treat a regular-file entry whose name ends in '/' as a directory.
  if (kind === 'file' && trailingSlash && header.typeflag !== 'S') kind = 'dir';
  if (path.length === 0 && kind !== 'dir') throw error('root-not-directory', `the archive root ('.') is a ${kind}, not a directory`);

  const number = (keyword: string, fallback: number, problem: TarProblem): number => {
    const value = pax.get(keyword);
    if (value === undefined) return fallback;
    try {
      return parsePaxInteger(keyword, value);
    } catch (caught) {
      if (caught instanceof PaxFormatError) throw error(caught instanceof PaxRangeError ? problem : 'bad-pax-record', caught.message);
      throw caught;
    }
  };
  const time = (keyword: string, fallback: Timespec): Timespec => {
    const value = pax.get(keyword);
    if (value === undefined) return fallback;
    try {
      return parsePaxTime(keyword, value);
    } catch (caught) {
      if (caught instanceof PaxFormatError) throw error(caught instanceof PaxRangeError ? 'time-out-of-range' : 'bad-pax-record', caught.message);
      throw caught;
    }
  };
  const id = (keyword: string, fallback: number): number => {
    const value = number(keyword, fallback, 'id-out-of-range');
    if (value < 0 || value > MAX_ID) throw error('id-out-of-range', `${keyword} ${value} is outside 0..${MAX_ID}`);
    return value;
  };

  const storedSize = number('size', header.size, 'size-out-of-range');
  if (storedSize < 0) throw error('size-out-of-range', `size ${storedSize} is negative`);
  const uid = id('uid', header.uid);
  const gid = id('gid', header.gid);
  const mtime = time('mtime', { sec: header.mtime, nsec: 0 });
  const gnuTimes = isGnu ? decodeGnuTimes(block) : undefined;
  const atime = time('atime', gnuTimes?.atime ? { sec: gnuTimes.atime, nsec: 0 } : mtime);
  const ctime = time('ctime', gnuTimes?.ctime ? { sec: gnuTimes.ctime, nsec: 0 } : mtime);

  const entry: SourceEntry = {
    path,
    kind,
    perm: header.mode & 0o7777,
    uid,
    gid,
    size: 0,
    atime,
    mtime,
    ctime,
    xattrs: collectXattrs(context, pax, error),
  };

  const rawLink = pax.get('linkpath') ?? pending.longLink ?? header.linkname;
  if (kind === 'hardlink') {
    const { path: target } = normalizeOrFail(Buffer.from(rawLink), 'hardlink target: ', error);
    if (target.length === 0) throw error('hardlink-to-directory', 'hardlink target is the archive root, a directory');
    const targetIsDirectory = context.seen.get(target.toString('latin1'));
    if (targetIsDirectory === undefined) {
      throw error('hardlink-unseen', `hardlink target "${printableBytes(target)}" is not an earlier entry of the archive`);
    }
    if (targetIsDirectory) throw error('hardlink-to-directory', `hardlink target "${printableBytes(target)}" is a directory`);
    entry.linkTarget = target;
  } else if (kind === 'symlink') {
    if (rawLink.length === 0) throw error('bad-link-target', 'symlink target is empty');
    if (rawLink.includes(0)) throw error('bad-link-target', 'symlink target contains a NUL byte');
    if (rawLink.length > MAX_PATH_BYTES) throw error('bad-link-target', `symlink target is ${rawLink.length} bytes, longer than ${MAX_PATH_BYTES}`);
    entry.linkTarget = Buffer.from(rawLink);
  } else if (kind === 'char' || kind === 'block') {
    entry.rdevMajor = id('SCHILY.devmajor', header.devmajor);
    entry.rdevMinor = id('SCHILY.devminor', header.devminor);
  }

  const member: { entry: SourceEntry; offset: number; content?: AsyncIterable<Buffer>; sparseRegions?: readonly SparseRegion[] } = {
    entry,
    offset: memberOffset,
  };
  const dataStart = headerOffset + BLOCK_SIZE;
  let data: MemberData;
  if (kind === 'file' && (header.typeflag === 'S' || isPaxSparse(pax, pending))) {
    const sparse = await readSparseLayout(cursor, context, block, header, pax, pending, storedSize, headerOffset, rawName, error);
    data = new MemberData(cursor, context, sparse.storedDataSize, sparse.dataStart, paddingAfter(sparse.storedDataSize + sparse.mapBytes), rawName, headerOffset);
    validateOrFail(() => validateSparseMap(sparse.regions, sparse.realSize, sparse.storedDataSize), error);
    entry.size = sparse.realSize;
    member.sparseRegions = sparse.regions;
    member.content = memberContent(data, () => expandSparse(sparse.regions, sparse.realSize, (maxLength) => data.read(maxLength)));
  } else {
    // Non-file members may still carry data (a directory with a size, a hardlink with data):
    // it is skipped like GNU tar does, and the entry's size is 0.
    data = new MemberData(cursor, context, storedSize, dataStart, paddingAfter(storedSize), rawName, headerOffset);
    if (kind === 'file') {
      entry.size = storedSize;
      member.content = memberContent(data, async function* () {
        while (data.remaining > 0) yield await data.read(data.remaining);
      });
    }
  }

  context.seen.set(path.toString('latin1'), kind === 'dir');
  return { member, data };
}

function normalizeOrFail(raw: Buffer, what: string, error: (problem: TarProblem, detail: string) => TarArchiveError) {
  try {
    return normalizeArchivePath(raw);
  } catch (caught) {
    if (caught instanceof ArchivePathError) throw error(caught.problem, what + caught.detail);
    throw caught;
  }
}

function decodeGnuTimes(block: Buffer): { atime: number; ctime: number } | undefined {
  try {
    return decodeFields(GNU_TIME_FIELDS, block);
  } catch {
    return undefined; // garbage where GNU keeps optional times: the times are just unknown
  }
}

function collectXattrs(
  context: ReaderContext,
  pax: PaxView,
  error: (problem: TarProblem, detail: string) => TarArchiveError,
): Xattr[] {
  // Keyed by name so SCHILY and LIBARCHIVE spellings of the same xattr collapse (last wins).
  const xattrs = new Map<string, Xattr>();
  for (const [key, raw] of pax.xattrRecords()) {
    let name: Buffer;
    let value: Buffer;
    if (key.startsWith('SCHILY.xattr.')) {
      name = decodeSchilyXattrName(key.slice('SCHILY.xattr.'.length));
      value = raw;
    } else if (key.startsWith('LIBARCHIVE.xattr.')) {
      name = decodeLibarchiveXattrName(key.slice('LIBARCHIVE.xattr.'.length));
      try {
        value = decodeBase64Value(key, raw);
      } catch (caught) {
        if (caught instanceof PaxFormatError) throw error('bad-xattr', caught.message);
        throw caught;
      }
    } else {
      name = Buffer.from('security.selinux'); // RHT.security.selinux, GNU tar --selinux
      value = raw;
    }
    const shown = JSON.stringify(name.toString('latin1').slice(0, 64));
    if (name.length === 0) throw error('bad-xattr', 'xattr with an empty name');
    if (name.includes(0)) throw error('bad-xattr', `xattr name ${shown} contains a NUL byte`);
    if (name.length > MAX_XATTR_NAME_BYTES) throw error('bad-xattr', `xattr name is ${name.length} bytes, longer than ${MAX_XATTR_NAME_BYTES}`);
    if (value.length > context.maxXattrBytes) {
      throw error('xattr-too-large', `xattr ${shown} value is ${value.length} bytes, more than the ${context.maxXattrBytes}-byte limit`);
    }
    xattrs.set(name.toString('latin1'), { name, value: Buffer.from(value) });
  }
  return [...xattrs.values()];
}

function isPaxSparse(pax: PaxView, pending: PendingExtensions): boolean {
  return (
    pax.has('GNU.sparse.major') ||
    pax.has('GNU.sparse.map') ||
    pax.has('GNU.sparse.size') ||
    pax.has('GNU.sparse.realsize') ||
    pending.records.some((record) => record.key === 'GNU.sparse.offset')
  );
}

interface SparseLayout {
  regions: SparseRegion[];
  realSize: number;
  /** bytes of region data stored in the member (after any in-data map) */
  storedDataSize: number;
  /** bytes of the member data taken by a pax 1.0 map (0 otherwise) */
  mapBytes: number;
  /** stream offset where the region data starts */
  dataStart: number;
}

/** Works out a sparse member's map, reading old-GNU extension blocks or a 1.0 in-data map. */
async function readSparseLayout(
  cursor: ByteCursor,
  context: ReaderContext,
  block: Buffer,
  header: UstarHeader,
  pax: PaxView,
  pending: PendingExtensions,
  storedSize: number,
  headerOffset: number,
  rawName: Buffer,
  error: (problem: TarProblem, detail: string, code?: TarErrorCode) => TarArchiveError,
): Promise<SparseLayout> {
  const integer = (keyword: string): number | undefined => {
    const value = pax.get(keyword);
    if (value === undefined) return undefined;
    try {
      return parsePaxInteger(keyword, value);
    } catch (caught) {
      if (caught instanceof PaxFormatError) throw error('bad-sparse-map', caught.message);
      throw caught;
    }
  };
  const truncated = () =>
    fail(context, 'truncated', `archive ends inside the sparse map (member data starts at offset ${headerOffset + BLOCK_SIZE})`, headerOffset, rawName);
  const requireRealSize = (keyword: string): number => {
    const realSize = integer(keyword);
    if (realSize === undefined) throw error('bad-sparse-map', `sparse entry has no ${keyword}`);
    return realSize;
  };

  return validateOrFail(async () => {
    if (header.typeflag === 'S') {
      const fields = decodeFields(GNU_SPARSE_HEADER_FIELDS, block);
      const regions = parseGnuSparseEntries(fields.sparse);
      // Like GNU tar: an empty entry ends a block's list, but the isExtended flag alone says
      // whether another extension block follows.
      let extended = fields.isExtended !== '\0';
      let mapBytes = 0;
      while (extended) {
        mapBytes += BLOCK_SIZE;
        if (mapBytes > context.maxPaxBytes) throw error('pax-too-large', `sparse map extension blocks exceed ${context.maxPaxBytes} bytes`);
        const extension = await cursor.readExact(BLOCK_SIZE);
        if (extension.length < BLOCK_SIZE) throw truncated();
        const extensionFields = decodeFields(GNU_SPARSE_EXTENSION_FIELDS, extension);
        regions.push(...parseGnuSparseEntries(extensionFields.sparse));
        extended = extensionFields.isExtended !== '\0';
      }
      // The extension blocks sit between the header and the data and are not counted in size.
      return { regions, realSize: integer('GNU.sparse.realsize') ?? fields.realSize, storedDataSize: storedSize, mapBytes: 0, dataStart: cursor.position };
    }

    const major = pax.get('GNU.sparse.major')?.toString('latin1');
    const minor = pax.get('GNU.sparse.minor')?.toString('latin1');
    if (major === '1' && minor === '0') {
      const realSize = requireRealSize('GNU.sparse.realsize');
      const dataStart = cursor.position;
      const { regions, mapBytes } = await readSparseMap10(async () => {
        if (cursor.position + BLOCK_SIZE > dataStart + storedSize) throw new SparseMapError('sparse map runs past the member data');
        const mapBlock = await cursor.readExact(BLOCK_SIZE);
        if (mapBlock.length < BLOCK_SIZE) throw truncated();
        return mapBlock;
      }, context.maxPaxBytes);
      return { regions, realSize, storedDataSize: storedSize - mapBytes, mapBytes, dataStart: cursor.position };
    }
    if (major !== undefined && major !== '0') {
      throw error('unsupported-sparse', `unsupported GNU sparse format ${major}.${minor ?? '?'}`, 'UNSUPPORTED_ARCHIVE');
    }

    const realSize = requireRealSize('GNU.sparse.size');
    const mapText = pax.get('GNU.sparse.map');
    let regions: SparseRegion[];
    if (mapText !== undefined) {
      regions = parseSparseMap01(mapText.toString('latin1')); // format 0.1
    } else {
      // Format 0.0: GNU.sparse.offset / GNU.sparse.numbytes pairs, meaningful only in order,
      // so they come from the member's records rather than the keyword map.
      regions = [];
      let open: SparseRegion | undefined;
      for (const { key, value } of pending.records) {
        if (key === 'GNU.sparse.offset') {
          if (open !== undefined) throw new SparseMapError('GNU.sparse.offset without its GNU.sparse.numbytes');
          open = { offset: parsePaxInteger(key, value), length: 0 };
        } else if (key === 'GNU.sparse.numbytes') {
          if (open === undefined) throw new SparseMapError('GNU.sparse.numbytes without a GNU.sparse.offset');
          open.length = parsePaxInteger(key, value);
          regions.push(open);
          open = undefined;
        }
      }
      if (open !== undefined) throw new SparseMapError('GNU.sparse.offset without its GNU.sparse.numbytes');
    }
    const declared = integer('GNU.sparse.numblocks');
    if (declared !== undefined && declared !== regions.length) {
      throw new SparseMapError(`GNU.sparse.numblocks says ${declared} regions, the map has ${regions.length}`);
    }
    return { regions, realSize, storedDataSize: storedSize, mapBytes: 0, dataStart: cursor.position };
  }, error);
}

/** Runs `action`, turning sparse-map and header-field complaints into errors naming the entry. */
function validateOrFail<T>(action: () => T, error: (problem: TarProblem, detail: string) => TarArchiveError): T {
  const translate = (caught: unknown): never => {
    if (caught instanceof SparseMapError || caught instanceof PaxFormatError || caught instanceof HeaderFieldError) {
      throw error('bad-sparse-map', caught.message);
    }
    throw caught;
  };
  try {
    const result = action();
    return (result instanceof Promise ? result.catch(translate) : result) as T;
  } catch (caught) {
    return translate(caught);
  }
}

/**
 * A member's content: iterable once (it is a view of a stream, which cannot rewind), and only
 * while the member is current; every step checks that, so a stale iterator fails loudly even
 * where it would not need to read (zeros of a sparse hole, or an already skipped remainder).
 */
function memberContent(data: MemberData, start: () => AsyncIterator<Buffer>): AsyncIterable<Buffer> {
  let started = false;
  return {
    [Symbol.asyncIterator](): AsyncIterator<Buffer> {
      if (started) throw new Error('tar member content can be iterated only once');
      started = true;
      const inner = start();
      return {
        next: async () => {
          data.assertLive();
          return inner.next();
        },
        return: async () => (await inner.return?.()) ?? { done: true, value: undefined },
      };
    },
  };
}

/**
 * The stored data of the current member: `remaining` bytes at the cursor, then padding to the
 * next block. Content reads go through here; once the reader moves on, the member "expires"
 * and reading it is a programming error.
 */
class MemberData {
  #remaining: number;
  #expired = false;

  constructor(
    private readonly cursor: ByteCursor,
    private readonly context: ReaderContext,
    private readonly storedSize: number,
    private readonly dataStart: number,
    private readonly padding: number,
    private readonly rawName: Buffer,
    private readonly headerOffset: number,
  ) {
    this.#remaining = storedSize;
  }

  get remaining(): number {
    return this.#remaining;
  }

  expire(): void {
    this.#expired = true;
  }

  assertLive(): void {
    if (this.#expired) {
      throw new Error('tar member content read after the reader moved to the next member; read content before asking for the next one');
    }
  }

  /** 1..min(maxLength, remaining) bytes; throws at a premature end of stream. */
  async read(maxLength: number): Promise<Buffer> {
    this.assertLive();
    const chunk = await this.cursor.readSome(Math.min(maxLength, this.#remaining));
    if (chunk.length === 0) throw this.#truncated();
    this.#remaining -= chunk.length;
    return chunk;
  }

  /** Discards what the consumer did not read, and the padding. */
  async skipRest(): Promise<void> {
    const wanted = this.#remaining + this.padding;
    const skipped = await this.cursor.skip(wanted);
    this.#remaining = Math.max(0, this.#remaining - skipped);
    if (skipped < wanted) throw this.#truncated();
  }

  #truncated(): TarArchiveError {
    return fail(
      this.context,
      'truncated',
      `archive ends inside the entry's data (${this.storedSize} bytes from offset ${this.dataStart}, stream ends at offset ${this.cursor.position})`,
      this.headerOffset,
      this.rawName,
    );
  }
}
