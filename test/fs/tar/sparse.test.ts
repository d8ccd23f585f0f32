// GNU sparse members: all four encodings as GNU tar writes them, and hostile maps.

import assert from 'node:assert/strict';
import { closeSync, ftruncateSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { BLOCK_SIZE, GNU_SPARSE_ENTRY_SIZE, GNU_SPARSE_EXTENSION_FIELDS } from '../../../fs/tar/header.js';
import { assertTarError, b, fileMember, gnuTar, hasGnuTar, header, patchHeader, paxMember, readArchive, tarOf, withTempDir } from './helpers.js';

const skip = hasGnuTar() ? false : 'GNU tar is not installed';

/** A file with `regions` data regions separated by 64 KiB holes, and a trailing hole. */
function makeSparseFile(path: string, regions: number): Buffer {
  const size = regions * 128 * 1024 + 256 * 1024;
  const fd = openSync(path, 'w');
  try {
    for (let index = 0; index < regions; index++) {
      writeSync(fd, Buffer.alloc(4096 + index, 0x41 + (index % 26)), 0, 4096 + index, 64 * 1024 + index * 128 * 1024);
    }
    ftruncateSync(fd, size);
  } finally {
    closeSync(fd);
  }
  return readFileSync(path);
}

describe('GNU sparse files written by GNU tar', { skip }, () => {
  const variants: Array<[string, string[]]> = [
    ['old GNU (typeflag S, with extension blocks)', ['--format=gnu']],
    ['pax 0.0', ['--format=pax', '--sparse-version=0.0']],
    ['pax 0.1', ['--format=pax', '--sparse-version=0.1']],
    ['pax 1.0', ['--format=pax', '--sparse-version=1.0']],
  ];
  for (const [name, options] of variants) {
    it(`reads a ${name} sparse file back with its holes zero-filled`, async () => {
      await withTempDir(async (dir) => {
        const expected = makeSparseFile(join(dir, 'sparse'), 30); // 30 regions: more than the 4 in an old GNU header
        const onDiskSparse = statSync(join(dir, 'sparse')).blocks * 512 < expected.length;
        gnuTar([...options, '--sparse', '-cf', join(dir, 'a.tar'), '-C', dir, 'sparse']);
        const [member] = await readArchive(readFileSync(join(dir, 'a.tar')));
        assert.equal(member!.entry.path.toString(), 'sparse');
        assert.equal(member!.entry.size, expected.length);
        assert.ok(member!.content!.equals(expected), 'content matches, holes included');
        if (onDiskSparse) {
          assert.ok(member!.sparseRegions, 'GNU tar stored it sparse');
          assert.ok(member!.sparseRegions.length >= 30);
        }
      });
    });
  }
});

describe('hostile sparse maps', () => {
  const sparse01 = (map: string, realSize: number, stored: Buffer, extra: Array<[string, string]> = []) =>
    tarOf(paxMember([['GNU.sparse.major', '0'], ['GNU.sparse.minor', '1'], ['GNU.sparse.size', String(realSize)], ['GNU.sparse.map', map], ...extra]), fileMember('s', stored));

  it('reads a well-formed pax 0.1 map', async () => {
    const [member] = await readArchive(sparse01('2,3,10,2', 16, b('abcde')));
    assert.ok(member!.content!.equals(Buffer.from('\0\0abc\0\0\0\0\0de\0\0\0\0', 'latin1')));
    assert.deepEqual(member!.sparseRegions, [{ offset: 2, length: 3 }, { offset: 10, length: 2 }]);
  });

  it('refuses overlapping, out-of-order or out-of-bounds regions', async () => {
    await assertTarError(() => readArchive(sparse01('0,4,2,1', 16, b('abcde'))), 'bad-sparse-map', { message: /overlaps/ });
    await assertTarError(() => readArchive(sparse01('10,2,0,3', 16, b('abcde'))), 'bad-sparse-map');
    await assertTarError(() => readArchive(sparse01('0,3,15,2', 16, b('abcde'))), 'bad-sparse-map', { message: /beyond the file size/ });
  });

  it('refuses a map whose regions do not add up to the stored data', async () => {
    await assertTarError(() => readArchive(sparse01('0,3', 16, b('abcde'))), 'bad-sparse-map', { message: /describes 3 stored bytes/ });
  });

  it('refuses malformed map text and a wrong region count', async () => {
    await assertTarError(() => readArchive(sparse01('0,3,x,2', 16, b('abcde'))), 'bad-sparse-map');
    await assertTarError(() => readArchive(sparse01('0,3,5', 16, b('abc'))), 'bad-sparse-map');
    await assertTarError(() => readArchive(sparse01('0,5', 16, b('abcde'), [['GNU.sparse.numblocks', '2']])), 'bad-sparse-map');
  });

  it('refuses a pax 1.0 map that claims more regions than it can hold', async () => {
    const map = Buffer.alloc(512);
    map.write('999999999\n0\n', 'latin1');
    const member = Buffer.concat([header('s', { size: 2 * 1024 * 1024 }), map, Buffer.alloc(2 * 1024 * 1024 - 512)]);
    await assertTarError(
      () => readArchive(tarOf(paxMember([['GNU.sparse.major', '1'], ['GNU.sparse.minor', '0'], ['GNU.sparse.realsize', '10'], ['GNU.sparse.name', 's']]), member)),
      'bad-sparse-map',
    );
  });

  it('refuses a sparse format version it does not know as UNSUPPORTED_ARCHIVE', async () => {
    await assertTarError(
      () => readArchive(tarOf(paxMember([['GNU.sparse.major', '2'], ['GNU.sparse.minor', '0'], ['GNU.sparse.realsize', '10']]), fileMember('s', b('')))),
      'unsupported-sparse',
      { code: 'UNSUPPORTED_ARCHIVE' },
    );
  });

  it('refuses an old GNU sparse map with endless extension blocks', async () => {
    const block = patchHeader(header('s', { typeflag: 'S', size: 0 }), { isExtended: [1] });
    // Every extension block lists 21 empty-but-present regions and says another block follows.
    const extension = Buffer.alloc(BLOCK_SIZE);
    for (let entry = 0; entry < 21; entry++) extension.write('00000000000\0', entry * GNU_SPARSE_ENTRY_SIZE + 12, 'latin1');
    extension[GNU_SPARSE_EXTENSION_FIELDS.find((field) => field.name === 'isExtended')!.offset] = 1;
    const endless = Buffer.concat([block, ...Array.from({ length: 2100 }, () => extension)]);
    await assertTarError(() => readArchive(tarOf(endless)), 'pax-too-large', { message: /extension blocks/ });
  });
});
