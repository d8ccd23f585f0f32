// Image recipes shared by the groups: the mkfs group times them, the fsck, scrub, extract and
// startup groups read what they produce (building them untimed when mkfs did not run).
import { type BenchContext, type ImageRecipe, fixedImageBytes, peerInvocation, sparseFile } from './context.js';

const SMALL_IMAGE_BYTES = 16 * 1024 * 1024;
// mkfs.btrfs refuses devices much smaller than ~110 MiB with default profiles
const SMALL_BTRFS_BYTES = 128 * 1024 * 1024;

export const IMAGE_RECIPES: ImageRecipe[] = [
  {
    id: 'strata',
    fileName: 'strata.img',
    invocation: (context, path) => context.strata.invocation(['mkfs', '--from', context.corpus.dir, path]),
  },
  {
    id: 'strata-zstd',
    fileName: 'strata-zstd.img',
    invocation: (context, path) =>
      context.strata.invocation(['mkfs', '--compression', 'zstd', '--from', context.corpus.dir, path]),
  },
  {
    id: 'strata-from-tarball',
    fileName: 'strata-tar.img',
    invocation: (context, path) => context.strata.invocation(['mkfs', '--from', context.corpus.tarball, path]),
  },
  {
    id: 'erofs',
    fileName: 'erofs.img',
    invocation: (context, path) => peerInvocation(context, 'mkfs.erofs', [path, context.corpus.dir]),
  },
  {
    id: 'erofs-lz4hc',
    fileName: 'erofs-lz4hc.img',
    invocation: (context, path) => peerInvocation(context, 'mkfs.erofs', ['-zlz4hc', path, context.corpus.dir]),
  },
  {
    id: 'btrfs',
    fileName: 'btrfs.img',
    invocation: (context, path) => peerInvocation(context, 'mkfs.btrfs', ['--rootdir', context.corpus.dir, path]),
    // mkfs.btrfs fills an existing file of the size it finds; sizing it is setup, not work
    prepare: (context, path) => sparseFile(path, fixedImageBytes(context.corpus)),
  },
  {
    id: 'ext4',
    fileName: 'ext4.img',
    invocation: (context, path) =>
      peerInvocation(context, 'mke2fs', [
        '-t', 'ext4', '-d', context.corpus.dir, path, `${fixedImageBytes(context.corpus) / (1024 * 1024)}M`,
      ]),
  },
  {
    id: 'squashfs-zstd',
    fileName: 'squashfs-zstd.img',
    invocation: (context, path) =>
      peerInvocation(context, 'mksquashfs', [
        context.corpus.dir, path, '-comp', 'zstd', '-noappend', '-processors', '2', '-no-progress',
      ]),
  },
  // small empty images for the startup group: the cost there is process start and superblock read
  {
    id: 'small-strata',
    fileName: 'small-strata.img',
    invocation: (context, path) => context.strata.invocation(['mkfs', '--size', '16M', path]),
  },
  {
    id: 'small-ext4',
    fileName: 'small-ext4.img',
    invocation: (context, path) =>
      peerInvocation(context, 'mke2fs', ['-t', 'ext4', '-q', path, `${SMALL_IMAGE_BYTES / 1024}K`]),
  },
  {
    id: 'small-btrfs',
    fileName: 'small-btrfs.img',
    invocation: (context, path) => peerInvocation(context, 'mkfs.btrfs', ['-q', path]),
    prepare: (_context, path) => sparseFile(path, SMALL_BTRFS_BYTES),
  },
];

export function registerImageRecipes(context: BenchContext): void {
  for (const recipe of IMAGE_RECIPES) context.fixtures.register(recipe);
}
