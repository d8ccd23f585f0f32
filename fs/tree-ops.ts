// Operations over paths that coreutils users expect: rm -r of a tree (children first, each
// removal its own transaction) and mv into an existing directory.
import { ImagePathError, InterruptedError } from '../format/errors.js';
import type { FsWriter } from './ops.js';
import { S_IFDIR } from './reader.js';
import { S_IFMT } from './entry.js';

export function removeTree(w: FsWriter, path: string, recursive: boolean, signal?: AbortSignal): void {
  const top = w.reader.lookup(path);
  if ((top.inode.mode & S_IFMT) !== S_IFDIR) {
    w.remove(path, 'file');
    return;
  }
  if (!recursive) throw new ImagePathError(path, 'EISDIR', `${path}: Is a directory (use -r)`);
  if (top.inum === 1) throw new ImagePathError(path, 'EINVAL', 'refusing to remove the root directory');
  // Post-order with an explicit stack: a directory is removed after everything inside it.
  const base = path.replace(/\/+$/, '');
  const stack: Array<{ path: Buffer; inum: number; expanded: boolean }> = [{ path: Buffer.from(base), inum: top.inum, expanded: false }];
  while (stack.length) {
    if (signal?.aborted) throw new InterruptedError('rm interrupted; everything removed before is gone, the rest is intact');
    const frame = stack[stack.length - 1]!;
    if (!frame.expanded) {
      frame.expanded = true;
      for (const d of w.reader.readdir(frame.inum)) {
        const child = Buffer.concat([frame.path, Buffer.from('/'), d.name]);
        const ino = w.reader.inode(d.target);
        if (ino && (ino.mode & S_IFMT) === S_IFDIR) stack.push({ path: child, inum: d.target, expanded: false });
        else w.remove(child, 'file');
      }
      continue;
    }
    stack.pop();
    w.remove(frame.path, 'dir');
  }
}

/** mv semantics: moving onto an existing directory puts the source inside it. */
export function moveInto(w: FsWriter, from: string, to: string): void {
  let target = to;
  try {
    const dst = w.reader.lookup(to);
    if ((dst.inode.mode & S_IFMT) === S_IFDIR) {
      const name = from.replace(/\/+$/, '').split('/').pop()!;
      target = `${to.replace(/\/+$/, '')}/${name}`;
    }
  } catch (err) {
    if (!(err instanceof ImagePathError)) throw err;
  }
  w.rename(from, target);
}
