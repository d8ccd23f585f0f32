// ec group, image part: an erasure-coded image of the corpus (`mkfs --ec 4+2` over 6 member
// files), then `dump extract` of the whole tree from it healthy and with two member files moved
// away, so that every data block on them is rebuilt from its stripe (reconstruct-read). The
// kernel throughput part of the group is bench/ec.ts.
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { BenchContext, ImageRecipe } from './context.js';
import type { Job, Measurement, ToolRun } from './runner.js';

export const EC_DATA = 4;
export const EC_PARITY = 2;
const MEMBERS = EC_DATA + EC_PARITY;
/** members moved away for the degraded rows: as many as there is parity, the first ones */
const MISSING = [0, 1];
/** the member that names the image on the command line (one that stays present) */
const NAMED_MEMBER = MEMBERS - 1;

export const EC_FIXTURE = 'strata-ec';
export const EC_HEALTHY = `strata dump extract (${EC_DATA}+${EC_PARITY}, healthy)`;
export const EC_DEGRADED = `strata dump extract (${EC_DATA}+${EC_PARITY}, ${MISSING.length} of ${MEMBERS} members missing)`;
/** the target: a degraded extract takes at most this many times the healthy one */
export const EC_DEGRADED_LIMIT = 2;

function memberPaths(dir: string): string[] {
  return Array.from({ length: MEMBERS }, (_, index) => join(dir, `m${index}.img`));
}

/** The image is a directory of member files; the fixture path is that directory. */
export const EC_RECIPE: ImageRecipe = {
  id: EC_FIXTURE,
  fileName: 'strata-ec',
  invocation: (context, dir) =>
    context.strata.invocation(['mkfs', '--ec', `${EC_DATA}+${EC_PARITY}`, '--from', context.corpus.dir, ...memberPaths(dir)]),
  prepare: (_context, dir) => mkdirSync(dir, { recursive: true }),
};

export function ecJobs(context: BenchContext): Job[] {
  const dir = context.fixtures.path(EC_FIXTURE);
  const members = memberPaths(dir);
  const awayDir = join(context.imagesDir, 'strata-ec-away');
  const named = members[NAMED_MEMBER]!;

  const moveAway = (): void => {
    mkdirSync(awayDir, { recursive: true });
    for (const index of MISSING) {
      const member = members[index]!;
      if (existsSync(member)) renameSync(member, join(awayDir, `m${index}.img`));
    }
  };
  const moveBack = (): void => {
    for (const index of MISSING) {
      const moved = join(awayDir, `m${index}.img`);
      if (existsSync(moved)) renameSync(moved, members[index]!);
    }
  };

  const build: ToolRun = {
    tool: `strata mkfs --ec ${EC_DATA}+${EC_PARITY} --from DIR (${MEMBERS} members)`,
    output: dir,
    flushFiles: members,
    plan: () => EC_RECIPE.invocation(context, dir),
    beforeEach: () => {
      moveBack();
      rmSync(dir, { recursive: true, force: true });
      EC_RECIPE.prepare!(context, dir);
    },
    onSuccess: () => context.fixtures.markBuilt(EC_FIXTURE),
    onFailure: (error) => context.fixtures.markFailed(EC_FIXTURE, error),
  };

  const extractRun = (tool: string, degraded: boolean): ToolRun => {
    const destination = join(context.extractDir, degraded ? 'ec-degraded' : 'ec-healthy');
    return {
      tool,
      output: destination,
      versus: degraded ? EC_HEALTHY : undefined,
      plan: () => {
        const image = context.fixtures.ensure(EC_FIXTURE);
        if (typeof image !== 'string') return image;
        return context.strata.invocation(['dump', 'extract', named, '/', destination]);
      },
      beforeEach: () => {
        if (degraded) moveAway();
        else moveBack();
        rmSync(destination, { recursive: true, force: true });
        mkdirSync(destination, { recursive: true });
      },
      afterAll: () => {
        moveBack();
        rmSync(destination, { recursive: true, force: true });
      },
    };
  };

  return [
    {
      group: 'ec',
      name: `mkfs --ec ${EC_DATA}+${EC_PARITY}`,
      description: `build an erasure-coded image of the corpus over ${MEMBERS} member files`,
      strata: [build],
      peers: [],
    },
    {
      group: 'ec',
      name: 'extract, degraded',
      description: `extract the whole tree from it, healthy and with ${MISSING.length} members missing (reconstruct-read)`,
      strata: [extractRun(EC_HEALTHY, false)],
      variants: [extractRun(EC_DEGRADED, true)],
      peers: [],
    },
  ];
}

export interface EcTarget {
  name: string;
  status: 'met' | 'not met' | 'pending';
  ratio: number | null;
  detail: string;
}

/** degraded / healthy extract seconds against the 2x, plus a completeness check */
export function evaluateEcTarget(rows: Measurement[], corpusBytes: number): EcTarget {
  const name = `degraded extract within ${EC_DEGRADED_LIMIT}x of healthy (${MISSING.length} of ${MEMBERS} members missing)`;
  const healthy = rows.find((row) => row.group === 'ec' && row.tool === EC_HEALTHY);
  const degraded = rows.find((row) => row.group === 'ec' && row.tool === EC_DEGRADED);
  if (!healthy || !degraded) return { name, status: 'pending', ratio: null, detail: 'ec group not run' };
  if (healthy.seconds === null) return { name, status: 'pending', ratio: null, detail: `healthy extract n/a: ${healthy.error}` };
  if (degraded.seconds === null) return { name, status: 'pending', ratio: null, detail: `degraded extract n/a: ${degraded.error}` };
  const ratio = degraded.seconds / healthy.seconds;
  const cpu = degraded.cpuRatio !== null ? `; cpu ${healthy.cpuSeconds?.toFixed(2)} s vs ${degraded.cpuSeconds?.toFixed(2)} s (${degraded.cpuRatio.toFixed(2)}x)` : '';
  // a cheap completeness check: both outputs must hold as many file bytes as the corpus
  const completeness = healthy.outputApparentBytes === corpusBytes && degraded.outputApparentBytes === corpusBytes
    ? '; both extractions hold the corpus bytes'
    : `; WARNING: extracted ${healthy.outputApparentBytes} (healthy) and ${degraded.outputApparentBytes} (degraded) bytes of file data, corpus ${corpusBytes}`;
  return {
    name,
    status: ratio <= EC_DEGRADED_LIMIT ? 'met' : 'not met',
    ratio,
    detail: `wall ${healthy.seconds.toFixed(2)} s vs ${degraded.seconds.toFixed(2)} s (${ratio.toFixed(2)}x)${cpu}${completeness}`,
  };
}
