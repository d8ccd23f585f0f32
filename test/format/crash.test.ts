// Crash consistency of the journal and checkpoints: for each workload, every prefix of the
// write log, every drop-one-write state of every flush epoch and 200+ random torn states must
// open, replay, and show every acknowledged operation (later ones whole or absent).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { strata, tempDir } from '../helpers/cli.js';
import { checkState, crashStates, recordRun, type Workload } from '../helpers/crash.js';

function baseImage(): { dir: string; image: string } {
  const dir = tempDir('strata-crash-');
  const src = path.join(dir, 'src');
  fs.mkdirSync(path.join(src, 'd'), { recursive: true });
  fs.writeFileSync(path.join(src, 'a'), 'first file\n');
  fs.writeFileSync(path.join(src, 'd', 'b'), crypto.randomBytes(20_000));
  const image = path.join(dir, 'x.img');
  const r = strata(['mkfs', '--size', '6M', '--bucket-size', '64K', '--node-size', '4K', '--from', src, image]);
  assert.equal(r.code, 0, r.stderr);
  return { dir, image };
}

const bytes = (n: number, seed: number) => {
  const out = Buffer.alloc(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + seed * 7 + (i >> 9)) & 0xff;
  return out;
};

const WORKLOADS: Record<string, Workload> = {
  'create and write': async (w, ack) => {
    await w.create('/new', { kind: 'file', perm: 0o644 }, bytes(5000, 1));
    ack();
    await w.write('/new', 100_000, bytes(3000, 2));
    ack();
  },
  'overwrite and truncate': async (w, ack) => {
    await w.write('/d/b', 4096, bytes(8192, 3));
    ack();
    w.truncate('/d/b', 6000);
    ack();
    w.truncate('/a', 3);
    ack();
  },
  'rename, link and unlink': async (w, ack) => {
    w.rename('/a', '/d/a-moved');
    ack();
    w.link('/d/b', '/b-link');
    ack();
    w.remove('/d/b');
    ack();
  },
  'mkdir, xattr and rename over a file': async (w, ack) => {
    await w.mkdir('/m');
    ack();
    await w.mkdir('/m/n');
    ack();
    w.setxattr('/m', { name: Buffer.from('user.k'), value: Buffer.from('v') });
    ack();
    w.rename('/d/b', '/a');
    ack();
  },
  'put of a large file': async (w, ack) => {
    await w.create('/large', { kind: 'file', perm: 0o600 }, [bytes(700_000, 4), bytes(500_000, 5)]);
    ack();
  },
};

for (const [name, workload] of Object.entries(WORKLOADS)) {
  for (const checkpointAtEnd of [false, true]) {
    test(`every crash state of "${name}"${checkpointAtEnd ? ' with a final checkpoint' : ''} recovers every acknowledged operation`, { timeout: 300_000 }, async () => {
      const { dir, image } = baseImage();
      const run = await recordRun(image, workload, checkpointAtEnd);
      assert.ok(run.ackAt.length > 0);
      const failures: string[] = [];
      let states = 0;
      for (const state of crashStates(run, 200, name.length * 97 + (checkpointAtEnd ? 1 : 0))) {
        states++;
        const problem = await checkState(dir, run, state);
        if (problem) failures.push(problem);
      }
      assert.ok(states > 200, `only ${states} states`);
      assert.deepEqual(failures.slice(0, 5), [], `${failures.length} of ${states} states failed`);
      fs.rmSync(dir, { recursive: true, force: true });
    });
  }
}

test('crash states of writes into an erasure-coded image recover every acknowledged operation', { timeout: 300_000 }, async () => {
  const dir = tempDir('strata-crash-ec-');
  const src = path.join(dir, 'src');
  fs.mkdirSync(src);
  fs.writeFileSync(path.join(src, 'a'), crypto.randomBytes(200_000));
  const members = [0, 1, 2].map((i) => path.join(dir, `m${i}.img`));
  const r = strata(['mkfs', '--ec', '2+1', '--size', '6M', '--bucket-size', '64K', '--node-size', '4K', '--from', src, ...members]);
  assert.equal(r.code, 0, r.stderr);
  const run = await recordRun(members.join(':'), async (w, ack) => {
    await w.create('/b', { kind: 'file', perm: 0o644 }, bytes(150_000, 9));
    ack();
    await w.write('/a', 70_000, bytes(20_000, 8));
    ack();
  }, true, members);
  const failures: string[] = [];
  let states = 0;
  for (const state of crashStates(run, 200, 4242)) {
    states++;
    const problem = await checkState(dir, run, state);
    if (problem) failures.push(problem);
  }
  assert.deepEqual(failures.slice(0, 5), [], `${failures.length} of ${states} states failed`);
});
