// strata mkfs: create an image, optionally populated from a directory or tar archive.
import { Option } from 'commander';
import type { CommandSpec } from '../cli/command.js';
import { parseCount, parsePowerOfTwo, parseSize, sourceDateEpoch } from '../cli/args.js';
import { formatBytes } from '../cli/output.js';
import { UsageError } from '../format/errors.js';

interface MkfsFlags {
  size?: string; from?: string; replicas?: string; metadataReplicas?: string; ec?: string; compression?: string;
  checksum?: string; blockSize?: string; bucketSize?: string; nodeSize?: string; label?: string; uuid?: string;
  dedupe?: boolean; force?: boolean; json?: boolean;
}

export const mkfsCommand: CommandSpec = {
  name: 'mkfs',
  summary: 'create an image, optionally populated from a directory or tarball',
  examples: ['strata mkfs --from ./rootfs disk.img', 'strata mkfs --size 1G --replicas 2 a.img b.img', 'SOURCE_DATE_EPOCH=0 strata mkfs --uuid 0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9 --compression zstd --from site.tar.zst site.img', 'strata mkfs --ec 4+2 --from ./data d0.img d1.img d2.img d3.img d4.img d5.img'],
  configure(cmd, act) {
    cmd
      .argument('<member...>', 'member files to create')
      .option('--size <n[K|M|G|T]>', 'create or grow each member file to this size (sparse); default: fit the content')
      .option('--from <dir|tarball>', 'populate from a directory or a .tar, .tar.gz, .tar.zst archive')
      .option('--replicas <n>', 'copies of data and metadata on distinct members (default 1)')
      .option('--metadata-replicas <n>', 'copies of metadata only (default: --replicas)')
      .option('--ec <k+m>', 'erasure-code data in stripes of k data and m parity blocks')
      .option('--compression <none|zstd[:level]>', 'compression of file data', 'none')
      .option('--checksum <crc32c|xxhash64|none>', 'checksum of file data', 'crc32c')
      .option('--block-size <n>', 'allocation granularity', '4096')
      .option('--bucket-size <n>', 'allocation unit of member space', '256K')
      .option('--node-size <n>', 'btree node size', '64K')
      .option('--label <text>', 'filesystem label (up to 64 bytes)', '')
      .option('--uuid <uuid>', 'filesystem UUID (with SOURCE_DATE_EPOCH: byte-identical output)')
      .option('--dedupe', 'share identical file contents through reflink')
      .option('--force', 'overwrite existing member files')
      .addOption(new Option('--json', 'print the result as one JSON document'))
      .action((members: string[], flags: MkfsFlags) => act(Boolean(flags.json), async (ctx) => {
        const { runMkfs } = await import('../fs/mkfs.js');
        const { populateFromDirectory, populateFromTar } = await import('../fs/populate.js');
        const { parseUuid, formatUuid } = await import('../format/codec.js');
        const { checksumTypeFromName } = await import('../format/checksum.js');
        const { DEFAULTS, LIMITS } = await import('../format/layout.js');
        const fsMod = await import('node:fs');
        let ec: { k: number; m: number } | undefined;
        if (flags.ec !== undefined) {
          const m = /^(\d+)\+(\d+)$/.exec(flags.ec);
          if (!m) throw new UsageError(`--ec: "${flags.ec}" is not k+m (example: 4+2)`);
          ec = { k: parseCount(m[1]!, '--ec k', 1, 16), m: parseCount(m[2]!, '--ec m', 1, 4) };
          if (flags.replicas !== undefined && flags.replicas !== '1') throw new UsageError('--ec and --replicas exclude each other: erasure coding replaces data replicas');
        }
        const replicas = parseCount(flags.replicas ?? '1', '--replicas', 1, 4);
        // Metadata is replicated: with --ec k+m it survives the same m lost members as data.
        const metadataReplicas = flags.metadataReplicas !== undefined ? parseCount(flags.metadataReplicas, '--metadata-replicas', 1, 4) : ec ? Math.min(4, ec.m + 1) : replicas;
        const [compName, levelText] = (flags.compression ?? 'none').split(':');
        if (compName !== 'none' && compName !== 'zstd') throw new UsageError(`--compression: unknown "${flags.compression}" (none, zstd, zstd:LEVEL)`);
        const compressionLevel = levelText !== undefined ? parseCount(levelText, '--compression level', 1, 19) : 3;
        const dataChecksum = checksumTypeFromName(flags.checksum ?? 'crc32c');
        if (dataChecksum === undefined) throw new UsageError(`--checksum: unknown "${flags.checksum}" (crc32c, xxhash64, none)`);
        const uuid = flags.uuid !== undefined ? parseUuid(flags.uuid) : undefined;
        if (flags.uuid !== undefined && !uuid) throw new UsageError(`--uuid: "${flags.uuid}" is not a UUID`);
        const label = flags.label ?? '';
        if (Buffer.byteLength(label) > 64) throw new UsageError('--label: longer than 64 bytes');
        const blockSize = parsePowerOfTwo(flags.blockSize ?? String(DEFAULTS.blockSize), '--block-size', LIMITS.blockSize.min, LIMITS.blockSize.max);
        const bucketSize = parsePowerOfTwo(flags.bucketSize ?? String(DEFAULTS.bucketSize), '--bucket-size', LIMITS.bucketSize.min, LIMITS.bucketSize.max);
        const nodeSize = parsePowerOfTwo(flags.nodeSize ?? String(DEFAULTS.nodeSize), '--node-size', LIMITS.nodeSize.min, LIMITS.nodeSize.max);
        if (nodeSize > bucketSize || blockSize > nodeSize) throw new UsageError('sizes must satisfy block size <= node size <= bucket size');
        const size = flags.size !== undefined ? parseSize(flags.size, '--size') : undefined;
        const source = flags.from;
        let kind: 'dir' | 'tar' | undefined;
        if (source !== undefined) {
          let st;
          try {
            st = fsMod.statSync(source);
          } catch {
            throw new UsageError(`--from: ${source}: No such file or directory`);
          }
          kind = st.isDirectory() ? 'dir' : 'tar';
        }
        const result = await runMkfs(
          {
            members, size, replicas, metadataReplicas, compression: compName === 'zstd' ? 1 : 0, compressionLevel,
            dataChecksum, metadataChecksum: dataChecksum === 2 ? 2 : 1, blockSize, bucketSize, nodeSize, label, uuid,
            force: Boolean(flags.force), dedupe: Boolean(flags.dedupe), ec, now: sourceDateEpoch(ctx.env),
            clampTime: ctx.env.SOURCE_DATE_EPOCH ? sourceDateEpoch(ctx.env) : undefined,
          },
          async (builder, hooks) => {
            if (kind === 'dir') await populateFromDirectory(builder, source!, hooks);
            else if (kind === 'tar') await populateFromTar(builder, source!, hooks);
            else builder.addRoot(undefined);
          },
          {
            signal: ctx.signal,
            onWarning: (m) => ctx.out.warn(m),
            onProgress: (p) => {
              if (p.phase === 'data') ctx.out.progress('mkfs: writing data', p.bytes, p.bytesTotal, 'bytes');
              else if (p.phase === 'metadata') ctx.out.progress('mkfs: writing metadata', p.files, undefined, 'items');
            },
          },
        );
        ctx.out.done();
        if (ctx.out.json) {
          ctx.out.document({
            version: 1, command: 'mkfs', uuid: formatUuid(result.fsUuid), members: result.members,
            inodes: result.inodes, files: result.files, dataBytes: result.dataBytes, storedBytes: result.storedBytes, dedupedBytes: result.dedupedBytes,
          });
        } else {
          ctx.out.line(`created strata image ${formatUuid(result.fsUuid)}`);
          for (const m of result.members) ctx.out.line(`  member ${m.path}: ${formatBytes(m.size)}, ${m.buckets} buckets`);
          ctx.out.line(`  ${result.inodes} inodes, ${result.files} files, ${formatBytes(result.dataBytes)} of data stored in ${formatBytes(result.storedBytes)}`);
          if (result.dedupedBytes) ctx.out.line(`  --dedupe shared ${formatBytes(result.dedupedBytes)} of identical file contents`);
        }
        return 0;
      }));
  },
};
