// Degraded reads: every dump read path falls back to a good replica when a copy is bad or its
// member is missing, says so once on stderr, and returns exactly the original bytes.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { strata } from '../helpers/cli.js';
import { assertExtractsIntact, buildImage, extentsOf, flipBits, hashes, nodesOf, removeBuiltImages, zeroRange } from './damage.js';

after(removeBuiltImages);

test('dump cat returns the exact file when the first copy of every extent fails its checksum', async () => {
  const built = await buildImage(2, ['--replicas', '2']);
  const extents = extentsOf(built.spec, '/big.bin');
  // The first pointer is the copy a read tries first; the second is then needed every time.
  extents.forEach((e, i) => flipBits(built.members[e.pointers[0]!.member]!, e.pointers[0]!.offset, e.storedSize, 1, i));
  const before = hashes(built.members);
  const r = strata(['dump', 'cat', built.spec, '/big.bin']);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(r.stdoutBytes.equals(fs.readFileSync(path.join(built.src, 'big.bin'))));
  // Reported once per bad copy, naming the file range, and nothing written.
  const warnings = r.stderr.split('\n').filter((l) => /data checksum mismatch/.test(l));
  assert.equal(warnings.length, extents.length);
  assert.ok(warnings.every((l) => /\/big\.bin bytes \d+\.\.\d+/.test(l) && /another copy used/.test(l)), r.stderr);
  assert.deepEqual(hashes(built.members), before);
});

test('dump extract of the whole tree equals the source when one member has every data copy zeroed', async () => {
  const built = await buildImage(2, ['--replicas', '2']);
  for (const file of ['/big.bin', '/bin/tool', '/docs/notes.txt', '/docs/deep/er/leaf.dat']) {
    for (const e of extentsOf(built.spec, file)) {
      const copy = e.pointers.find((p) => p.member === 1)!;
      zeroRange(built.members[1]!, copy.offset, e.storedSize);
    }
  }
  await assertExtractsIntact(built);
});

test('dump tar gives the same archive with a damaged replica of data and of a btree node', async () => {
  const built = await buildImage(3, ['--replicas', '2']);
  const clean = strata(['dump', 'tar', built.spec, '/']);
  assert.equal(clean.code, 0, clean.stderr);
  const e = extentsOf(built.spec, '/docs/deep/er/leaf.dat')[0]!;
  zeroRange(built.members[e.pointers[0]!.member]!, e.pointers[0]!.offset, 4096);
  const dirents = nodesOf(built.spec, 'dirents')[0]!.copies[0]!;
  zeroRange(built.members[dirents.member]!, dirents.offset, 4096);
  const damaged = strata(['dump', 'tar', built.spec, '/']);
  assert.equal(damaged.code, 0, damaged.stderr);
  assert.ok(damaged.stdoutBytes.equals(clean.stdoutBytes));
  assert.match(damaged.stderr, /btree dirents/);
  assert.match(damaged.stderr, /leaf\.dat bytes 0\.\.\d+/);
});

test('dump ls and cat work on a degraded image whose other member is missing', async () => {
  const built = await buildImage(2, ['--replicas', '2']);
  fs.unlinkSync(built.members[0]!);
  const ls = strata(['dump', 'ls', '-R', built.members[1]!, '/']);
  assert.equal(ls.code, 0, ls.stderr);
  assert.match(ls.stdout, /\/docs\/deep\/er\/leaf\.dat/);
  assert.match(ls.stderr, /degraded|missing/);
  const cat = strata(['dump', 'cat', built.members[1]!, '/bin/tool']);
  assert.equal(cat.code, 0, cat.stderr);
  assert.ok(cat.stdoutBytes.equals(fs.readFileSync(path.join(built.src, 'bin', 'tool'))));
  await assertExtractsIntact(built, built.members[1]!);
});
