// The golden fsck cases (golden-images/f_*/): each is built, checked with fsck -n (which must
// not change a byte), then repaired with fsck -y (output and exit status as in expect.1) and
// checked again with fsck -y (expect.2: clean, exit 0). Regenerate expect files with
//   node --import tsx test/repair/fsck-golden.ts --regen [f_case ...]
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { caseNames, expectText, GOLDEN_DIR, GoldenBuilder } from '../repair/fsck-golden.js';

const builder = new GoldenBuilder();
after(() => builder.clean());

const names = caseNames();

test('there are at least 40 golden fsck cases, each with a build script and both expect files', () => {
  assert.ok(names.length >= 40, `${names.length} cases`);
  for (const n of names) {
    for (const f of ['build.ts', 'expect.1', 'expect.2']) assert.ok(fs.existsSync(path.join(GOLDEN_DIR, n, f)), `${n}/${f}`);
    const second = fs.readFileSync(path.join(GOLDEN_DIR, n, 'expect.2'), 'utf8');
    assert.match(second, /: clean: .*\nExit status is 0\n$/, `${n}: the second run is clean`);
  }
});

test('every golden case: fsck -n writes nothing, fsck -y repairs as recorded, and the next run is clean', { concurrency: 2, timeout: 900_000 }, async (t) => {
  await Promise.all(names.map((name) =>
    t.test(name, async () => {
      const r = await builder.run(name);
      assert.ok(r.readOnlyKept, 'fsck -n changed a member file');
      assert.ok([0, 4].includes(r.checkOnly.code), `fsck -n exited ${r.checkOnly.code}: ${r.checkOnly.stderr}`);
      assert.equal(expectText(r.first), fs.readFileSync(path.join(GOLDEN_DIR, name, 'expect.1'), 'utf8'), `first fsck -y (stderr: ${r.first.stderr})`);
      assert.equal(expectText(r.second), fs.readFileSync(path.join(GOLDEN_DIR, name, 'expect.2'), 'utf8'), `second fsck -y (stderr: ${r.second.stderr})`);
    })));
});

test('the format-1 golden image (golden-images/v1) fscks clean', async () => {
  const zlib = await import('node:zlib');
  const os = await import('node:os');
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-v1-fsck-'));
  try {
    fs.writeFileSync(path.join(tmp, 'v1.img'), zlib.gunzipSync(fs.readFileSync(path.join(GOLDEN_DIR, 'v1', 'v1.img.gz'))));
    const { runFsck } = await import('../../repair/fsck.js');
    const r = await runFsck(path.join(tmp, 'v1.img'), { mode: 'check' });
    assert.deepEqual(r.problems, []);
    assert.equal(r.summary.exitCode, 0);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});
