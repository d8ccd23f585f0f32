// fsck group: a full read-only consistency check of an image built from the corpus.
// Every tool checks metadata; none of these peers verifies file data here (that is the scrub group).
import type { BenchContext } from './context.js';
import { onImage, peerInvocation } from './context.js';
import type { Invocation, Job, Unavailable } from './runner.js';

export function fsckJobs(context: BenchContext): Job[] {
  const strataFsck = (image: string): Invocation | Unavailable => context.strata.invocation(['fsck', '-n', image]);
  return [
    {
      group: 'fsck',
      name: 'fsck -n',
      description: 'read-only check of an image holding the corpus',
      strata: [
        onImage(context, 'strata fsck -n', 'strata', strataFsck),
        onImage(context, 'strata fsck -n (zstd image)', 'strata-zstd', strataFsck),
      ],
      peers: [
        onImage(context, 'e2fsck -fn', 'ext4', (image) => peerInvocation(context, 'e2fsck', ['-fn', image])),
        onImage(context, 'btrfs check', 'btrfs', (image) => peerInvocation(context, 'btrfs', ['check', image])),
        onImage(context, 'fsck.erofs', 'erofs', (image) => peerInvocation(context, 'fsck.erofs', [image])),
        onImage(context, 'fsck.erofs (lz4hc image)', 'erofs-lz4hc', (image) => peerInvocation(context, 'fsck.erofs', [image]), {
          versus: 'strata fsck -n (zstd image)',
        }),
      ],
    },
  ];
}

