// strata dump: superblocks, usage, btrees, journal, and files (ls, stat, cat, extents,
// extract, tar). Reads leniently: a damaged copy is reported on stderr and another is used.
import type { Command } from 'commander';
import type { Act, CommandSpec, RunContext } from '../cli/command.js';
import { formatBytes } from '../cli/output.js';
import type { Image } from '../format/image.js';
import type { FsReader } from '../fs/reader.js';
import { withVolume } from './common.js';

async function withImage(ctx: RunContext, spec: string, fn: (img: Image, reader: FsReader) => Promise<number> | number): Promise<number> {
  return withVolume(ctx, spec, (vol, reader) => fn(vol.img, reader));
}

function sub(parent: Command, act: Act, name: string, args: string[], description: string, handler: (ctx: RunContext, argv: string[], flags: Record<string, unknown>) => Promise<number>, extra?: (c: Command) => void): void {
  const c = parent.command(name).description(description);
  for (const a of args) c.argument(a);
  // cat and tar write file bytes to stdout: there is no report to put in JSON.
  if (name !== 'cat' && name !== 'tar') c.option('--json', 'print one JSON document');
  extra?.(c);
  c.action((...params: unknown[]) => {
    const flags = params[params.length - 2] as Record<string, unknown>;
    const argv = params.slice(0, params.length - 2).map((v) => (v === undefined ? undefined : String(v))) as string[];
    return act(Boolean(flags.json), (ctx) => handler(ctx, argv, flags));
  });
}

const pad = (s: string | number, n: number) => String(s).padStart(n);

export const dumpCommand: CommandSpec = {
  name: 'dump',
  summary: 'show superblocks, usage, btrees, journal and files of an image',
  examples: [
    'strata dump super disk.img',
    'strata dump usage disk.img',
    'strata dump btree disk.img extents',
    'strata dump journal disk.img',
    'strata dump ls -R disk.img /',
    'strata dump stat disk.img /etc/hostname',
    'strata dump cat disk.img /etc/hostname',
    'strata dump extents disk.img /var/log/big.log',
    'strata dump extract disk.img / ./out',
    'strata dump tar disk.img | tar -x -C ./out',
  ],
  configure(cmd, act) {
    sub(cmd, act, 'super', ['<image>'], 'superblock, members and btree roots', (ctx, [image]) => withImage(ctx, image!, async (img) => {
      const { superInfo } = await import('../fs/inspect.js');
      const s = superInfo(img);
      if (ctx.out.json) {
        ctx.out.document({ ...s, formatVersion: s.version, version: 1, command: 'dump super' });
        return 0;
      }
      const rows: Array<[string, string | number]> = [
        ['uuid', s.uuid], ['label', s.label || '(none)'], ['format version', s.version], ['features', s.features.join(' ') || '(none)'],
        ['checkpoint seq', s.seq], ['journal seq', s.journalSeq], ['created', new Date(s.created * 1000).toISOString()], ['clean', s.clean ? 'yes' : 'no'],
        ['block size', s.blockSize], ['bucket size', formatBytes(s.bucketSize)], ['node size', formatBytes(s.nodeSize)],
        ['data checksum', s.dataChecksum!], ['metadata checksum', s.metadataChecksum!], ['compression', s.compression],
        ['data replicas', s.dataReplicas], ['metadata replicas', s.metadataReplicas], ['erasure coding', s.erasureCoding ?? 'off'], ['next inode', s.nextInode],
      ];
      for (const [k, v] of rows) ctx.out.line(`${k.padEnd(20)}${v}`);
      ctx.out.line('');
      ctx.out.line('members:');
      for (const m of s.members) {
        ctx.out.line(`  ${pad(m.index, 2)}  ${m.uuid}  ${formatBytes(m.size).padStart(10)}  ${pad(m.buckets, 8)} buckets  journal ${m.journal.firstBucket}+${m.journal.buckets}  ${m.present ? m.path : '(missing)'}`);
        for (const c of m.superblocks) ctx.out.line(`        superblock copy ${c.copy} at ${c.offset}: ${c.valid ? `valid, seq ${c.seq}` : `INVALID: ${c.error}`}`);
      }
      ctx.out.line('');
      ctx.out.line('btree roots:');
      for (const r of s.roots) ctx.out.line(`  ${r.btree!.padEnd(8)} level ${r.level}  seq ${r.seq}  checksum ${r.checksum}  ${r.pointers.map((p) => `m${p.member}@${p.offset}`).join(' ')}`);
      return 0;
    }));

    sub(cmd, act, 'usage', ['<image>'], 'space used per member and bucket type', (ctx, [image]) => withImage(ctx, image!, async (img) => {
      const { usageInfo } = await import('../fs/inspect.js');
      const u = usageInfo(img);
      if (ctx.out.json) {
        ctx.out.document({ version: 1, command: 'dump usage', ...u });
        return 0;
      }
      for (const m of u.members) {
        ctx.out.line(`member ${m.index} (${m.path}): ${formatBytes(m.size)}, ${m.buckets} buckets of ${formatBytes(m.bucketSize)}, ${m.freeBuckets} free`);
        ctx.out.line(`  ${'type'.padEnd(12)}${'buckets'.padStart(10)}${'used'.padStart(14)}`);
        for (const [t, r] of Object.entries(m.byType)) ctx.out.line(`  ${t.padEnd(12)}${pad(r.buckets, 10)}${formatBytes(r.usedBytes).padStart(14)}`);
      }
      const f = u.files;
      ctx.out.line('');
      ctx.out.line(`total: ${formatBytes(u.totals.size)}, used ${formatBytes(u.totals.usedBytes)}, free ${formatBytes(u.totals.freeBytes)}`);
      ctx.out.line(`files: ${f.inodes} inodes, ${formatBytes(f.logicalBytes)} of file data: ${formatBytes(f.inlineBytes)} inline, ${formatBytes(f.extentBytes)} in ${f.extents} extents (${f.compressedExtents} compressed) stored in ${formatBytes(f.storedBytes)} with replicas`);
      const r = u.reflink;
      if (r.indirectExtents) ctx.out.line(`shared: ${formatBytes(r.sharedBytes)} in ${r.indirectExtents} shared extents, ${r.references} references; sharing saves ${formatBytes(r.savedBytes)}`);
      return 0;
    }));

    sub(cmd, act, 'btree', ['<image>', '[btree-name]'], 'nodes and keys of one btree (default: all)', (ctx, [image, name]) => withImage(ctx, image!, async (img) => {
      const { btreeNodes, btreeId } = await import('../fs/inspect.js');
      const { BTREE_NAMES } = await import('../format/layout.js');
      const ids = name ? [btreeId(name)] : BTREE_NAMES.map((_, i) => i);
      const nodes = [];
      for (const id of ids) {
        for (const n of btreeNodes(img, id)) {
          if (ctx.out.json) {
            nodes.push(n);
            continue;
          }
          ctx.out.line(`${'  '.repeat(n.depth)}node ${n.btree} level ${n.level} ${n.min}..${n.max} seq ${n.seq} keys ${n.keys} used ${n.usedBytes} checksum ${n.checksum}`);
          for (const it of n.items) ctx.out.line(`${'  '.repeat(n.depth)}  ${it.pos} ${it.type} ${it.problem ? `BAD: ${it.problem}` : it.text}`);
        }
      }
      if (ctx.out.json) ctx.out.document({ version: 1, command: 'dump btree', nodes });
      return 0;
    }));

    sub(cmd, act, 'journal', ['<image>'], 'journal entries not yet checkpointed', (ctx, [image]) => withVolume(ctx, image!, async (vol) => {
      const { KEY_TYPE_NAMES, BTREE_NAMES } = await import('../format/layout.js');
      const { posToText } = await import('../format/keys.js');
      const r = vol.replay;
      const entries = r.scans.flatMap((s) => s.entries.map((e) => ({ member: s.member, position: e.position, seq: e.seq, length: e.length, replayed: e.seq >= r.fromSeq && e.seq < r.fromSeq + r.replayed, items: e.items.map((it) => ({ btree: BTREE_NAMES[it.btreeId], pos: posToText(it.key), type: KEY_TYPE_NAMES[it.key.type] })) })));
      const invalid = r.scans.flatMap((s) => s.invalid.map((i) => ({ member: s.member, ...i })));
      if (ctx.out.json) {
        ctx.out.document({ version: 1, command: 'dump journal', journalSeq: r.fromSeq, replayed: r.replayed, ignoredAfterGap: r.ignoredAfterGap, entries, invalid });
        return 0;
      }
      ctx.out.line(`journal replay starts at seq ${r.fromSeq}: ${r.replayed} entries replayed${r.ignoredAfterGap ? `, ${r.ignoredAfterGap} after a gap ignored` : ''}`);
      for (const e of entries) {
        ctx.out.line(`member ${e.member} +${e.position}: seq ${e.seq} ${e.length} bytes, ${e.items.length} keys, checksum ok${e.replayed ? '' : ' (not replayed: older than the checkpoint or after a gap)'}`);
        for (const it of e.items) ctx.out.line(`    ${it.btree} ${it.pos} ${it.type}`);
      }
      for (const i of invalid) ctx.out.line(`member ${i.member} +${i.position}: invalid entry: ${i.error}`);
      return 0;
    }));

    sub(cmd, act, 'ls', ['<image>', '[path]'], 'list a directory', (ctx, [image, path], flags) => withImage(ctx, image!, async (_img, reader) => {
      const { listTree } = await import('../fs/inspect.js');
      const rows = [];
      for (const r of listTree(reader, path ?? '/', Boolean(flags.recursive))) {
        if (ctx.out.json) rows.push(r);
        else ctx.out.line(`${r.mode} ${pad(r.nlink, 3)} ${pad(r.uid, 5)} ${pad(r.gid, 5)} ${pad(r.size, 12)} ${r.mtime} ${r.path}${r.target !== undefined ? ` -> ${r.target}` : ''}`);
      }
      if (ctx.out.json) ctx.out.document({ version: 1, command: 'dump ls', entries: rows });
      return 0;
    }), (c) => c.option('-R, --recursive', 'list subdirectories too'));

    sub(cmd, act, 'stat', ['<image>', '<path>'], 'inode of a path', (ctx, [image, path]) => withImage(ctx, image!, async (_img, reader) => {
      const { statInfo } = await import('../fs/inspect.js');
      const s = statInfo(reader, path!);
      if (ctx.out.json) {
        ctx.out.document({ version: 1, command: 'dump stat', ...s });
        return 0;
      }
      for (const [k, v] of Object.entries(s)) {
        if (k === 'xattrs') for (const x of s.xattrs) ctx.out.line(`${'xattr'.padEnd(10)}${x.name} (${x.size} bytes)`);
        else if (v !== null) ctx.out.line(`${k.padEnd(10)}${typeof v === 'object' ? JSON.stringify(v) : v}`);
      }
      return 0;
    }));

    sub(cmd, act, 'cat', ['<image>', '<path>'], 'write a file\'s content to stdout', (ctx, [image, path]) => withImage(ctx, image!, async (_img, reader) => {
      const { ImagePathError } = await import('../format/errors.js');
      const { inum, inode } = reader.lookup(path!);
      if ((inode.mode & 0o170000) === 0o040000) throw new ImagePathError(path!, 'EISDIR');
      for (const p of reader.pieces(inum, inode.size, path!)) {
        if ('data' in p) await ctx.out.bytes(p.data);
        else for (let left = p.hole; left > 0; left -= 1 << 20) await ctx.out.bytes(Buffer.alloc(Math.min(left, 1 << 20)));
      }
      return 0;
    }));

    sub(cmd, act, 'extents', ['<image>', '<path>'], 'how a file maps onto members', (ctx, [image, path]) => withImage(ctx, image!, async (_img, reader) => {
      const { extentRows } = await import('../fs/inspect.js');
      const rows = extentRows(reader, path!);
      if (ctx.out.json) {
        ctx.out.document({ version: 1, command: 'dump extents', path, extents: rows });
        return 0;
      }
      ctx.out.line(`${'start'.padStart(12)} ${'end'.padStart(12)} ${'length'.padStart(10)}  kind     detail`);
      for (const r of rows) {
        const detail = 'pointers' in r ? `${r.compression} stored ${r.storedSize} ${r.checksum} ${(r.pointers as Array<{ member: number; offset: number }>).map((p) => `m${p.member}@${p.offset}`).join(' ')}` : 'reflinkIndex' in r ? `shared, reflink ${r.reflinkIndex}` : '';
        ctx.out.line(`${pad(r.start, 12)} ${pad(r.end, 12)} ${pad(r.length, 10)}  ${r.kind.padEnd(8)} ${detail}`);
      }
      return 0;
    }));

    sub(cmd, act, 'extract', ['<image>', '<path>', '<host-dest>'], 'copy a file or directory tree out of the image', (ctx, [image, path, dest]) => withImage(ctx, image!, async (_img, reader) => {
      const { extract } = await import('../fs/export.js');
      const r = await extract(reader, path!, dest!, {
        signal: ctx.signal,
        onWarning: (m) => ctx.out.warn(m),
        onProgress: (files, bytes) => ctx.out.progress('extract', bytes, undefined, 'bytes'),
      });
      if (ctx.signal.aborted) return 32;
      if (ctx.out.json) ctx.out.document({ version: 1, command: 'dump extract', ...r });
      else ctx.out.line(`extracted ${r.files} files and ${r.directories} directories (${formatBytes(r.bytes)}) to ${dest}${r.skipped ? `; ${r.skipped} entries skipped` : ''}${r.lost.length ? `; ${r.lost.length} files lost: ${r.lost.join(' ')}` : ''}`);
      return r.lost.length ? 4 : 0;
    }));

    sub(cmd, act, 'tar', ['<image>', '[path]'], 'write a tar archive of a tree to stdout', (ctx, [image, path]) => withImage(ctx, image!, async (_img, reader) => {
      const { writeTar } = await import('../fs/export.js');
      if (process.stdout.isTTY) throw new (await import('../format/errors.js')).UsageError('refusing to write a tar archive to a terminal', 'redirect stdout to a file or a pipe');
      await writeTar(reader, path ?? '/', (chunk) => ctx.out.bytes(chunk), { signal: ctx.signal, onWarning: (m) => ctx.out.warn(m) });
      return ctx.signal.aborted ? 32 : 0;
    }));
  },
};
