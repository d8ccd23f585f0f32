// `strata put`: copy host files and trees into an image, following `cp -r` naming: when the
// destination is an existing directory the sources go inside it under their own names,
// otherwise the one source becomes the destination. Metadata comes along as with mkfs --from
// (mode, owner, nanosecond times, xattrs, hardlinks, special files). Every file is one
// transaction, acknowledged when its journal entry is durable.
import fs from 'node:fs';
import path from 'node:path';
import { ImagePathError, InterruptedError, UsageError } from '../format/errors.js';
import { openHost } from '../host/index.js';
import type { FsWriter } from './ops.js';
import { sourceError, statToEntry, walkDirectory, type WalkedEntry } from './source-dir.js';
import { S_IFDIR } from './reader.js';
import { S_IFMT } from './entry.js';

export interface PutHooks {
  signal?: AbortSignal;
  onWarning?: (m: string) => void;
  onProgress?: (files: number, bytes: number) => void;
}

function* readChunks(fd: number, hostPath: Buffer, expected: number): Generator<Buffer> {
  // Sized to the file (plus one byte to see growth), so small files cost small buffers.
  const size = Math.min(1 << 20, expected + 1);
  for (let position = 0; ;) {
    const buf = Buffer.allocUnsafe(size);
    let n: number;
    try {
      n = fs.readSync(fd, buf, 0, size, position);
    } catch (err) {
      throw sourceError(hostPath, err, 'cannot read');
    }
    if (n === 0) return;
    position += n;
    yield buf.subarray(0, n);
  }
}

function walkSource(source: string): WalkedEntry[] {
  let st: fs.BigIntStats;
  try {
    st = fs.lstatSync(source, { bigint: true });
  } catch (err) {
    throw sourceError(Buffer.from(source), err, 'cannot stat');
  }
  if (st.isDirectory()) return walkDirectory(source);
  const host = Buffer.from(source);
  const entry = statToEntry(Buffer.alloc(0), st, host);
  if (entry.kind === 'symlink') entry.linkTarget = fs.readlinkSync(host, { encoding: 'buffer' });
  return [{ entry, hostPath: host }];
}

export async function putPaths(w: FsWriter, sources: string[], dest: string, hooks: PutHooks = {}): Promise<{ files: number; bytes: number }> {
  // Group commit: a put of many small files costs a few journal flushes, not two per file.
  return w.vol.batch(() => putPathsBatched(w, sources, dest, hooks));
}

async function putPathsBatched(w: FsWriter, sources: string[], dest: string, hooks: PutHooks): Promise<{ files: number; bytes: number }> {
  let destIsDir = false;
  try {
    destIsDir = (w.reader.lookup(dest).inode.mode & S_IFMT) === S_IFDIR;
  } catch (err) {
    if (!(err instanceof ImagePathError)) throw err;
  }
  if (!destIsDir && sources.length > 1) throw new UsageError(`target '${dest}' is not a directory`);
  const host = await openHost();
  let files = 0;
  let bytes = 0;
  try {
    for (const source of sources) {
      const target = destIsDir ? `${dest.replace(/\/+$/, '')}/${path.basename(source)}` : dest;
      const walked = walkSource(source);
      const caps = await host.probe();
      if (caps.xattrs) {
        const xs = await host.readXattrs(walked.map((x) => x.hostPath));
        xs.forEach((r, i) => {
          if (!(r instanceof Error)) walked[i]!.entry.xattrs = r;
        });
      }
      const links = new Map<string, string>();
      const dirs: Array<{ imagePath: Buffer; entry: WalkedEntry['entry'] }> = [];
      for (const wk of walked) {
        if (hooks.signal?.aborted) throw new InterruptedError('put interrupted; every file acknowledged before is in the image');
        const e = wk.entry;
        const imagePath = e.path.length ? Buffer.concat([Buffer.from(target), Buffer.from('/'), e.path]) : Buffer.from(target);
        const meta = { perm: e.perm, uid: e.uid, gid: e.gid, atime: e.atime, mtime: e.mtime, ctime: e.ctime, xattrs: e.xattrs, rdevMajor: e.rdevMajor, rdevMinor: e.rdevMinor };
        if (e.kind === 'dir') {
          if (!(e.path.length === 0 && w.exists(imagePath))) await w.create(imagePath, { kind: 'dir', ...meta });
          dirs.push({ imagePath, entry: e });
          continue;
        }
        if (wk.linkId && links.has(wk.linkId)) {
          w.link(links.get(wk.linkId)!, imagePath);
          continue;
        }
        if (e.kind === 'file') {
          let fd: number;
          try {
            fd = fs.openSync(wk.hostPath, 'r');
          } catch (err) {
            throw sourceError(wk.hostPath, err, 'cannot read source file');
          }
          try {
            await w.create(imagePath, { kind: 'file', ...meta }, readChunks(fd, wk.hostPath, e.size), `put ${imagePath.toString()}`);
          } finally {
            fs.closeSync(fd);
          }
          files++;
          bytes += e.size;
          hooks.onProgress?.(files, bytes);
        } else if (e.kind === 'symlink') {
          await w.create(imagePath, { kind: 'symlink', ...meta }, e.linkTarget!);
        } else if (e.kind !== 'hardlink') {
          await w.create(imagePath, { kind: e.kind, ...meta });
        }
        if (wk.linkId) links.set(wk.linkId, imagePath.toString('latin1'));
      }
      // Creating entries moved the directories' times: put them back, deepest first.
      for (let i = dirs.length - 1; i >= 0; i--) {
        const d = dirs[i]!;
        w.setattr(d.imagePath, { atime: d.entry.atime, mtime: d.entry.mtime });
      }
    }
  } finally {
    await host.close();
  }
  return { files, bytes };
}
