// Writing commands on hostile images: they must fail with one line (or work), never crash.
// Only what was found so far is here; the fuzzer covers fsck -y, and docs/SECURITY.md says
// what is not promised for writers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isOneLineError, strata, tempDir } from '../helpers/cli.js';
import { file, imageOf, rewriteSuperblock } from './helpers.js';

// The checkpoint once wrote `fs.flags | SB_FLAG.clean` as a signed -1 (format/volume.ts).
test('a writing command on an image whose superblock flags are all ones works or fails with one line', async () => {
  const img = await imageOf(tempDir('strata-security-writers-'), [file('a', 'x')]);
  await rewriteSuperblock(img, (info) => {
    info.flags = 0xffffffff;
  });
  const r = strata(['mkdir', img, '/newdir']);
  assert.ok(r.code === 0 || (r.code === 8 && isOneLineError(r.stderr) && !/internal error/.test(r.stderr)), `exit ${r.code}: ${r.stderr}`);
});
