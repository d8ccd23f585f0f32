// Sources for mkfs --from: a host directory or a tar archive (plain, gzip or zstd). Both feed
// the same ImageBuilder in a deterministic order; the tar path streams, so an archive larger
// than memory is fine.
import fs from 'node:fs';
import { InterruptedError, OperationalError } from '../format/errors.js';
import { openHost } from '../host/index.js';
import type { ImageBuilder, MkfsHooks } from './mkfs.js';
import { sourceError, walkDirectory } from './source-dir.js';
import { readTar } from './tar/reader.js';
import { openArchiveStream } from './tar/decompress.js';

/** Open a source file without moving its atime (allowed for its owner and for root). */
function openNoAtime(p: Buffer): number {
  try {
    return fs.openSync(p, fs.constants.O_RDONLY | fs.constants.O_NOATIME);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') throw err;
    return fs.openSync(p, fs.constants.O_RDONLY);
  }
}

/** Give signal handlers and progress output a chance to run during long synchronous work. */
const breathe = () => new Promise<void>((resolve) => setImmediate(resolve));

export async function populateFromDirectory(builder: ImageBuilder, root: string, hooks: MkfsHooks): Promise<void> {
  const walked = walkDirectory(root);
  const total = walked.reduce((n, w) => n + w.entry.size, 0);
  hooks.onProgress?.({ phase: 'scan', files: walked.length, bytes: 0, bytesTotal: total });
  const host = await openHost();
  try {
    const caps = await host.probe();
    if (caps.xattrs) {
      const results = await host.readXattrs(walked.map((w) => w.hostPath));
      results.forEach((r, i) => {
        if (r instanceof Error) {
          const code = (r as NodeJS.ErrnoException).code;
          if (code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') hooks.onWarning?.(`xattrs of ${walked[i]!.hostPath.toString()} not read: ${r.message}`);
        } else walked[i]!.entry.xattrs = r;
      });
    } else {
      hooks.onWarning?.(`extended attributes are not captured: ${caps.reason ?? 'no xattr support on this host'}`);
    }
  } finally {
    await host.close();
  }

  builder.addRoot(walked[0]!.entry);
  // Only files whose size occurs more than once can have a twin worth hashing.
  const sizeCount = new Map<number, number>();
  for (const w of walked) if (w.entry.kind === 'file') sizeCount.set(w.entry.size, (sizeCount.get(w.entry.size) ?? 0) + 1);
  let bytes = 0;
  for (let i = 1; i < walked.length; i++) {
    if (hooks.signal?.aborted) throw new InterruptedError('mkfs interrupted; no image was written');
    const w = walked[i]!;
    const { inum, needsContent } = builder.addEntry(w.entry, w.linkId);
    if (needsContent) {
      if (w.entry.kind === 'symlink') {
        await builder.writeContent(inum, w.entry.linkTarget!.length, { kind: 'bytes', bytes: w.entry.linkTarget! });
      } else {
        let fd: number;
        try {
          fd = openNoAtime(w.hostPath);
        } catch (err) {
          throw sourceError(w.hostPath, err, 'cannot read source file');
        }
        try {
          bytes += await builder.writeFileContent(inum, w.entry.size, { kind: 'fd', fd, hostPath: w.hostPath }, (sizeCount.get(w.entry.size) ?? 0) > 1);
        } finally {
          fs.closeSync(fd);
        }
      }
    }
    // Output rate-limits what it shows, so reporting every file is cheap.
    hooks.onProgress?.({ phase: 'data', files: i, filesTotal: walked.length, bytes, bytesTotal: total });
    if ((i & 255) === 0) await breathe();
  }
  hooks.onProgress?.({ phase: 'data', files: walked.length, filesTotal: walked.length, bytes, bytesTotal: total });
}

export async function populateFromTar(builder: ImageBuilder, archive: string, hooks: MkfsHooks): Promise<void> {
  let archiveSize = 0;
  try {
    archiveSize = fs.statSync(archive).size;
  } catch (err) {
    throw new OperationalError('ENOENT', `${archive}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'No such file or directory' : (err as Error).message}`);
  }
  builder.addRoot(undefined);
  const stream = await openArchiveStream(archive);
  let files = 0;
  let bytes = 0;
  for await (const member of readTar(stream, { archiveName: archive })) {
    if (hooks.signal?.aborted) throw new InterruptedError('mkfs interrupted; no image was written');
    const { entry } = member;
    const { inum, needsContent } = builder.addEntry(entry);
    if (needsContent) {
      if (entry.kind === 'symlink') await builder.writeContent(inum, entry.linkTarget!.length, { kind: 'bytes', bytes: entry.linkTarget! });
      else if (member.content) bytes += await builder.writeFileContent(inum, entry.size, { kind: 'stream', chunks: member.content }, true);
    }
    if ((++files & 255) === 0) hooks.onProgress?.({ phase: 'data', files, bytes, bytesTotal: archiveSize });
  }
}
