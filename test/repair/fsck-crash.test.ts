// fsck on crash states (test/helpers/crash.ts): every state a crash can leave, recovered by
// journal replay, must not only show every acknowledged operation but also pass fsck -n with
// nothing worse than 'info' (a journal to replay, the torn entry the crash interrupted). And
// fsck -y on such a state folds the journal in and leaves an image the next fsck -n calls clean.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { strata, tempDir } from '../helpers/cli.js';
import { checkState, crashStates, recordRun, type Workload } from '../helpers/crash.js';
import { runFsck } from '../../repair/fsck.js';
import { pattern } from './fsck-corrupt.js';

function baseImage(): { dir: string; image: string } {
  const dir = tempDir('strata-fsck-crash-');
  const src = path.join(dir, 'src');
  fs.mkdirSync(path.join(src, 'd'), { recursive: true });
  fs.writeFileSync(path.join(src, 'a'), 'first file\n');
  fs.writeFileSync(path.join(src, 'd', 'b'), pattern('crash b', 20_000));
  const image = path.join(dir, 'x.img');
  const r = strata(['mkfs', '--size', '6M', '--bucket-size', '64K', '--node-size', '4K', '--from', src, image]);
  assert.equal(r.code, 0, r.stderr);
  return { dir, image };
}

const WORKLOADS: Record<string, Workload> = {
  'create, write, truncate': async (w, ack) => {
    await w.create('/new', { kind: 'file', perm: 0o644 }, pattern('new', 5000));
    ack();
    await w.write('/new', 100_000, pattern('tail', 3000));
    ack();
    w.truncate('/d/b', 6000);
    ack();
  },
  'mkdir, rename, link, unlink, xattr': async (w, ack) => {
    await w.mkdir('/m');
    ack();
    w.rename('/a', '/m/a-moved');
    ack();
    w.link('/d/b', '/b-link');
    ack();
    w.remove('/d/b');
    ack();
    w.setxattr('/m', { name: Buffer.from('user.k'), value: Buffer.from('v') });
    ack();
  },
};

for (const [name, workload] of Object.entries(WORKLOADS)) {
  for (const checkpointAtEnd of [false, true]) {
    test(`fsck -n finds every crash state of "${name}"${checkpointAtEnd ? ' with a final checkpoint' : ''} consistent`, { timeout: 600_000 }, async () => {
      const { dir, image } = baseImage();
      const run = await recordRun(image, workload, checkpointAtEnd);
      const failures: string[] = [];
      let states = 0;
      for (const state of crashStates(run, 60, name.length * 131 + (checkpointAtEnd ? 1 : 0))) {
        states++;
        const problem = await checkState(dir, run, state, { fsck: true });
        if (problem) failures.push(problem);
      }
      assert.ok(states > 60, `only ${states} states`);
      assert.deepEqual(failures.slice(0, 5), [], `${failures.length} of ${states} states failed`);
      fs.rmSync(dir, { recursive: true, force: true });
    });
  }
}

test('fsck -y on a crash state with entries to replay folds them in; the next fsck -n is clean', { timeout: 300_000 }, async () => {
  const { dir, image } = baseImage();
  const run = await recordRun(image, WORKLOADS['mkdir, rename, link, unlink, xattr']!, false);
  // The state after every write: all operations acknowledged, nothing checkpointed.
  const states = [...crashStates(run, 0, 1)];
  const last = states.find((s) => s.name === `prefix ${run.log.length}`)!;
  const file = path.join(dir, 'replay.img');
  fs.writeFileSync(file, last.members[0]!);
  const first = await runFsck(file, { mode: 'yes' });
  assert.deepEqual(first.problems.map((p) => p.code), ['JOURNAL_REPLAY']);
  assert.equal(first.summary.exitCode, 0);
  assert.ok(first.summary.modified);
  const second = await runFsck(file, { mode: 'check' });
  assert.deepEqual(second.problems, []);
  fs.rmSync(dir, { recursive: true, force: true });
});
