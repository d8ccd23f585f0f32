// The 512-byte tar header, declared once as field tables from which both decoding (reader) and
// encoding (writer) are derived, so no offset is written down twice.
//
// Layout references: POSIX.1-2001 pax/ustar, and GNU tar's "old GNU" header (magic "ustar  \0"),
// which reuses the ustar prefix area for atime, ctime and the first four sparse map entries.

export const BLOCK_SIZE = 512;

/**
 * How a field's bytes map to a value.
 * - 'string': raw bytes up to the first NUL (a full-width field has no NUL).
 * - 'number': octal digits terminated by NUL or space (leading spaces allowed), or GNU base-256
 *   when the first byte has its top bit set (two's complement; 0xff first byte = negative).
 *   Written as zero-padded octal when it fits, base-256 otherwise.
 * - 'checksum': octal on read; written as six digits, NUL, space (what every tar writes).
 * - 'char': a single byte as a one-character string ('\0' for NUL).
 * - 'bytes': the field's raw bytes, untouched (sub-structures parsed elsewhere).
 */
export type FieldEncoding = 'string' | 'number' | 'checksum' | 'char' | 'bytes';

export interface FieldSpec {
  readonly name: string;
  readonly offset: number;
  readonly length: number;
  readonly encoding: FieldEncoding;
}

export const USTAR_FIELDS = [
  { name: 'name', offset: 0, length: 100, encoding: 'string' },
  { name: 'mode', offset: 100, length: 8, encoding: 'number' },
  { name: 'uid', offset: 108, length: 8, encoding: 'number' },
  { name: 'gid', offset: 116, length: 8, encoding: 'number' },
  { name: 'size', offset: 124, length: 12, encoding: 'number' },
  { name: 'mtime', offset: 136, length: 12, encoding: 'number' },
  { name: 'checksum', offset: 148, length: 8, encoding: 'checksum' },
  { name: 'typeflag', offset: 156, length: 1, encoding: 'char' },
  { name: 'linkname', offset: 157, length: 100, encoding: 'string' },
  { name: 'magic', offset: 257, length: 6, encoding: 'bytes' },
  { name: 'version', offset: 263, length: 2, encoding: 'bytes' },
  { name: 'uname', offset: 265, length: 32, encoding: 'string' },
  { name: 'gname', offset: 297, length: 32, encoding: 'string' },
  { name: 'devmajor', offset: 329, length: 8, encoding: 'number' },
  { name: 'devminor', offset: 337, length: 8, encoding: 'number' },
  { name: 'prefix', offset: 345, length: 155, encoding: 'string' },
] as const satisfies readonly FieldSpec[];

/** Old GNU format (magic GNU_MAGIC): times kept where ustar has `prefix` (zero when unused). */
export const GNU_TIME_FIELDS = [
  { name: 'atime', offset: 345, length: 12, encoding: 'number' },
  { name: 'ctime', offset: 357, length: 12, encoding: 'number' },
] as const satisfies readonly FieldSpec[];

/** Old GNU format, typeflag 'S': the first four sparse map entries and the real file size. */
export const GNU_SPARSE_HEADER_FIELDS = [
  { name: 'sparse', offset: 386, length: 4 * 24, encoding: 'bytes' },
  { name: 'isExtended', offset: 482, length: 1, encoding: 'char' },
  { name: 'realSize', offset: 483, length: 12, encoding: 'number' },
] as const satisfies readonly FieldSpec[];

/** An old-GNU sparse extension block: 21 (offset, numbytes) pairs, then the continuation flag. */
export const GNU_SPARSE_EXTENSION_FIELDS = [
  { name: 'sparse', offset: 0, length: 21 * 24, encoding: 'bytes' },
  { name: 'isExtended', offset: 504, length: 1, encoding: 'char' },
] as const satisfies readonly FieldSpec[];

/** One entry of an old-GNU sparse map: where a data region starts and how long it is. */
export const GNU_SPARSE_ENTRY_FIELDS = [
  { name: 'offset', offset: 0, length: 12, encoding: 'number' },
  { name: 'numBytes', offset: 12, length: 12, encoding: 'number' },
] as const satisfies readonly FieldSpec[];
export const GNU_SPARSE_ENTRY_SIZE = 24;

export const USTAR_MAGIC = Buffer.from('ustar\0', 'latin1');
export const USTAR_VERSION = Buffer.from('00', 'latin1');
export const GNU_MAGIC = Buffer.from('ustar ', 'latin1');
export const GNU_VERSION = Buffer.from(' \0', 'latin1');

type ValueOf<E extends FieldEncoding> = E extends 'string' | 'bytes' ? Buffer : E extends 'char' ? string : number;

/** The decoded form of a header described by field table T. */
export type Fields<T extends readonly FieldSpec[]> = { [F in T[number] as F['name']]: ValueOf<F['encoding']> };

/**
 * A number field that is not a number ('syntax'), or a base-256 one too big for an exact JS
 * number ('range'); the reader turns it into a TarArchiveError naming the entry.
 */
export class HeaderFieldError extends Error {
  constructor(
    readonly field: string,
    readonly failure: 'syntax' | 'range',
    detail: string,
  ) {
    super(`${field} field ${detail}`);
  }
}

/**
 * Decodes every field of table T from `block`. Numbers are exact JS numbers: a base-256 value
 * beyond 2^53-1 in magnitude raises HeaderFieldError instead of silently losing precision.
 * Returned Buffers are views into `block`; copy what must outlive it.
 */
export function decodeFields<T extends readonly FieldSpec[]>(fields: T, block: Buffer): Fields<T> {
  const decoded: Record<string, Buffer | string | number> = {};
  for (const field of fields) {
    const raw = block.subarray(field.offset, field.offset + field.length);
    switch (field.encoding) {
      case 'string': {
        const nul = raw.indexOf(0);
        decoded[field.name] = nul === -1 ? raw : raw.subarray(0, nul);
        break;
      }
      case 'bytes':
        decoded[field.name] = raw;
        break;
      case 'char':
        decoded[field.name] = String.fromCharCode(raw[0]!);
        break;
      case 'number':
      case 'checksum':
        decoded[field.name] = decodeNumber(field.name, raw);
        break;
    }
  }
  return decoded as Fields<T>;
}

/**
 * Writes every field of table T into `block` (which the caller zero-fills). Strings longer than
 * their field are a caller bug (the writer decides what fits before calling); numbers that do
 * not fit octal are written base-256. The checksum field is left for `sealHeader`.
 */
export function encodeFields<T extends readonly FieldSpec[]>(
  fields: T,
  values: Omit<Fields<T>, 'checksum'>,
  block: Buffer,
): void {
  const byName = values as unknown as Record<string, Buffer | string | number>;
  for (const field of fields) {
    if (field.encoding === 'checksum') continue;
    const value = byName[field.name]!;
    const target = block.subarray(field.offset, field.offset + field.length);
    switch (field.encoding) {
      case 'string':
      case 'bytes': {
        const bytes = value as Buffer;
        if (bytes.length > field.length) throw new RangeError(`${field.name}: ${bytes.length} bytes do not fit ${field.length}`);
        bytes.copy(target);
        break;
      }
      case 'char':
        target[0] = (value as string).charCodeAt(0);
        break;
      case 'number':
        encodeNumber(value as number, target);
        break;
    }
  }
}

const CHECKSUM_FIELD = USTAR_FIELDS.find((field) => field.encoding === 'checksum')!;

/** Encodes a complete ustar header block: fields, then the checksum over them. */
export function encodeUstarHeader(values: Omit<Fields<typeof USTAR_FIELDS>, 'checksum'>): Buffer {
  const block = Buffer.alloc(BLOCK_SIZE);
  encodeFields(USTAR_FIELDS, values, block);
  const sum = checksumOf(block).unsigned;
  // Six octal digits, NUL, space: the traditional form every reader accepts.
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, CHECKSUM_FIELD.offset, 'latin1');
  return block;
}

/**
 * The header checksum: the byte sum with the checksum field counted as spaces. Historic tars
 * summed signed chars, so readers accept either sum.
 */
export function checksumOf(block: Buffer): { unsigned: number; signed: number } {
  let unsigned = 0;
  let signed = 0;
  for (let index = 0; index < BLOCK_SIZE; index++) {
    const inChecksum = index >= CHECKSUM_FIELD.offset && index < CHECKSUM_FIELD.offset + CHECKSUM_FIELD.length;
    const byte = inChecksum ? 0x20 : block[index]!;
    unsigned += byte;
    signed += byte >= 0x80 ? byte - 0x100 : byte;
  }
  return { unsigned, signed };
}

export function checksumMatches(block: Buffer): boolean {
  let stored: number;
  try {
    stored = decodeNumber('checksum', block.subarray(CHECKSUM_FIELD.offset, CHECKSUM_FIELD.offset + CHECKSUM_FIELD.length));
  } catch {
    return false;
  }
  const { unsigned, signed } = checksumOf(block);
  return stored === unsigned || stored === signed;
}

export function isZeroBlock(block: Buffer): boolean {
  for (let index = 0; index < block.length; index++) if (block[index] !== 0) return false;
  return true;
}

/** Bytes of padding after `size` bytes of member data, to the next block boundary. */
export function paddingAfter(size: number): number {
  return (BLOCK_SIZE - (size % BLOCK_SIZE)) % BLOCK_SIZE;
}

/** True when `value` can be written as octal in a field of `length` bytes (digits + NUL). */
export function fitsOctal(value: number, length: number): boolean {
  return Number.isInteger(value) && value >= 0 && value < 8 ** (length - 1);
}

function decodeNumber(fieldName: string, raw: Buffer): number {
  if (raw.length > 0 && (raw[0]! & 0x80) !== 0) return decodeBase256(fieldName, raw);
  let index = 0;
  while (index < raw.length && raw[index] === 0x20) index++;
  let value = 0;
  while (index < raw.length && raw[index]! >= 0x30 && raw[index]! <= 0x37) {
    value = value * 8 + (raw[index]! - 0x30);
    index++;
  }
  // What follows the digits may only be terminators (NUL or space).
  for (; index < raw.length; index++) {
    const byte = raw[index]!;
    if (byte !== 0 && byte !== 0x20) {
      throw new HeaderFieldError(fieldName, 'syntax', `is not an octal number (${JSON.stringify(raw.toString('latin1'))})`);
    }
  }
  // An empty field (all NUL/space) is 0: some writers leave devmajor/devminor blank. At most 12
  // octal digits fit any field, so `value` is exact.
  return value;
}

function decodeBase256(fieldName: string, raw: Buffer): number {
  const negative = raw[0] === 0xff;
  if (!negative && raw[0] !== 0x80) {
    throw new HeaderFieldError(fieldName, 'syntax', `has an invalid base-256 marker byte 0x${raw[0]!.toString(16)}`);
  }
  let value = negative ? -1n : 0n; // two's complement: start from all ones when negative
  for (let index = 1; index < raw.length; index++) value = (value << 8n) | BigInt(raw[index]!);
  if (!negative) value &= (1n << BigInt(8 * (raw.length - 1))) - 1n;
  if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < -BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new HeaderFieldError(fieldName, 'range', `holds ${value}, beyond 2^53-1 in magnitude`);
  }
  return Number(value);
}

function encodeNumber(value: number, target: Buffer): void {
  if (!Number.isSafeInteger(value)) throw new RangeError(`cannot encode ${value} in a tar header`);
  if (fitsOctal(value, target.length)) {
    target.write(value.toString(8).padStart(target.length - 1, '0'), 0, 'latin1');
    target[target.length - 1] = 0;
    return;
  }
  // GNU base-256: 0x80 (positive) or 0xff (negative) marker, then big-endian two's complement.
  let remaining = BigInt(value);
  for (let index = target.length - 1; index >= 1; index--) {
    target[index] = Number(remaining & 0xffn);
    remaining >>= 8n; // arithmetic shift keeps negative numbers sign-filled
  }
  target[0] = value < 0 ? 0xff : 0x80;
}
