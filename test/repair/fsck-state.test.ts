// The inode table's lookups and the extent runs the alloc pass hands the extents pass.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ExtentRuns, INODE, InodeTable } from '../../repair/fsck-state.js';
import { SeededRandom } from '../helpers/corpus.js';

/** The row a linear search finds, as find must answer. */
function linearFind(t: InodeTable, inum: number): number {
  for (let i = 0; i < t.count; i++) if (t.c.inum[i] === inum) return t.c.flags[i]! & INODE.removed ? -1 : i;
  return -1;
}

for (const [name, numbers] of [
  ['dense numbers in order', (rng: SeededRandom) => {
    let inum = 0;
    return Array.from({ length: 9000 }, () => (inum += 1 + (rng.int(10) === 0 ? rng.int(5) : 0)));
  }],
  ['sparse numbers', (rng: SeededRandom) => Array.from({ length: 3000 }, () => 1 + rng.int(2 ** 40))],
  ['numbers out of order', (rng: SeededRandom) => Array.from({ length: 3000 }, () => 1 + rng.int(6000))],
] as const) {
  test(`find answers as a linear search does, for ${name}`, () => {
    const rng = new SeededRandom(name.length);
    const t = new InodeTable(16);
    for (const inum of numbers(rng)) {
      t.append(inum, 0o100644, 1, 0, 0);
      if (rng.int(50) === 0) t.c.flags[t.count - 1] |= INODE.removed;
      if (rng.int(200) === 0) for (let probe = 0; probe < 64; probe++) {
        const inum = rng.int(2) ? t.c.inum[rng.int(t.count)]! : rng.int(12000);
        assert.equal(t.find(inum), linearFind(t, inum), `inode ${inum}`);
      }
    }
    for (let probe = 0; probe < 2000; probe++) {
      const inum = rng.int(2) ? t.c.inum[rng.int(t.count)]! : rng.int(12000);
      assert.equal(t.find(inum), linearFind(t, inum), `inode ${inum}`);
    }
  });
}

test('extent runs sum up each inode, and a key that overlaps the one before makes its run not plain', () => {
  const runs = new ExtentRuns(0);
  runs.add(5, 4096, 4096, true);
  runs.add(5, 8192, 4096, true);
  runs.add(6, 4096, 4096, true);
  runs.add(6, 6000, 4096, true);
  runs.add(7, 100, 100, false);
  runs.add(7, 200, 100, true);
  for (let inode = 8; inode < 1000; inode++) runs.add(inode, 10, 10, inode % 3 !== 0);
  const rows = Array.from({ length: runs.count }, (_, i) => [runs.inode[i], runs.keys[i], runs.end[i], runs.plain[i]]);
  assert.deepEqual(rows.slice(0, 3), [[5, 2, 8192, 1], [6, 2, 6000, 0], [7, 2, 200, 0]]);
  assert.equal(runs.count, 995);
  assert.deepEqual(rows[994], [999, 1, 10, 0]);
  assert.deepEqual(rows[993], [998, 1, 10, 1]);
});
