// Error classes with stable codes. Every error that can reach a user is one of these; the CLI
// maps `exitCode` to the process exit status (fsck(8) convention) and prints `message` as one
// line. Anything else is a bug and is printed as such (with the stack only when STRATA_DEBUG=1).

export const EXIT = {
  OK: 0,
  FIXED: 1,
  UNCORRECTED: 4,
  OPERATIONAL: 8,
  USAGE: 16,
  INTERRUPTED: 32,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** Where in an image something happened. Every field is optional; print what is known. */
export interface Where {
  /** member file path, or "member N" when the path is unknown */
  member?: string;
  /** byte offset in the member */
  offset?: number;
  /** structure path, e.g. "superblock copy 1", "btree extents node level 0" */
  structure?: string;
}

export function formatWhere(where: Where): string {
  const parts: string[] = [];
  if (where.member !== undefined) parts.push(where.member);
  if (where.offset !== undefined) parts.push(`offset ${where.offset}`);
  if (where.structure !== undefined) parts.push(where.structure);
  return parts.join(', ');
}

export class StrataError extends Error {
  readonly code: string;
  readonly exitCode: ExitCode;
  /** a next step worth suggesting, e.g. "run strata fsck -y" */
  readonly hint?: string;
  constructor(code: string, message: string, exitCode: ExitCode, hint?: string) {
    super(message);
    this.name = new.target.name;
    this.code = code;
    this.exitCode = exitCode;
    this.hint = hint;
  }
}

/** The image's bytes are wrong: bad magic, checksum, bounds, or meaning. */
export class CorruptImageError extends StrataError {
  readonly where: Where;
  constructor(what: string, where: Where, hint?: string) {
    const at = formatWhere(where);
    super('CORRUPT', at ? `${at}: ${what}` : what, EXIT.OPERATIONAL, hint);
    this.where = where;
  }
}

/** Bad command line: unknown flag, bad value, wrong argument count. */
export class UsageError extends StrataError {
  constructor(message: string, hint?: string) {
    super('USAGE', message, EXIT.USAGE, hint);
  }
}

/** The operation cannot run: missing file, I/O error, no space, unsupported feature. */
export class OperationalError extends StrataError {
  constructor(code: string, message: string, hint?: string) {
    super(code, message, EXIT.OPERATIONAL, hint);
  }
}

/** A path inside an image does not name what the operation needs (coreutils-style messages). */
export class ImagePathError extends StrataError {
  readonly path: string;
  constructor(path: string, reason: 'ENOENT' | 'ENOTDIR' | 'EISDIR' | 'EEXIST' | 'ENOTEMPTY' | 'EINVAL' | 'ELOOP', detail?: string) {
    const text: Record<typeof reason, string> = {
      ENOENT: 'No such file or directory',
      ENOTDIR: 'Not a directory',
      EISDIR: 'Is a directory',
      EEXIST: 'File exists',
      ENOTEMPTY: 'Directory not empty',
      EINVAL: 'Invalid argument',
      ELOOP: 'Too many levels of symbolic links',
    };
    super(reason, `${path}: ${detail ?? text[reason]}`, EXIT.OPERATIONAL);
    this.path = path;
  }
}

/** The user interrupted (SIGINT/SIGTERM); the image was left as it was before the operation. */
export class InterruptedError extends StrataError {
  constructor(message = 'interrupted') {
    super('INTERRUPTED', message, EXIT.INTERRUPTED);
  }
}
