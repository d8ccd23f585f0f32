// Format version 1's golden image: every later strata must read it and dump it the same.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { strata, tempDir, REPO, sha256File } from '../helpers/cli.js';
import { buildGolden } from '../../golden-images/v1/build.js';

const dir = path.join(REPO, 'golden-images', 'v1');

function unpack(): string {
  const tmp = tempDir('strata-golden-');
  fs.writeFileSync(path.join(tmp, 'v1.img'), zlib.gunzipSync(fs.readFileSync(path.join(dir, 'v1.img.gz'))));
  return tmp;
}

for (const [name, args] of [['super', ['dump', 'super', 'v1.img']], ['ls', ['dump', 'ls', '-R', 'v1.img', '/']], ['btree', ['dump', 'btree', 'v1.img']]] as const) {
  test(`the v1 golden image dumps ${name} exactly as recorded`, () => {
    const tmp = unpack();
    const r = strata([...args], { cwd: tmp });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, fs.readFileSync(path.join(dir, `expect.${name}`), 'utf8'));
  });
}

test('the v1 golden image extracts every file with its content', () => {
  const tmp = unpack();
  const out = path.join(tmp, 'out');
  const r = strata(['dump', 'extract', path.join(tmp, 'v1.img'), '/', out]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(fs.readFileSync(path.join(out, 'docs/readme.txt')).length, 120);
  assert.equal(fs.statSync(path.join(out, 'docs/big.txt')).size, 400_000);
  assert.equal(fs.readlinkSync(path.join(out, 'docs/link')), 'readme.txt');
  assert.equal(fs.statSync(path.join(out, 'docs/hardlink')).ino, fs.statSync(path.join(out, 'docs/readme.txt')).ino);
});

test('the current code rebuilds the v1 golden image byte for byte', async () => {
  const tmp = tempDir('strata-golden-build-');
  const { image } = await buildGolden(tmp);
  const committed = unpack();
  assert.equal(sha256File(image), sha256File(path.join(committed, 'v1.img')));
});
