// extract group: copy every file of an image out to a host directory. Each attempt starts from an
// empty destination; the output columns show what was written, which doubles as a completeness check
// (the apparent size must equal the corpus bytes).
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { BenchContext } from './context.js';
import { peerInvocation } from './context.js';
import type { Invocation, Job, ToolRun, Unavailable } from './runner.js';

function extractRun(
  context: BenchContext,
  tool: string,
  /** an image fixture id, or "tarball" for the corpus tarball */
  source: string,
  command: (image: string, destination: string) => Invocation | Unavailable,
  options: { versus?: string; createDestination: boolean },
): ToolRun {
  const destination = join(context.extractDir, source);
  return {
    tool,
    versus: options.versus,
    output: destination,
    plan: () => {
      const image = source === 'tarball' ? context.corpus.tarball : context.fixtures.ensure(source);
      return typeof image === 'string' ? command(image, destination) : image;
    },
    beforeEach: () => {
      rmSync(destination, { recursive: true, force: true });
      // unsquashfs refuses an existing destination; the others want one to exist
      if (options.createDestination) mkdirSync(destination, { recursive: true });
    },
    afterAll: () => rmSync(destination, { recursive: true, force: true }),
  };
}

const STRATA_PLAIN = 'strata dump extract';
const STRATA_ZSTD = 'strata dump extract (zstd image)';

export function extractJobs(context: BenchContext): Job[] {
  const strataExtract = (image: string, destination: string): Invocation | Unavailable =>
    context.strata.invocation(['dump', 'extract', image, '/', destination]);
  return [
    {
      group: 'extract',
      name: 'extract all',
      description: 'copy the whole tree out of an image into an empty host directory',
      strata: [
        extractRun(context, STRATA_PLAIN, 'strata', strataExtract, { createDestination: true }),
        extractRun(context, STRATA_ZSTD, 'strata-zstd', strataExtract, { createDestination: true }),
      ],
      peers: [
        extractRun(context, 'fsck.erofs --extract=DIR', 'erofs', (image, destination) =>
          peerInvocation(context, 'fsck.erofs', [`--extract=${destination}`, image]), { createDestination: true }),
        extractRun(context, 'fsck.erofs --extract=DIR (lz4hc image)', 'erofs-lz4hc', (image, destination) =>
          peerInvocation(context, 'fsck.erofs', [`--extract=${destination}`, image]), { createDestination: true, versus: STRATA_ZSTD }),
        extractRun(context, 'unsquashfs -d DIR (zstd image)', 'squashfs-zstd', (image, destination) =>
          peerInvocation(context, 'unsquashfs', ['-d', destination, '-processors', '2', '-no-progress', image]), {
          createDestination: false,
          versus: STRATA_ZSTD,
        }),
      ],
      references: [
        // unpacking the corpus tarball: the same writes without any image format to decode
        extractRun(context, 'tar xf', 'tarball', (tarball, destination) =>
          peerInvocation(context, 'tar', ['xf', tarball, '-C', destination]), { createDestination: true }),
      ],
    },
  ];
}
