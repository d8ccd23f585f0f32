// The block layer: every byte strata reads from or writes to a member goes through one
// BlockLayer. A RecordingBlockLayer wraps another and logs every write, flush and mark, so
// crash tests can rebuild the member files as they were at any point of an operation.
import fs from 'node:fs';
import { OperationalError } from './errors.js';

export interface BlockLayer {
  readonly memberCount: number;
  /** false when the member's file is missing (degraded image) */
  present(member: number): boolean;
  /** current size of the member file in bytes */
  size(member: number): number;
  /** read exactly `length` bytes; throws MemberIOError when the member is missing or the range is short */
  read(member: number, offset: number, length: number): Buffer;
  /**
   * Fill all of `target` from `offset`, with the same errors as read. For readers that go
   * through much data (scrub): reusing one buffer spares allocating, page-faulting and
   * collecting a fresh one per read. On error the contents of `target` are unspecified.
   */
  readInto(member: number, offset: number, target: Buffer): void;
  /**
   * As readInto, without blocking this thread: the read runs on libuv's thread pool, so a reader
   * can verify one buffer while the next is being filled. `target` must not be touched, nor the
   * layer closed, until the promise settles.
   */
  readIntoAsync(member: number, offset: number, target: Buffer): Promise<void>;
  write(member: number, offset: number, data: Uint8Array): void;
  /** make every earlier write to `member` (all members when omitted) durable */
  flush(member?: number): void;
  /** a named point in the write stream, e.g. "ack put /a"; no effect on the members */
  mark(label: string): void;
  /** grow or shrink a member file */
  resize(member: number, size: number): void;
  close(): void;
}

/** A read or write that could not be done; carries the member and offset for reports. */
export class MemberIOError extends Error {
  constructor(
    readonly member: number,
    readonly memberPath: string,
    readonly offset: number,
    readonly reason: string,
  ) {
    super(`${memberPath}: ${reason} at offset ${offset}`);
  }
}

export interface MemberFile {
  path: string;
  /** null when the member is missing */
  fd: number | null;
}

export class FileBlockLayer implements BlockLayer {
  private readonly sizes: number[];

  constructor(private readonly members: MemberFile[], private readonly writable: boolean) {
    this.sizes = members.map((m) => (m.fd === null ? 0 : fs.fstatSync(m.fd).size));
  }

  get memberCount(): number {
    return this.members.length;
  }

  path(member: number): string {
    return this.members[member]?.path ?? `member ${member}`;
  }

  present(member: number): boolean {
    return this.members[member]?.fd != null;
  }

  size(member: number): number {
    return this.sizes[member] ?? 0;
  }

  read(member: number, offset: number, length: number): Buffer {
    const out = Buffer.allocUnsafe(length);
    this.readInto(member, offset, out);
    return out;
  }

  readInto(member: number, offset: number, target: Buffer): void {
    const fd = this.fdOf(member, offset);
    const length = target.length;
    let done = 0;
    while (done < length) {
      let n: number;
      try {
        n = fs.readSync(fd, target, done, length - done, offset + done);
      } catch (err) {
        throw new MemberIOError(member, this.path(member), offset + done, (err as NodeJS.ErrnoException).code ?? String(err));
      }
      if (n === 0) throw new MemberIOError(member, this.path(member), offset + done, `short read: file ends at ${offset + done}, ${length - done} bytes missing`);
      done += n;
    }
  }

  async readIntoAsync(member: number, offset: number, target: Buffer): Promise<void> {
    const fd = this.fdOf(member, offset);
    const length = target.length;
    let done = 0;
    while (done < length) {
      let n: number;
      try {
        n = await readAt(fd, target, done, length - done, offset + done);
      } catch (err) {
        throw new MemberIOError(member, this.path(member), offset + done, (err as NodeJS.ErrnoException).code ?? String(err));
      }
      if (n === 0) throw new MemberIOError(member, this.path(member), offset + done, `short read: file ends at ${offset + done}, ${length - done} bytes missing`);
      done += n;
    }
  }

  write(member: number, offset: number, data: Uint8Array): void {
    if (!this.writable) throw new Error('write to a read-only block layer');
    const fd = this.fdOf(member, offset);
    let done = 0;
    while (done < data.length) {
      try {
        done += fs.writeSync(fd, data, done, data.length - done, offset + done);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOSPC') throw new OperationalError('ENOSPC', `${this.path(member)}: no space left on the host filesystem at offset ${offset + done}`);
        throw new MemberIOError(member, this.path(member), offset + done, code ?? String(err));
      }
    }
    if (offset + data.length > this.sizes[member]!) this.sizes[member] = offset + data.length;
  }

  flush(member?: number): void {
    const list = member === undefined ? this.members.map((_, i) => i) : [member];
    for (const m of list) {
      const fd = this.members[m]?.fd;
      if (fd != null) fs.fsyncSync(fd);
    }
  }

  mark(): void {}

  resize(member: number, size: number): void {
    const fd = this.fdOf(member, size);
    fs.ftruncateSync(fd, size);
    this.sizes[member] = size;
  }

  close(): void {
    for (const m of this.members) if (m.fd !== null) fs.closeSync(m.fd);
    for (const m of this.members) m.fd = null;
  }

  private fdOf(member: number, offset: number): number {
    const fd = this.members[member]?.fd;
    if (fd == null) throw new MemberIOError(member, this.path(member), offset, 'member is missing');
    return fd;
  }
}

function readAt(fd: number, target: Buffer, at: number, length: number, position: number): Promise<number> {
  return new Promise((resolve, reject) => {
    fs.read(fd, target, at, length, position, (err, n) => (err ? reject(err) : resolve(n)));
  });
}

export type LoggedOp =
  | { kind: 'write'; member: number; offset: number; data: Buffer }
  | { kind: 'flush'; member?: number }
  | { kind: 'mark'; label: string };

/** Wraps a layer and records every write, flush and mark in order. */
export class RecordingBlockLayer implements BlockLayer {
  readonly log: LoggedOp[] = [];
  constructor(private readonly inner: BlockLayer) {}
  get memberCount(): number { return this.inner.memberCount; }
  present(member: number): boolean { return this.inner.present(member); }
  size(member: number): number { return this.inner.size(member); }
  read(member: number, offset: number, length: number): Buffer { return this.inner.read(member, offset, length); }
  readInto(member: number, offset: number, target: Buffer): void { this.inner.readInto(member, offset, target); }
  readIntoAsync(member: number, offset: number, target: Buffer): Promise<void> { return this.inner.readIntoAsync(member, offset, target); }
  write(member: number, offset: number, data: Uint8Array): void {
    this.log.push({ kind: 'write', member, offset, data: Buffer.from(data) });
    this.inner.write(member, offset, data);
  }
  flush(member?: number): void {
    this.log.push({ kind: 'flush', member });
    this.inner.flush(member);
  }
  mark(label: string): void {
    this.log.push({ kind: 'mark', label });
  }
  resize(member: number, size: number): void { this.inner.resize(member, size); }
  close(): void { this.inner.close(); }
}
