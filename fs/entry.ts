// The one shape every import source (directory walk, tar archive) produces and every export
// sink (dump extract, dump tar) consumes. Names are raw bytes: Linux names need not be UTF-8.

/** A point in time as stored on disk: whole seconds since the epoch plus nanoseconds. */
export interface Timespec {
  /** seconds since 1970-01-01T00:00:00Z; negative before it; |sec| < 2^53 */
  sec: number;
  /** nanoseconds, 0..999,999,999 */
  nsec: number;
}

export type EntryKind = 'file' | 'dir' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo' | 'socket';

/** One extended attribute: full name with namespace prefix ("user.x", "security.selinux"). */
export interface Xattr {
  name: Buffer;
  value: Buffer;
}

export interface SourceEntry {
  /** path relative to the source root, '/'-separated, no leading '/' or './'; '' is the root itself */
  path: Buffer;
  kind: EntryKind;
  /** permission and special bits only (mode & 0o7777); the file type is `kind` */
  perm: number;
  uid: number;
  gid: number;
  /** byte length of the content for 'file', 0 otherwise */
  size: number;
  atime: Timespec;
  mtime: Timespec;
  ctime: Timespec;
  /** symlink target ('symlink') or the path of the earlier entry this one links to ('hardlink') */
  linkTarget?: Buffer;
  /** device numbers for 'char' and 'block' */
  rdevMajor?: number;
  rdevMinor?: number;
  xattrs: Xattr[];
}

export const S_IFMT = 0o170000;
export const KIND_TO_IFMT: Record<Exclude<EntryKind, 'hardlink'>, number> = {
  file: 0o100000,
  dir: 0o040000,
  symlink: 0o120000,
  char: 0o020000,
  block: 0o060000,
  fifo: 0o010000,
  socket: 0o140000,
};

export function kindFromMode(mode: number): Exclude<EntryKind, 'hardlink'> | undefined {
  const ifmt = mode & S_IFMT;
  for (const [kind, bits] of Object.entries(KIND_TO_IFMT)) if (bits === ifmt) return kind as Exclude<EntryKind, 'hardlink'>;
  return undefined;
}
