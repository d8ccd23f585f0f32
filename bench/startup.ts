// startup group: the fixed cost of one invocation on a small empty image, best of 10. For a Node
// CLI this is mostly process start and module loading; `node -e 0` is the floor strata cannot beat.
import type { BenchContext } from './context.js';
import { onImage, peerInvocation } from './context.js';
import type { Job } from './runner.js';

const STARTUP_ATTEMPTS = 10;
const STRATA_HELP = 'strata --help';
const STRATA_SUPER = 'strata dump super small.img';

export function startupJobs(context: BenchContext): Job[] {
  return [
    {
      group: 'startup',
      name: 'startup',
      description: 'one invocation printing a superblock of a small empty image (best of 10)',
      strata: [
        { tool: STRATA_HELP, attempts: STARTUP_ATTEMPTS, plan: () => context.strata.invocation(['--help']) },
        onImage(context, STRATA_SUPER, 'small-strata', (image) => context.strata.invocation(['dump', 'super', image]), {
          attempts: STARTUP_ATTEMPTS,
        }),
      ],
      peers: [
        onImage(context, 'dumpe2fs -h', 'small-ext4', (image) => peerInvocation(context, 'dumpe2fs', ['-h', image]), {
          attempts: STARTUP_ATTEMPTS,
          versus: STRATA_SUPER,
        }),
        onImage(context, 'btrfs inspect-internal dump-super', 'small-btrfs', (image) =>
          peerInvocation(context, 'btrfs', ['inspect-internal', 'dump-super', image]), {
          attempts: STARTUP_ATTEMPTS,
          versus: STRATA_SUPER,
        }),
      ],
      references: [
        {
          tool: 'node -e 0',
          attempts: STARTUP_ATTEMPTS,
          versus: STRATA_HELP,
          plan: () => ({ argv: [process.execPath, '-e', '0'] }),
        },
      ],
    },
  ];
}
