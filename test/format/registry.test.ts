import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BTREE, BUCKET_DATA, INCOMPAT, KEY_TYPE, READABLE_VERSIONS, ALL_STRUCTS } from '../../format/layout.js';
import { KEY_OPS } from '../../format/keys.js';
import { CSUM } from '../../format/checksum.js';
import { COMPRESSION } from '../../format/compress.js';

// These ids are on disk in released images: they may gain entries, never change.
const PINNED = {
  BTREE: { inodes: 0, dirents: 1, xattrs: 2, extents: 3, reflink: 4, stripes: 5, alloc: 6 },
  KEY_TYPE: { deleted: 0, inode: 1, dirent: 2, xattr: 3, extent: 4, inlineData: 5, reflinkPointer: 6, indirectExtent: 7, stripe: 8, alloc: 9, btreePointer: 10 },
  BUCKET_DATA: { free: 0, superblock: 1, journal: 2, btree: 3, user: 4, parity: 5 },
  INCOMPAT: { zstd: 1, xxhash64: 2, reflink: 4, erasureCoding: 8 },
  CSUM: { none: 0, crc32c: 1, xxhash64: 2 },
  COMPRESSION: { none: 0, zstd: 1 },
};

test('persistent ids keep the values released images use', () => {
  const current = { BTREE, KEY_TYPE, BUCKET_DATA, INCOMPAT, CSUM, COMPRESSION };
  for (const [name, pinned] of Object.entries(PINNED)) {
    for (const [k, v] of Object.entries(pinned)) assert.equal((current as Record<string, Record<string, number>>)[name]![k], v, `${name}.${k} was renumbered`);
  }
});

test('ids within each registry are unique', () => {
  for (const reg of [BTREE, KEY_TYPE, BUCKET_DATA, INCOMPAT, CSUM, COMPRESSION]) {
    const values = Object.values(reg);
    assert.equal(new Set(values).size, values.length);
  }
});

test('every key type has an operations row', () => {
  for (const id of Object.values(KEY_TYPE)) {
    const row = KEY_OPS[id];
    for (const slot of ['decode', 'encode', 'validate', 'toText'] as const) assert.equal(typeof row[slot], 'function', `key type ${id} lacks ${slot}`);
  }
});

test('structure sizes are multiples of 8 where keys and nodes need alignment', () => {
  const sizes = Object.fromEntries(ALL_STRUCTS.map((s) => [s.name, s.size]));
  assert.deepEqual(sizes, {
    superblock: 256, member_entry: 64, btree_root: 88, pointer: 16, node_header: 80, key_header: 24, btree_pointer: 48, inode: 88,
    dirent: 16, xattr: 8, extent: 40, reflink_pointer: 16, indirect_extent: 8, stripe: 16, alloc: 24, journal_entry: 72, journal_item: 8,
  });
});

test('this version reads format version 1', () => {
  assert.ok((READABLE_VERSIONS as readonly number[]).includes(1));
});
