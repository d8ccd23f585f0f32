// Resource bounds: sizes, counts, depths and offsets read from a hostile image are checked
// before they drive an allocation, a loop or a seek. Each case is a hand-made image that
// claims something absurd; the command must end quickly, in bounded memory, with one line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { loadChecksummer } from '../../format/checksum.js';
import { decodeNode, encodeNode, NodeError } from '../../format/btree/node.js';
import { decodeBtreePointer, encodeBtreePointer, type Key, POS_MAX, POS_MIN, posSuccessor } from '../../format/keys.js';
import { decodeSuperblock } from '../../format/superblock.js';
import { BTREE, DT, ExtentValue, InodeValue, KEY_TYPE, SB_OFFSET } from '../../format/layout.js';
import { spawnSync } from 'node:child_process';
import { isOneLineError, STRATA, tempDir } from '../helpers/cli.js';
import { direntKey, entry, file, forgeCrc32c, imageOf, inumOf, patchLeafBytes, readKeys, rewriteKeys, rewriteSuperblock, sandbox } from './helpers.js';

/** Run the CLI with a small heap and a 10 s bound: a bound violation fails fast, not the machine. */
function bounded(args: string[]): { code: number; stderr: string; ms: number } {
  const start = Date.now();
  // SIGKILL: the CLI turns SIGTERM into a polite abort that a stuck synchronous loop never sees.
  const r = spawnSync(process.execPath, [STRATA, ...args], {
    env: { ...process.env, CI: '1', NO_COLOR: '1', NODE_OPTIONS: '--max-old-space-size=256' }, timeout: 10_000, killSignal: 'SIGKILL', maxBuffer: 1 << 26,
  });
  return { code: r.status ?? -1, stderr: r.stderr?.toString() ?? '', ms: Date.now() - start };
}

async function smallImage(extra: Parameters<typeof imageOf>[1] = []): Promise<string> {
  return imageOf(tempDir('strata-security-bounds-'), [file('good', 'good\n'), entry('sub', 'dir'), file('sub/big', Buffer.alloc(20_000, 0x61)), ...extra]);
}

test('an interior node whose children overlap is refused, so no child is reached twice', async () => {
  const checksums = await loadChecksummer();
  const fsMagic = Buffer.alloc(8, 1);
  const child = (min: typeof POS_MIN) => encodeBtreePointer({ level: 0, checksum: 1n, seq: 1, min, pointers: [{ member: 0, generation: 0, offset: 65536 }] });
  const mid = { inode: 10, offset: 0, snapshot: 0 };
  const tiled: Key[] = [
    { ...mid, type: KEY_TYPE.btreePointer, value: child(POS_MIN) },
    { ...POS_MAX, type: KEY_TYPE.btreePointer, value: child(posSuccessor(mid)) },
  ];
  const overlapping: Key[] = [tiled[0]!, { ...POS_MAX, type: KEY_TYPE.btreePointer, value: child(POS_MIN) }];
  const node = (keys: Key[]) => encodeNode({ btreeId: 1, level: 1, seq: 1, min: POS_MIN, max: POS_MAX, keys }, 4096, 1, fsMagic, checksums).bytes;
  const expect = { btreeId: 1, level: 1, fsMagic };
  assert.equal(decodeNode(node(tiled), expect, checksums).keys.length, 2);
  assert.throws(() => decodeNode(node(overlapping), expect, checksums), (e: unknown) => e instanceof NodeError && /children must tile/.test(e.message));
  const gap: Key[] = [tiled[0]!, { ...POS_MAX, type: KEY_TYPE.btreePointer, value: child(posSuccessor(posSuccessor(mid))) }];
  assert.throws(() => decodeNode(node(gap), expect, checksums), NodeError);
});

test('a key_count no node can hold is refused before any key is read', async () => {
  const img = await smallImage();
  await patchLeafBytes(img, BTREE.dirents, (n) => n.writeUInt32LE(0xffffffff, 72));
  const r = bounded(['dump', 'ls', '-R', img, '/']);
  assert.equal(r.code, 8, r.stderr);
  assert.ok(isOneLineError(r.stderr), r.stderr);
  assert.match(r.stderr, /key_count 4294967295 cannot fit/);
});

test('used_bytes beyond the node is refused', async () => {
  const img = await smallImage();
  await patchLeafBytes(img, BTREE.inodes, (n) => n.writeUInt32LE(0x7fffffff, 76));
  const r = bounded(['dump', 'ls', img, '/']);
  assert.equal(r.code, 8, r.stderr);
  assert.ok(isOneLineError(r.stderr), r.stderr);
});

test('an extent claiming 4 GiB of stored or uncompressed data is refused before anything is allocated', async () => {
  for (const field of ['stored_size', 'uncompressed_size'] as const) {
    const img = await smallImage();
    await rewriteKeys(img, BTREE.extents, (keys) => keys.map((k) => {
      if (k.type !== KEY_TYPE.extent) return k;
      const v = Buffer.from(k.value);
      v.writeUInt32LE(0xffffffff, ExtentValue.field(field).offset);
      return { ...k, value: v };
    }));
    const r = bounded(['dump', 'cat', img, '/sub/big']);
    assert.equal(r.code, 8, r.stderr);
    assert.ok(isOneLineError(r.stderr), r.stderr);
    assert.match(r.stderr, /exceed 131072/);
  }
});

test('a key value too short to decode is reported with its btree and key position', async () => {
  const img = await smallImage();
  let where = '';
  await rewriteKeys(img, BTREE.extents, (keys) => keys.map((k) => {
    if (k.type !== KEY_TYPE.extent) return k;
    where = `extents key ${k.inode}:${k.offset}:0`;
    return { ...k, value: k.value.subarray(0, 37) };
  }));
  const r = bounded(['dump', 'cat', img, '/sub/big']);
  assert.equal(r.code, 8, r.stderr);
  assert.ok(isOneLineError(r.stderr), r.stderr);
  assert.ok(r.stderr.includes(where), r.stderr);
  assert.match(r.stderr, /extent value is 37 bytes/);
});

test('a btree root claiming a depth beyond 8 levels makes the superblock invalid', async () => {
  const img = await smallImage();
  await rewriteSuperblock(img, (info) => {
    info.roots[BTREE.dirents] = { ...info.roots[BTREE.dirents]!, level: 200 };
  });
  const r = bounded(['dump', 'ls', img, '/']);
  assert.equal(r.code, 8, r.stderr);
  assert.ok(isOneLineError(r.stderr), r.stderr);
  assert.match(r.stderr, /claims level 200/);
});

test('a file claiming 2^53-1 bytes (all hole) is skipped by extract with a warning, not written', async () => {
  const img = await smallImage();
  const { keys } = await readKeys(img, BTREE.dirents);
  const good = inumOf(keys, 1, 'good');
  await rewriteKeys(img, BTREE.inodes, (ks) => ks.map((k) => {
    if (k.inode !== good) return k;
    const v = Buffer.from(k.value);
    v.writeUInt32LE(0xffffffff, InodeValue.field('size').offset);
    v.writeUInt32LE(0x1fffff, InodeValue.field('size').offset + 4);
    return { ...k, value: v };
  }));
  const box = sandbox();
  const r = bounded(['dump', 'extract', img, '/', box.out]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /skipped \/good: (EFBIG|EINVAL)/);
  assert.ok(!fs.existsSync(path.join(box.out, 'good')));
  assert.equal(fs.readFileSync(path.join(box.out, 'sub', 'big')).length, 20_000);
});

test('dump ls -R of a directory with two entries naming the root lists each directory once', async () => {
  const img = await smallImage();
  await rewriteKeys(img, BTREE.dirents, (ks) => [...ks, direntKey(1, Buffer.from('loop1'), 1, DT.dir), direntKey(1, Buffer.from('loop2'), 1, DT.dir)]);
  const r = bounded(['dump', 'ls', '-R', img, '/']);
  assert.ok(r.code === 0 || r.code === 8, `exit ${r.code} after ${r.ms} ms`);
});

test('dump ls of a symlink claiming a 512 MiB target ends in bounded memory', async () => {
  const img = await smallImage([entry('ln', 'symlink', { linkTarget: Buffer.from('good') })]);
  const { keys } = await readKeys(img, BTREE.dirents);
  const ln = inumOf(keys, 1, 'ln');
  await rewriteKeys(img, BTREE.inodes, (ks) => ks.map((k) => {
    if (k.inode !== ln) return k;
    const v = Buffer.from(k.value);
    v.writeUInt32LE(0x20000000, InodeValue.field('size').offset);
    return { ...k, value: v };
  }));
  const r = bounded(['dump', 'ls', img, '/']);
  assert.ok(r.code === 0 || r.code === 8, `exit ${r.code} after ${r.ms} ms: ${r.stderr.slice(0, 200)}`);
});

// A node cache hit passes the same identity and range checks as a fresh decode, and the
// in-memory btree walk is depth-bounded (format/image.ts, format/btree/mutable.ts).
test('an interior node that carries its own checksum and points at itself ends in one line, not a loop', async () => {
  const dir = tempDir('strata-security-bounds-');
  const many = Array.from({ length: 150 }, (_, i) => file(`f${String(i).padStart(3, '0')}`, 'x'));
  const img = await imageOf(dir, many, 'img', ['--node-size', '4K', '--bucket-size', '64K']);
  const checksums = await loadChecksummer();
  const bytes = fs.readFileSync(img);
  const { fs: info } = decodeSuperblock(bytes.subarray(SB_OFFSET), checksums.crc32c, { member: img, offset: SB_OFFSET });
  const root = info.roots[BTREE.dirents]!;
  assert.ok(root.level >= 1, 'the test image needs a two-level dirents btree');
  const at = root.pointers[0]!.offset;
  const node = decodeNode(bytes.subarray(at, at + info.nodeSize), { btreeId: BTREE.dirents, level: root.level, fsMagic: info.fsUuid.subarray(0, 8) }, checksums);
  // The first child pointer now names the root's own location, with the checksum the root will have.
  const selfChecksum = 0x5e1f5e1f;
  const first = decodeBtreePointer(node.keys[0]!.value);
  const keys = node.keys.map((k, i) => (i === 0 ? { ...k, value: encodeBtreePointer({ ...first, checksum: BigInt(selfChecksum), seq: node.seq, pointers: [{ member: 0, generation: 0, offset: at }] }) } : k));
  const { bytes: forged } = encodeNode({ ...node, keys }, info.nodeSize, 1, info.fsUuid.subarray(0, 8), checksums);
  const used = forged.readUInt32LE(76);
  // Bytes 2..5 of that pointer value are reserved (ignored on read): solve them for the checksum.
  forgeCrc32c(forged.subarray(16, used), 80 + 24 + 2 - 16, selfChecksum, checksums.crc32c);
  forged.writeBigUInt64LE(BigInt(selfChecksum), 8);
  assert.equal(checksums.compute(1, forged.subarray(16, used)), BigInt(selfChecksum));
  const fd = fs.openSync(img, 'r+');
  fs.writeSync(fd, forged, 0, forged.length, at);
  fs.closeSync(fd);
  await rewriteSuperblock(img, (i) => {
    i.roots[BTREE.dirents] = { ...i.roots[BTREE.dirents]!, checksum: BigInt(selfChecksum) };
  });
  const r = bounded(['dump', 'ls', img, '/']);
  assert.equal(r.code, 8, `exit ${r.code} after ${r.ms} ms: ${r.stderr.slice(0, 300)}`);
  assert.ok(isOneLineError(r.stderr), r.stderr);
});
