// scrub group: read and verify every data block of an image. `cat` of the image file is the floor:
// no verifier can read the bytes faster than a plain sequential read of them.
import type { BenchContext } from './context.js';
import { onImage, peerInvocation } from './context.js';
import type { Job } from './runner.js';

export function scrubJobs(context: BenchContext): Job[] {
  return [
    {
      group: 'scrub',
      name: 'scrub -n',
      description: 'verify all data (checksums or decoding) of an image holding the corpus',
      strata: [onImage(context, 'strata scrub -n', 'strata', (image) => context.strata.invocation(['scrub', '-n', image]))],
      peers: [
        onImage(context, 'btrfs check --check-data-csum', 'btrfs', (image) =>
          peerInvocation(context, 'btrfs', ['check', '--check-data-csum', image]),
        ),
        // erofs keeps no data checksums; --extract without a target decodes every file, the closest it has
        onImage(context, 'fsck.erofs --extract', 'erofs', (image) => peerInvocation(context, 'fsck.erofs', ['--extract', image])),
      ],
      references: [
        // the strata image has one member here; `cat` of every member is the read floor
        onImage(context, 'cat strata members', 'strata', (image) => peerInvocation(context, 'cat', [image])),
        // the same floor for the peers, and one that exists before strata does: the uncompressed
        // erofs image holds the file data without holes (the btrfs image is mostly sparse)
        onImage(context, 'cat erofs image', 'erofs', (image) => peerInvocation(context, 'cat', [image])),
      ],
    },
  ];
}
