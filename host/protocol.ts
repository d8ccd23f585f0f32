// The TypeScript half of the helper protocol described in python-helper.ts: request frames out,
// response items in. Kept apart from the process management so both can be read on their own.
import type { Timespec, Xattr } from '../fs/entry.js';

export const OP = {
  listXattrs: 1,
  setXattrs: 2,
  setTimes: 3,
  mkfifo: 4,
  mknod: 5,
} as const;
export type Op = (typeof OP)[keyof typeof OP];

const HEADER_BYTES = 9;

/**
 * Builds one request frame. Two passes over the items (measure, then write) so the frame is a
 * single allocation however many items it holds.
 */
export function encodeFrame<T>(op: Op, items: readonly T[], sizeOf: (item: T) => number, write: (item: T, frame: Buffer, at: number) => number): Buffer {
  let bodyBytes = 0;
  for (const item of items) bodyBytes += sizeOf(item);
  const frame = Buffer.allocUnsafe(HEADER_BYTES + bodyBytes);
  frame.writeUInt32LE(bodyBytes, 0);
  frame.writeUInt8(op, 4);
  frame.writeUInt32LE(items.length, 5);
  let at = HEADER_BYTES;
  for (const item of items) at = write(item, frame, at);
  if (at !== frame.length) throw new Error(`helper frame size mismatch: wrote ${at} of ${frame.length} bytes`);
  return frame;
}

/** Writes u32 length then the bytes; returns the offset after them. */
export function writeField(bytes: Buffer, frame: Buffer, at: number): number {
  frame.writeUInt32LE(bytes.length, at);
  bytes.copy(frame, at + 4);
  return at + 4 + bytes.length;
}

export const pathItem = {
  size: (path: Buffer) => 4 + path.length,
  write: (path: Buffer, frame: Buffer, at: number) => writeField(path, frame, at),
};

export interface XattrWrite {
  path: Buffer;
  xattrs: Xattr[];
}
export const xattrWriteItem = {
  size(item: XattrWrite): number {
    let bytes = 8 + item.path.length;
    for (const x of item.xattrs) bytes += 8 + x.name.length + x.value.length;
    return bytes;
  },
  write(item: XattrWrite, frame: Buffer, at: number): number {
    at = writeField(item.path, frame, at);
    frame.writeUInt32LE(item.xattrs.length, at);
    at += 4;
    for (const x of item.xattrs) {
      at = writeField(x.name, frame, at);
      at = writeField(x.value, frame, at);
    }
    return at;
  },
};

export interface TimesWrite {
  path: Buffer;
  atime: Timespec;
  mtime: Timespec;
}
export const timesItem = {
  size: (item: TimesWrite) => 4 + item.path.length + 24,
  write(item: TimesWrite, frame: Buffer, at: number): number {
    at = writeField(item.path, frame, at);
    frame.writeBigInt64LE(BigInt(item.atime.sec), at);
    frame.writeUInt32LE(item.atime.nsec, at + 8);
    frame.writeBigInt64LE(BigInt(item.mtime.sec), at + 12);
    frame.writeUInt32LE(item.mtime.nsec, at + 20);
    return at + 24;
  },
};

export interface FifoWrite {
  path: Buffer;
  perm: number;
}
export const fifoItem = {
  size: (item: FifoWrite) => 8 + item.path.length,
  write(item: FifoWrite, frame: Buffer, at: number): number {
    at = writeField(item.path, frame, at);
    frame.writeUInt32LE(item.perm, at);
    return at + 4;
  },
};

export interface NodeWrite {
  path: Buffer;
  /** file type bits | permission bits, as mknod(2) takes them */
  mode: number;
  major: number;
  minor: number;
}
export const nodeItem = {
  size: (item: NodeWrite) => 16 + item.path.length,
  write(item: NodeWrite, frame: Buffer, at: number): number {
    at = writeField(item.path, frame, at);
    frame.writeUInt32LE(item.mode, at);
    frame.writeUInt32LE(item.major, at + 4);
    frame.writeUInt32LE(item.minor, at + 8);
    return at + 12;
  },
};

/** A failed item as the helper reports it. */
export interface ItemFailure {
  errno: number;
  syscall: string;
  detail: string;
}

/** One response item: `payload` is the op's success payload (status byte removed). */
export type ResponseItem = { ok: true; payload: Buffer } | ({ ok: false } & ItemFailure);

export function parseItem(item: Buffer): ResponseItem {
  if (item.length === 0) throw new Error('helper sent an empty response item');
  if (item[0] === 0) return { ok: true, payload: item.subarray(1) };
  const errno = item.readInt32LE(1);
  const nameLength = item.readUInt16LE(5);
  const syscall = item.toString('latin1', 7, 7 + nameLength);
  const detail = item.toString('utf8', 7 + nameLength);
  return { ok: false, errno, syscall, detail };
}

/** The listXattrs success payload: u32 count, then (u32 n, name, u32 n, value) per attribute. */
export function decodeXattrList(payload: Buffer): Xattr[] {
  const count = payload.readUInt32LE(0);
  const xattrs: Xattr[] = [];
  let at = 4;
  for (let i = 0; i < count; i++) {
    const nameLength = payload.readUInt32LE(at);
    // Copies, so a long-lived result does not pin the whole read chunk it arrived in.
    const name = Buffer.from(payload.subarray(at + 4, at + 4 + nameLength));
    at += 4 + nameLength;
    const valueLength = payload.readUInt32LE(at);
    const value = Buffer.from(payload.subarray(at + 4, at + 4 + valueLength));
    at += 4 + valueLength;
    xattrs.push({ name, value });
  }
  return xattrs;
}

/**
 * Reassembles length-prefixed items from the chunks a pipe delivers. Chunks are only joined
 * when an item spans them, and then only once the whole item has arrived, so the cost stays
 * linear in the bytes received.
 */
export class ItemReader {
  private chunks: Buffer[] = [];
  private buffered = 0;

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
  }

  /** The next complete item, or undefined until more bytes arrive. */
  next(): Buffer | undefined {
    if (this.buffered < 4) return undefined;
    const length = this.contiguous(4).readUInt32LE(0);
    if (this.buffered < 4 + length) return undefined;
    const head = this.contiguous(4 + length);
    const item = head.subarray(4, 4 + length);
    this.consume(4 + length);
    return item;
  }

  /** Makes the first chunk at least `bytes` long (the caller checked they are buffered). */
  private contiguous(bytes: number): Buffer {
    if (this.chunks[0].length >= bytes) return this.chunks[0];
    let joined = 0;
    let count = 0;
    while (joined < bytes) joined += this.chunks[count++].length;
    const merged = Buffer.concat(this.chunks.slice(0, count), joined);
    this.chunks.splice(0, count, merged);
    return merged;
  }

  private consume(bytes: number): void {
    const first = this.chunks[0];
    if (first.length === bytes) this.chunks.shift();
    else this.chunks[0] = first.subarray(bytes);
    this.buffered -= bytes;
  }
}
