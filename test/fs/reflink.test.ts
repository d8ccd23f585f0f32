// Reflink under random operations, against a plain in-memory model of file contents: after
// every step each file reads back equal to the model, and a full recount of references equals
// every stored refcount; at the end, bucket usage recounted from the btrees equals the table.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { strata, tempDir } from '../helpers/cli.js';
import { Volume } from '../../format/volume.js';
import { FsWriter } from '../../fs/ops.js';
import { overlappingIndirect } from '../../fs/reflink.js';
import { extentUsage, keyExtentBody } from '../../format/space.js';
import { BTREE, KEY_TYPE } from '../../format/layout.js';
import { ops } from '../../format/keys.js';

function recountProblems(vol: Volume): string[] {
  const counts = new Map<number, number>();
  for (const k of vol.trees[BTREE.extents]!.range()) {
    if (k.type !== KEY_TYPE.reflinkPointer) continue;
    const r = ops.reflinkPointer.decode(k.value);
    const hit = overlappingIndirect(vol, r);
    if (hit.length === 0) return [`pointer ${k.inode}:${k.offset} references no indirect extent`];
    for (const ind of hit) counts.set(ind.offset, (counts.get(ind.offset) ?? 0) + 1);
  }
  const problems: string[] = [];
  for (const k of vol.trees[BTREE.reflink]!.range()) {
    const stored = ops.indirectExtent.decode(k.value).refcount;
    const actual = counts.get(k.offset) ?? 0;
    if (stored !== actual) problems.push(`indirect extent at ${k.offset}: refcount ${stored}, references ${actual}`);
  }
  return problems;
}

function usageProblems(vol: Volume): string[] {
  const fs = vol.fs;
  const used = new Map<string, number>();
  for (const id of [BTREE.extents, BTREE.reflink]) {
    for (const k of vol.trees[id]!.range()) {
      const body = keyExtentBody(k);
      if (!body) continue;
      for (const u of extentUsage(body, fs.blockSize)) {
        const key = `${u.member}:${Math.floor(u.offset / fs.bucketSize)}`;
        used.set(key, (used.get(key) ?? 0) + u.bytes);
      }
    }
  }
  const problems: string[] = [];
  for (const [key, bytes] of used) {
    const [m, b] = key.split(':').map(Number);
    // Data buckets may also hold nothing else; node buckets are separate.
    if (vol.space!.usedBytes(m!, b!) !== bytes) problems.push(`bucket ${key}: table ${vol.space!.usedBytes(m!, b!)}, recount ${bytes}`);
  }
  return problems;
}

test('thousands of random reflink, write, truncate, punch and rm operations match a model, refcounts exact', { timeout: 300_000 }, async () => {
  const dir = tempDir('strata-reflink-');
  const img = path.join(dir, 'x.img');
  assert.equal(strata(['mkfs', '--size', '96M', '--bucket-size', '64K', '--node-size', '4K', img]).code, 0);
  const vol = await Volume.open(img, { writable: true });
  const w = await FsWriter.on(vol);
  const model = new Map<string, Buffer>();
  let seed = 99;
  const rand = (n: number) => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % n);
  const names = ['/f0', '/f1', '/f2', '/f3', '/f4', '/f5'];
  const fill = (n: number) => Buffer.from(Array.from({ length: n }, () => rand(256)));
  let steps = 0;
  await vol.batch(async () => {
    for (; steps < 2500; steps++) {
      const name = names[rand(names.length)]!;
      const have = model.get(name);
      const op = rand(10);
      if (!have) {
        const content = fill(rand(4) === 0 ? rand(3000) : rand(400_000));
        await w.create(name, { kind: 'file', perm: 0o644 }, content);
        model.set(name, content);
      } else if (op < 3) {
        const other = names[rand(names.length)]!;
        if (model.has(other)) {
          w.remove(other);
          model.delete(other);
        }
        if (other !== name) {
          await w.reflinkCopy(name, other);
          model.set(other, Buffer.from(have));
        }
      } else if (op < 6) {
        const offset = rand(have.length + 50_000);
        const data = fill(1 + rand(150_000));
        await w.write(name, offset, data);
        const next = Buffer.alloc(Math.max(have.length, offset + data.length));
        have.copy(next);
        data.copy(next, offset);
        model.set(name, next);
      } else if (op < 7) {
        const size = rand(have.length + 1);
        w.truncate(name, size);
        model.set(name, Buffer.from(have.subarray(0, size)));
      } else if (op < 9) {
        const offset = rand(have.length + 1);
        const length = rand(200_000);
        w.punchHole(name, offset, length);
        const next = Buffer.from(have);
        next.fill(0, offset, Math.min(have.length, offset + length));
        model.set(name, next);
      } else {
        w.remove(name);
        model.delete(name);
      }
      for (const [n, content] of model) {
        const { inum, inode } = w.reader.lookup(n);
        assert.equal(inode.size, content.length, `step ${steps}: ${n} size`);
        assert.ok(w.reader.readAll(inum, inode.size, n).equals(content), `step ${steps}: ${n} content differs`);
      }
      assert.deepEqual(recountProblems(vol), [], `step ${steps}`);
      if (steps % 500 === 499) vol.checkpoint();
    }
  });
  assert.deepEqual(usageProblems(vol), []);
  vol.close();
  // What was checkpointed reads back after reopening, too.
  const again = await Volume.open(img, {});
  const w2 = await FsWriter.on(again);
  for (const [n, content] of model) {
    const { inum, inode } = w2.reader.lookup(n);
    assert.ok(w2.reader.readAll(inum, inode.size, n).equals(content), `${n} after reopen`);
  }
  assert.deepEqual(recountProblems(again), []);
  again.abandon();
});
