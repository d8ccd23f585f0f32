// What HostSyscalls does without python3: everything Node and coreutils can do, with the
// losses stated. Extended attributes are neither read nor written (the caller learns this from
// `capabilities` and warns once); times go through fs.lutimesSync, which takes a double
// number of seconds and keeps only microseconds; fifos and device nodes come from the
// mkfifo(1) and mknod(1) programs.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as nodePath from 'node:path';
import type { Timespec } from '../fs/entry.js';
import { HostSyscallError } from './errors.js';
import type { TimesWrite } from './protocol.js';

/** An executable's absolute path found on PATH, or undefined. */
export function findExecutable(name: string, searchPath: string | undefined): string | undefined {
  if (name.includes('/')) return isExecutable(name) ? nodePath.resolve(name) : undefined;
  for (const dir of (searchPath ?? '').split(':')) {
    if (dir === '') continue;
    const candidate = nodePath.join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

export function setTimesWithNode(items: readonly TimesWrite[], touch: string | undefined, env: NodeJS.ProcessEnv): Array<Error | null> {
  return items.map((item) => {
    try {
      // fs.lutimes replaces a negative time with "now", so times before 1970 go through
      // touch(1), which takes them exactly; they are rare enough for a process each.
      if (item.atime.sec < 0 || item.mtime.sec < 0) {
        if (touch === undefined) throw new HostSyscallError(22, 'utimensat', item.path, 'time before 1970 needs python3 or touch(1)');
        runTool(touch, (target) => ['-h', '-a', '-d', `@${decimalSeconds(item.atime)}`, '--', target], item.path, 'utimensat', env, false);
        runTool(touch, (target) => ['-h', '-m', '-d', `@${decimalSeconds(item.mtime)}`, '--', target], item.path, 'utimensat', env, false);
        return null;
      }
      fs.lutimesSync(item.path, item.atime.sec + item.atime.nsec / 1e9, item.mtime.sec + item.mtime.nsec / 1e9);
      return null;
    } catch (error) {
      return error instanceof HostSyscallError ? error : HostSyscallError.fromNode(error, 'utimensat', item.path);
    }
  });
}

/** "-1.250000000" for { sec: -2, nsec: 750000000 }: the exact value, as touch -d @ reads it. */
export function decimalSeconds(time: Timespec): string {
  if (time.sec >= 0 || time.nsec === 0) return `${time.sec}.${String(time.nsec).padStart(9, '0')}`;
  return `-${-time.sec - 1}.${String(1e9 - time.nsec).padStart(9, '0')}`;
}

/**
 * Runs a program that creates `path` (mkfifo, mknod) or changes it (touch). Program arguments
 * are strings, so a path that is not valid UTF-8 cannot be passed as one: then a creating
 * program makes an ASCII name reached through the parent directory's descriptor
 * (/dev/fd/3/...), and the result is linked to the real name, which fails with EEXIST like the
 * syscall would.
 */
export function runTool(program: string, argsFor: (target: string) => string[], path: Buffer, syscall: string, env: NodeJS.ProcessEnv, creates: boolean): void {
  const asText = path.toString('utf8');
  if (Buffer.from(asText, 'utf8').equals(path)) {
    checkTool(spawnSync(program, argsFor(asText), { env, stdio: ['ignore', 'ignore', 'pipe'] }), path, syscall);
    return;
  }
  if (!creates) {
    // Giving an existing entry a temporary ASCII name would change its directory's mtime, which
    // is worse than failing this one rare case (no python3, time before 1970, non-UTF-8 name).
    throw new HostSyscallError(22, syscall, path, 'a path that is not UTF-8 needs python3 for this');
  }
  const slash = path.lastIndexOf(0x2f);
  const dir = slash < 0 ? Buffer.from('.') : slash === 0 ? Buffer.from('/') : path.subarray(0, slash);
  const base = path.subarray(slash + 1);
  let dirFd: number;
  try {
    dirFd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  } catch (error) {
    throw HostSyscallError.fromNode(error, syscall, path);
  }
  try {
    const temporary = `.strata-host-${randomBytes(6).toString('hex')}`;
    const temporaryPath = Buffer.concat([dir, Buffer.from(`/${temporary}`)]);
    checkTool(spawnSync(program, argsFor(`/dev/fd/3/${temporary}`), { env, stdio: ['ignore', 'ignore', 'pipe', dirFd] }), path, syscall);
    try {
      fs.linkSync(temporaryPath, Buffer.concat([dir, Buffer.from('/'), base]));
    } catch (error) {
      throw HostSyscallError.fromNode(error, syscall, path);
    } finally {
      fs.unlinkSync(temporaryPath);
    }
  } finally {
    fs.closeSync(dirFd);
  }
}

// coreutils print strerror text; map the common ones back to their errno so callers can test
// `code` the same way whichever implementation ran.
const STRERROR_TO_ERRNO: Array<[string, number]> = [
  ['Operation not permitted', 1],
  ['No such file or directory', 2],
  ['Permission denied', 13],
  ['File exists', 17],
  ['Not a directory', 20],
  ['Is a directory', 21],
  ['Invalid argument', 22],
  ['No space left on device', 28],
  ['Read-only file system', 30],
  ['File name too long', 36],
  ['Too many levels of symbolic links', 40],
];

function checkTool(result: ReturnType<typeof spawnSync>, path: Buffer, syscall: string): void {
  if (result.error) throw HostSyscallError.fromNode(result.error, syscall, path);
  if (result.status === 0) return;
  const stderr = String(result.stderr ?? '').trim();
  const known = STRERROR_TO_ERRNO.find(([text]) => stderr.endsWith(text));
  throw new HostSyscallError(known ? known[1] : 5, syscall, path, known ? known[0] : stderr || `exit status ${result.status}`);
}
