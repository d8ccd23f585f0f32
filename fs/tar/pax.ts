// pax extended header records ("<length> <keyword>=<value>\n") and the value syntaxes the
// reader and writer share. Keywords are kept as latin1 strings (one char per byte) so that
// non-UTF-8 bytes in xattr names survive the round trip; values stay raw Buffers.

import type { Timespec } from '../entry.js';

export interface PaxRecord {
  /** the keyword, one char per byte (latin1) */
  key: string;
  /** the raw value; a view into the header data, copy what must outlive it */
  value: Buffer;
}

/** Raised for a malformed record or value; the reader re-raises it naming the entry. */
export class PaxFormatError extends Error {}
/** A well-formed number that is out of range (beyond 2^53-1). */
export class PaxRangeError extends PaxFormatError {}

const SPACE = 0x20;
const EQUALS = 0x3d;
const NEWLINE = 0x0a;
/** More digits than this cannot be a sane record length (and would not fit a safe integer). */
const MAX_LENGTH_DIGITS = 15;

/**
 * Parses the data of one 'x' or 'g' header. Each record's length covers the whole record,
 * itself included, so a record is checked to end with '\n' exactly where its length says.
 * NUL padding after the last record (written by some tars) is tolerated.
 */
export function parsePaxRecords(data: Buffer): PaxRecord[] {
  const records: PaxRecord[] = [];
  let position = 0;
  while (position < data.length) {
    if (data[position] === 0) {
      if (data.subarray(position).some((byte) => byte !== 0)) {
        throw new PaxFormatError(`pax record at byte ${position} starts with NUL`);
      }
      break;
    }
    let cursor = position;
    while (cursor < data.length && cursor - position <= MAX_LENGTH_DIGITS && data[cursor]! >= 0x30 && data[cursor]! <= 0x39) {
      cursor++;
    }
    const digits = cursor - position;
    if (digits === 0 || digits > MAX_LENGTH_DIGITS || data[cursor] !== SPACE) {
      throw new PaxFormatError(`pax record at byte ${position} does not start with "<length> "`);
    }
    const length = Number(data.toString('latin1', position, cursor));
    // Shortest possible record: digits, space, a one-byte keyword, '=', '\n'.
    if (length < digits + 4) throw new PaxFormatError(`pax record at byte ${position} has impossible length ${length}`);
    if (position + length > data.length) {
      throw new PaxFormatError(
        `pax record at byte ${position} claims ${length} bytes but only ${data.length - position} remain in the header`,
      );
    }
    const end = position + length;
    if (data[end - 1] !== NEWLINE) throw new PaxFormatError(`pax record at byte ${position} does not end with a newline`);
    const body = data.subarray(cursor + 1, end - 1);
    const equals = body.indexOf(EQUALS);
    if (equals <= 0) throw new PaxFormatError(`pax record at byte ${position} has no "keyword="`);
    records.push({ key: body.toString('latin1', 0, equals), value: body.subarray(equals + 1) });
    position = end;
  }
  return records;
}

/** Encodes one record; the length prefix counts its own digits, hence the fixed point loop. */
export function encodePaxRecord(key: Buffer, value: Buffer): Buffer {
  const bodyLength = 1 + key.length + 1 + value.length + 1; // ' ' key '=' value '\n'
  let length = bodyLength + 1;
  while (String(length).length + bodyLength !== length) length = String(length).length + bodyLength;
  return Buffer.concat([Buffer.from(`${length} `, 'latin1'), key, Buffer.of(EQUALS), value, Buffer.of(NEWLINE)]);
}

/** A non-negative decimal integer no larger than 2^53-1. */
export function parsePaxInteger(keyword: string, value: Buffer): number {
  const text = value.toString('latin1');
  if (/^-[0-9]+$/.test(text)) throw new PaxRangeError(`pax ${keyword}=${clip(text)} is negative`);
  if (/^[0-9]{17,}$/.test(text)) throw new PaxRangeError(`pax ${keyword}=${clip(text)} is larger than 2^53-1`);
  if (!/^[0-9]{1,16}$/.test(text)) throw new PaxFormatError(`pax ${keyword}=${JSON.stringify(clip(text))} is not a decimal number`);
  const number = Number(text);
  if (!Number.isSafeInteger(number)) throw new PaxRangeError(`pax ${keyword}=${text} is larger than 2^53-1`);
  return number;
}

/**
 * A pax time: optional '-', decimal seconds, optional '.' and fraction. The value is the real
 * number, so "-1.5" is 1.5 s before the epoch: sec -2, nsec 500000000. Digits past the ninth
 * are dropped (truncation towards the earlier instant for positive times, as GNU tar does).
 */
export function parsePaxTime(keyword: string, value: Buffer): Timespec {
  const text = value.toString('latin1');
  const match = /^(-?)([0-9]+)(?:\.([0-9]*))?$/.exec(text);
  if (!match) throw new PaxFormatError(`pax ${keyword}=${JSON.stringify(clip(text))} is not a time`);
  const whole = match[2]!.length > 16 ? Infinity : Number(match[2]);
  if (!Number.isSafeInteger(whole + 1)) throw new PaxRangeError(`pax ${keyword}=${clip(text)} is beyond 2^53 seconds`);
  const fraction = Number((match[3] ?? '').slice(0, 9).padEnd(9, '0'));
  if (match[1] !== '-') return { sec: whole, nsec: fraction };
  if (fraction === 0) return { sec: whole === 0 ? 0 : -whole, nsec: 0 };
  return { sec: -whole - 1, nsec: 1_000_000_000 - fraction };
}

/** Inverse of parsePaxTime; the fraction is written with trailing zeros trimmed, like GNU tar. */
export function formatPaxTime(time: Timespec): string {
  if (time.nsec === 0) return String(time.sec);
  const fraction = (nanos: number) => String(nanos).padStart(9, '0').replace(/0+$/, '');
  if (time.sec >= 0) return `${time.sec}.${fraction(time.nsec)}`;
  return `-${-time.sec - 1}.${fraction(1_000_000_000 - time.nsec)}`;
}

/**
 * GNU tar escapes only '%' and '=' in SCHILY.xattr keywords (a keyword ends at the first '=');
 * everything else, including non-UTF-8 bytes, is written raw.
 */
export function encodeSchilyXattrName(name: Buffer): Buffer {
  const parts: Buffer[] = [];
  let start = 0;
  for (let index = 0; index < name.length; index++) {
    const byte = name[index]!;
    if (byte === 0x25 || byte === EQUALS) {
      parts.push(name.subarray(start, index), Buffer.from(byte === 0x25 ? '%25' : '%3D', 'latin1'));
      start = index + 1;
    }
  }
  parts.push(name.subarray(start));
  return Buffer.concat(parts);
}

export function decodeSchilyXattrName(encoded: string): Buffer {
  return Buffer.from(encoded.replace(/%3D|%25/g, (escape) => (escape === '%3D' ? '=' : '%')), 'latin1');
}

/** libarchive URL-encodes (RFC 1738 style, any %XX) the name in LIBARCHIVE.xattr keywords. */
export function decodeLibarchiveXattrName(encoded: string): Buffer {
  const bytes: number[] = [];
  for (let index = 0; index < encoded.length; index++) {
    const hex = encoded.slice(index + 1, index + 3);
    if (encoded[index] === '%' && /^[0-9A-Fa-f]{2}$/.test(hex)) {
      bytes.push(parseInt(hex, 16));
      index += 2;
    } else {
      bytes.push(encoded.charCodeAt(index));
    }
  }
  return Buffer.from(bytes);
}

/** libarchive's base64 (padding optional); anything outside the alphabet is malformed. */
export function decodeBase64Value(keyword: string, value: Buffer): Buffer {
  const text = value.toString('latin1');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.replace(/=+$/, '').length % 4 === 1) {
    throw new PaxFormatError(`pax ${clip(keyword)} is not base64`);
  }
  return Buffer.from(text, 'base64');
}

function clip(text: string): string {
  return text.length > 64 ? `${text.slice(0, 64)}...` : text;
}
