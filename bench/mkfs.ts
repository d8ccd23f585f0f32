// mkfs group: populate a fresh image from the corpus directory (and, for strata, from the tarball).
// Each timed run starts from no image file; sizing the file for btrfs is untimed setup.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { BenchContext } from './context.js';
import { peerInvocation } from './context.js';
import type { Job, ToolRun } from './runner.js';

/** A timed build of one image recipe; success registers the image as a fixture for later groups. */
export function imageBuildRun(context: BenchContext, id: string, tool: string, versus?: string): ToolRun {
  const recipe = context.fixtures.recipe(id);
  const path = context.fixtures.path(id);
  return {
    tool,
    versus,
    output: path,
    flushOutput: true,
    plan: () => recipe.invocation(context, path),
    beforeEach: () => {
      rmSync(path, { force: true, recursive: true });
      recipe.prepare?.(context, path);
    },
    onSuccess: () => context.fixtures.markBuilt(id),
    onFailure: (error) => context.fixtures.markFailed(id, error),
  };
}

export const STRATA_UNCOMPRESSED = 'strata mkfs --from DIR';
export const STRATA_ZSTD = 'strata mkfs --compression zstd --from DIR';
export const BTRFS_ROOTDIR = 'mkfs.btrfs --rootdir DIR';
export const EROFS_LZ4HC = 'mkfs.erofs -zlz4hc';

export function mkfsJobs(context: BenchContext): Job[] {
  const scratchTar = join(context.workDir, 'reference.tar');
  return [
    {
      group: 'mkfs',
      name: 'mkfs uncompressed',
      description: 'populate a new image from the corpus directory, no compression',
      strata: [
        imageBuildRun(context, 'strata', STRATA_UNCOMPRESSED),
        imageBuildRun(context, 'strata-from-tarball', 'strata mkfs --from TARBALL'),
      ],
      peers: [
        imageBuildRun(context, 'erofs', 'mkfs.erofs'),
        imageBuildRun(context, 'btrfs', BTRFS_ROOTDIR),
        imageBuildRun(context, 'ext4', 'mke2fs -t ext4 -d DIR'),
      ],
      references: [
        {
          // reading the whole tree and writing it as one stream: a floor no image builder can beat by much
          tool: 'tar cf',
          output: scratchTar,
          flushOutput: true,
          plan: () => peerInvocation(context, 'tar', ['cf', scratchTar, '-C', context.corpus.dir, '.']),
          beforeEach: () => rmSync(scratchTar, { force: true }),
          afterAll: () => rmSync(scratchTar, { force: true }),
        },
      ],
    },
    {
      group: 'mkfs',
      name: 'mkfs compressed',
      description: 'populate a new compressed image from the corpus directory',
      strata: [imageBuildRun(context, 'strata-zstd', STRATA_ZSTD)],
      peers: [
        imageBuildRun(context, 'erofs-lz4hc', EROFS_LZ4HC),
        imageBuildRun(context, 'squashfs-zstd', 'mksquashfs -comp zstd -processors 2'),
      ],
    },
  ];
}
