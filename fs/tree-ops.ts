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

/** cp [-r] [--reflink]: files are copied or shared, directories recreated, symlinks copied. */
export async function copyTree(w: FsWriter, src: string, dst: string, opts: { reflink: boolean; recursive: boolean; signal?: AbortSignal }): Promise<void> {
  const top = w.reader.lookup(src);
  let target = dst;
  try {
    if ((w.reader.lookup(dst).inode.mode & S_IFMT) === S_IFDIR) target = `${dst.replace(/\/+$/, '')}/${src.replace(/\/+$/, '').split('/').pop()}`;
  } catch (err) {
    if (!(err instanceof ImagePathError)) throw err;
  }
  const copyOne = async (from: Buffer, to: Buffer, mode: number, inum: number, size: number) => {
    const kind = mode & S_IFMT;
    if (kind === 0o120000) await w.symlink(w.reader.readAll(inum, size, from.toString()), to, { perm: mode & 0o7777 });
    else if (kind === 0o100000) await (opts.reflink ? w.reflinkCopy(from, to) : w.copyFile(from, to));
    else throw new ImagePathError(from.toString(), 'EINVAL', `${from.toString()}: cannot copy this file type`);
  };
  if ((top.inode.mode & S_IFMT) !== S_IFDIR) {
    await copyOne(Buffer.from(src), Buffer.from(target), top.inode.mode, top.inum, top.inode.size);
    return;
  }
  if (!opts.recursive) throw new ImagePathError(src, 'EISDIR', `${src}: Is a directory (use -r)`);
  const stack: Array<{ from: Buffer; to: Buffer; inum: number; mode: number }> = [{ from: Buffer.from(src.replace(/\/+$/, '')), to: Buffer.from(target), inum: top.inum, mode: top.inode.mode }];
  while (stack.length) {
    if (opts.signal?.aborted) throw new InterruptedError('cp interrupted; what was copied before stays');
    const d = stack.pop()!;
    await w.mkdir(d.to, { perm: d.mode & 0o7777 });
    for (const e of w.reader.readdir(d.inum)) {
      const ino = w.reader.requireInode(e.target, e.name.toString());
      const from = Buffer.concat([d.from, Buffer.from('/'), e.name]);
      const to = Buffer.concat([d.to, Buffer.from('/'), e.name]);
      if ((ino.mode & S_IFMT) === S_IFDIR) stack.push({ from, to, inum: e.target, mode: ino.mode });
      else await copyOne(from, to, ino.mode, e.target, ino.size);
    }
  }
}
