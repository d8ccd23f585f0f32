// Errors raised while reading a tar archive. Every one of them reaches users, so they are
// StrataErrors (OperationalError) carrying the archive entry's name as written in the archive
// and the byte offset in the decompressed stream, plus a machine-readable `problem` so callers
// (and tests) can tell the cases apart without matching message text.

import { OperationalError } from '../../format/errors.js';

/** The specific thing wrong with an archive. */
export type TarProblem =
  | 'truncated' // EOF inside a header, an extension record or content
  | 'missing-end' // clean EOF at a block boundary without the end-of-archive marker
  | 'trailing-data' // a lone zero block followed by more data
  | 'checksum' // header checksum mismatch
  | 'bad-field' // a header number field that is not octal / base-256
  | 'empty-name'
  | 'absolute-path'
  | 'dotdot'
  | 'nul-in-name'
  | 'empty-component'
  | 'name-too-long'
  | 'component-too-long'
  | 'root-not-directory' // '.' given a kind other than directory
  | 'bad-pax-record' // malformed pax record or value
  | 'pax-too-large' // pax header (or accumulated pax state, or GNU long name) beyond the bound
  | 'orphan-extension' // pax/GNU extension header not followed by an entry
  | 'bad-xattr' // empty / NUL-containing / over-long xattr name, or undecodable value
  | 'xattr-too-large'
  | 'size-out-of-range' // negative, or beyond 2^53-1
  | 'id-out-of-range' // uid, gid or device number out of range
  | 'time-out-of-range'
  | 'bad-link-target' // symlink target empty, with NUL, or too long
  | 'hardlink-unseen' // hardlink target not an earlier entry
  | 'hardlink-to-directory'
  | 'bad-sparse-map'
  | 'unsupported-type'
  | 'unsupported-sparse';

export type TarErrorCode = 'BAD_ARCHIVE' | 'UNSUPPORTED_ARCHIVE';

export class TarArchiveError extends OperationalError {
  readonly problem: TarProblem;
  /** the entry's name as the archive spells it (before normalisation), when known */
  readonly entryName: Buffer | undefined;
  /** byte offset in the decompressed stream of the entry's header, or of the damage */
  readonly offset: number;

  constructor(
    code: TarErrorCode,
    problem: TarProblem,
    detail: string,
    where: { archive: string; entryName?: Buffer; offset: number },
  ) {
    const subject = where.entryName === undefined ? 'header' : `entry "${printableBytes(where.entryName)}"`;
    super(code, `${where.archive}: ${subject} at offset ${where.offset}: ${detail}`);
    this.problem = problem;
    this.entryName = where.entryName;
    this.offset = where.offset;
  }
}

/**
 * Renders raw name bytes for a one-line message: valid UTF-8 passes through, every other byte
 * (invalid sequences, control characters, DEL, and the backslash itself so the escaping stays
 * unambiguous) becomes \xNN. Long names are cut in the middle so messages stay readable.
 */
export function printableBytes(bytes: Buffer, maxBytes = 512): string {
  if (bytes.length > maxBytes) {
    const half = Math.floor(maxBytes / 2);
    return `${printableBytes(bytes.subarray(0, half), half)}...(${bytes.length} bytes)...${printableBytes(bytes.subarray(bytes.length - half), half)}`;
  }
  let text = '';
  let index = 0;
  while (index < bytes.length) {
    const length = utf8SequenceLength(bytes, index);
    const byte = bytes[index]!;
    if (length === 0 || (length === 1 && (byte < 0x20 || byte === 0x7f || byte === 0x5c))) {
      text += `\\x${byte.toString(16).padStart(2, '0')}`;
      index += 1;
    } else {
      text += bytes.toString('utf8', index, index + length);
      index += length;
    }
  }
  return text;
}

/** Length of the well-formed UTF-8 sequence starting at `index`, or 0 if it is not one. */
function utf8SequenceLength(bytes: Buffer, index: number): number {
  const lead = bytes[index]!;
  if (lead < 0x80) return 1;
  let length: number;
  let secondMin = 0x80;
  let secondMax = 0xbf;
  if (lead >= 0xc2 && lead <= 0xdf) length = 2;
  else if (lead >= 0xe0 && lead <= 0xef) {
    length = 3;
    if (lead === 0xe0) secondMin = 0xa0; // no overlong forms
    if (lead === 0xed) secondMax = 0x9f; // no UTF-16 surrogates
  } else if (lead >= 0xf0 && lead <= 0xf4) {
    length = 4;
    if (lead === 0xf0) secondMin = 0x90;
    if (lead === 0xf4) secondMax = 0x8f; // nothing above U+10FFFF
  } else return 0;
  if (index + length > bytes.length) return 0;
  const second = bytes[index + 1]!;
  if (second < secondMin || second > secondMax) return 0;
  for (let k = 2; k < length; k++) {
    const continuation = bytes[index + k]!;
    if (continuation < 0x80 || continuation > 0xbf) return 0;
  }
  return length;
}
