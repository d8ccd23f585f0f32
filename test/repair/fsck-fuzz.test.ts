// The short run of fsck field fuzzing (test/repair/fsck-fuzz.ts): one mutation per structure
// kind and field name of each seed image, with a random verb and fix-up, spread evenly; the
// full run (every field of every structure, every verb, with and without fix-up) is
//   node --import tsx test/repair/fsck-fuzz.ts --full
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, mutations, prepareVariants, runMutation } from './fsck-fuzz.js';

/** Mutations of the short run: about 30 s on a 2-core machine. */
const SHORT_RUN = 300;

const dir = fs.mkdtempSync(path.join(fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir(), 'strata-fsck-fuzz-test-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

test(`fsck survives ${SHORT_RUN} field mutations: bounded, no crash, -n writes nothing, -y repairs, the rest is untouched`, { timeout: 300_000 }, async () => {
  const variants = await prepareVariants(dir);
  // A fixed seed keeps npm test reproducible; STRATA_FSCK_FUZZ_SEED picks other verbs and bits.
  const seed = Number(process.env.STRATA_FSCK_FUZZ_SEED ?? 1);
  const sampled = mutations(variants, { full: false, seed });
  const step = Math.max(1, Math.floor(sampled.length / SHORT_RUN));
  const chosen = sampled.filter((_, i) => i % step === 0).slice(0, SHORT_RUN);
  const failures: string[] = [];
  for (const m of chosen) {
    const r = await runMutation(dir, variants[m.variant]!, m);
    if (r.failure) failures.push(`${describe(variants[m.variant]!, m)}: ${r.failure.split('\n')[0]}`);
  }
  assert.deepEqual(failures.slice(0, 5), [], `${failures.length} of ${chosen.length} mutations failed (seed ${seed})`);
});
