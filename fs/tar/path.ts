// Archive path rules shared by the reader (hostile input) and the writer (our own output).
// A name that passes `normalizeArchivePath` can be joined under an extraction root without
// escaping it: it is relative, has no '..' component and no NUL, and fits Linux's limits.

/** Longest accepted name as written in the archive, in bytes (Linux PATH_MAX). */
export const MAX_PATH_BYTES = 4096;
/** Longest accepted single component, in bytes (Linux NAME_MAX). */
export const MAX_COMPONENT_BYTES = 255;

export type PathProblem =
  | 'empty-name'
  | 'absolute-path'
  | 'dotdot'
  | 'nul-in-name'
  | 'empty-component'
  | 'name-too-long'
  | 'component-too-long';

/** Raised by the path rules; the reader re-raises it as a TarArchiveError naming the entry. */
export class ArchivePathError extends Error {
  constructor(
    readonly problem: PathProblem,
    readonly detail: string,
  ) {
    super(detail);
  }
}

const SLASH = 0x2f;
const DOT = 0x2e;

/**
 * Normalises a name as written in an archive to the SourceEntry form: relative, '/'-separated,
 * no './' and no trailing '/'; '' is the root ('.', './'). Accepted normalisations: leading
 * and interior '.' components and one trailing '/'. Everything else that is odd is refused
 * rather than repaired: an empty component ('a//b') is as likely to be an attack on a naive
 * joiner as a harmless typo, and tar itself never writes one.
 */
export function normalizeArchivePath(raw: Buffer): { path: Buffer; trailingSlash: boolean } {
  if (raw.length === 0) throw new ArchivePathError('empty-name', 'name is empty');
  if (raw.length > MAX_PATH_BYTES) {
    throw new ArchivePathError('name-too-long', `name is ${raw.length} bytes, longer than ${MAX_PATH_BYTES}`);
  }
  if (raw.includes(0)) throw new ArchivePathError('nul-in-name', 'name contains a NUL byte');
  if (raw[0] === SLASH) throw new ArchivePathError('absolute-path', 'name is an absolute path');

  const components: Buffer[] = [];
  let trailingSlash = false;
  let start = 0;
  while (start <= raw.length) {
    let end = raw.indexOf(SLASH, start);
    if (end === -1) end = raw.length;
    const component = raw.subarray(start, end);
    const isLast = end === raw.length;
    if (component.length === 0) {
      // Only the single empty component after a final '/' is normal ("dir/").
      if (isLast && start > 0) trailingSlash = true;
      else throw new ArchivePathError('empty-component', 'name has an empty component (\'//\')');
    } else if (component.length === 1 && component[0] === DOT) {
      // "./a", "a/./b", "a/." all mean the same place without the '.'.
    } else if (component.length === 2 && component[0] === DOT && component[1] === DOT) {
      throw new ArchivePathError('dotdot', "name has a '..' component");
    } else if (component.length > MAX_COMPONENT_BYTES) {
      throw new ArchivePathError(
        'component-too-long',
        `name has a ${component.length}-byte component, longer than ${MAX_COMPONENT_BYTES}`,
      );
    } else {
      components.push(component);
    }
    start = end + 1;
  }
  const parts: Buffer[] = [];
  for (const [index, component] of components.entries()) {
    if (index > 0) parts.push(Buffer.of(SLASH));
    parts.push(component);
  }
  // Buffer.concat always copies, so the result never pins the (larger) header or source chunk.
  return { path: Buffer.concat(parts), trailingSlash };
}

/** True when `path` is already in SourceEntry form (what the writer requires of its input). */
export function isNormalizedPath(path: Buffer): boolean {
  if (path.length === 0) return true;
  try {
    const { path: normalized, trailingSlash } = normalizeArchivePath(path);
    return !trailingSlash && normalized.equals(path);
  } catch {
    return false;
  }
}
