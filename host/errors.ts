// The error every host operation reports for one path. It is a StrataError (an
// OperationalError) so that, should a caller let it reach the user, the CLI prints it as one
// line and exits with the operational status instead of treating it as a bug.
import { getSystemErrorName } from 'node:util';
import { OperationalError } from '../format/errors.js';

export class HostSyscallError extends OperationalError {
  /** the C errno value, positive (Node's own errors carry it negated) */
  readonly errno: number;
  /** the system call that failed, e.g. "llistxattr", "utimensat", "mknod" */
  readonly syscall: string;
  /** the path exactly as the caller gave it */
  readonly path: Buffer;

  constructor(errno: number, syscall: string, path: Buffer, detail?: string) {
    const code = errnoName(errno);
    super(code, `${syscall} ${displayPath(path)}: ${detail ?? code}`);
    this.errno = errno;
    this.syscall = syscall;
    this.path = path;
  }

  /** Wrap an error thrown by a Node fs call so every fallback reports the same shape. */
  static fromNode(error: unknown, syscall: string, path: Buffer): HostSyscallError {
    const nodeError = error as NodeJS.ErrnoException;
    if (typeof nodeError?.errno === 'number') {
      const detail = typeof nodeError.message === 'string' ? nodeError.message.replace(/^E[A-Z0-9]+: /, '').replace(/, \w+ .*$/, '') : undefined;
      return new HostSyscallError(Math.abs(nodeError.errno), nodeError.syscall ?? syscall, path, detail);
    }
    return new HostSyscallError(EIO, syscall, path, String((error as Error)?.message ?? error));
  }
}

const EIO = 5;

/** "ENOENT" for 2 and so on; "E<n>" when the platform has no name for it. */
export function errnoName(errno: number): string {
  try {
    return getSystemErrorName(-Math.abs(errno));
  } catch {
    return `E${errno}`;
  }
}

/**
 * A path for messages: valid UTF-8 is shown as text, every other byte and every control
 * character as \xHH, so a name with a newline or a 0xff byte still prints on one line.
 */
export function displayPath(path: Buffer): string {
  let text = '';
  let i = 0;
  while (i < path.length) {
    const width = utf8SequenceLength(path, i);
    if (width === 0) {
      text += `\\x${path[i].toString(16).padStart(2, '0')}`;
      i += 1;
      continue;
    }
    const piece = path.toString('utf8', i, i + width);
    text += width === 1 && (path[i] < 0x20 || path[i] === 0x7f || path[i] === 0x5c) ? `\\x${path[i].toString(16).padStart(2, '0')}` : piece;
    i += width;
  }
  return text;
}

/** Length of the well-formed UTF-8 sequence starting at `at`, or 0 when it is not one. */
function utf8SequenceLength(bytes: Buffer, at: number): number {
  const first = bytes[at];
  if (first < 0x80) return 1;
  let width: number;
  let min: number;
  if (first >= 0xc2 && first <= 0xdf) [width, min] = [2, 0x80];
  else if (first >= 0xe0 && first <= 0xef) [width, min] = [3, 0x800];
  else if (first >= 0xf0 && first <= 0xf4) [width, min] = [4, 0x10000];
  else return 0;
  if (at + width > bytes.length) return 0;
  let codePoint = first & (0xff >> (width + 1));
  for (let k = 1; k < width; k++) {
    const next = bytes[at + k];
    if ((next & 0xc0) !== 0x80) return 0;
    codePoint = (codePoint << 6) | (next & 0x3f);
  }
  if (codePoint < min || codePoint > 0x10ffff || (codePoint >= 0xd800 && codePoint <= 0xdfff)) return 0;
  return width;
}
