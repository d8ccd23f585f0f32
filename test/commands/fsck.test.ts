// The `strata fsck` command contract: human output, --json, modes, exit codes, bad invocations.
// Damage scenarios are in test/repair/fsck.test.ts and the golden cases (test/golden/fsck.test.ts).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isOneLineError, sha256File, strata } from '../helpers/cli.js';
import { validateJson } from '../cli/schemas.js';
import { makeBase, memberNames, Workbench } from '../repair/fsck-corrupt.js';

let scratch = '';

before(async () => {
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-fsck-cmd-'));
  await makeBase(path.join(scratch, 'single'), 'single');
  await makeBase(path.join(scratch, 'mirror'), 'mirror');
});

after(() => fs.rmSync(scratch, { recursive: true, force: true }));

function copy(base: 'single' | 'mirror', name: string): string {
  const dir = path.join(scratch, name);
  fs.mkdirSync(dir, { recursive: true });
  for (const m of memberNames(base)) fs.copyFileSync(path.join(scratch, base, m), path.join(dir, m));
  return dir;
}

test('a clean image: a line per pass, then "clean" with the counts; exit 0', () => {
  const dir = copy('single', 'clean');
  const r = strata(['fsck', '-n', 'm0.img'], { cwd: dir });
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trimEnd().split('\n');
  assert.equal(lines[0], 'Pass 1: superblocks');
  assert.equal(lines[11], 'Pass 12: link counts');
  assert.equal(lines[13], 'm0.img: clean: 14 inodes (6 directories, 5 files), 9 extents, 14 entries, 7 btree nodes');
  assert.equal(r.stderr, '');
});

test('-p prints only problems and the summary; -f is accepted', () => {
  const dir = copy('single', 'preen-clean');
  const r = strata(['fsck', '-p', '-f', 'm0.img'], { cwd: dir });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'm0.img: clean: 14 inodes (6 directories, 5 files), 9 extents, 14 entries, 7 btree nodes\n');
});

test('a problem line names the code, the problem, the question and the answer; exit 4 with -n, 1 with -y, 0 after', async () => {
  const dir = copy('single', 'nlink');
  await new Workbench(dir, 'm0.img').editInode('/docs', { nlink: 9 });
  const before = sha256File(path.join(dir, 'm0.img'));
  const n = strata(['fsck', '-n', 'm0.img'], { cwd: dir });
  assert.equal(n.code, 4);
  assert.match(n.stdout, /^NLINK_WRONG: directory inode 2 has link count 9, should be 2\. Set it to 2\? no$/m);
  assert.match(n.stdout, /m0\.img: 1 problem found, 0 fixed, 1 left: /);
  assert.equal(sha256File(path.join(dir, 'm0.img')), before, 'fsck -n wrote');
  const y = strata(['fsck', '-y', 'm0.img'], { cwd: dir });
  assert.equal(y.code, 1);
  assert.match(y.stdout, /Set it to 2\? yes$/m);
  assert.match(y.stdout, /\*\*\*\*\* IMAGE WAS MODIFIED \*\*\*\*\*/);
  assert.equal(strata(['fsck', '-n', 'm0.img'], { cwd: dir }).code, 0);
});

test('--json prints one document that validates against docs/schemas/fsck.schema.json', async () => {
  const dir = copy('single', 'json');
  await new Workbench(dir, 'm0.img').editInode('/src/tool', { flags: 2 });
  const r = strata(['fsck', '-n', '--json', 'm0.img'], { cwd: dir });
  assert.equal(r.code, 4, r.stderr);
  const doc = JSON.parse(r.stdout) as { command: string; problems: Array<{ code: string; fixed: boolean; context: Record<string, unknown> }>; summary: { exitCode: number }; passes: unknown[] };
  assert.deepEqual(validateJson('fsck', doc), []);
  assert.equal(doc.command, 'fsck');
  assert.deepEqual(doc.problems.map((p) => [p.code, p.fixed, p.context]), [['INODE_FLAGS_BAD', false, { inode: 11, flags: 2 }]]);
  assert.equal(doc.summary.exitCode, 4);
  assert.equal(doc.passes.length, 12);
  const clean = strata(['fsck', '-y', '--json', 'm0.img'], { cwd: dir });
  assert.deepEqual(validateJson('fsck', JSON.parse(clean.stdout)), []);
});

test('-n, -y and -p exclude each other: a usage error, exit 16, one line', () => {
  const dir = copy('single', 'usage');
  for (const args of [['-n', '-y'], ['-y', '-p'], ['-n', '-p']]) {
    const r = strata(['fsck', ...args, 'm0.img'], { cwd: dir });
    assert.equal(r.code, 16, args.join(' '));
    assert.ok(isOneLineError(r.stderr), r.stderr);
  }
  assert.equal(strata(['fsck']).code, 16);
});

test('bad invocations give one clear line: no such file, not an image, a foreign member (8), a missing member (4)', () => {
  const dir = copy('mirror', 'bad');
  const missing = strata(['fsck', '-n', path.join(dir, 'nope.img')]);
  assert.equal(missing.code, 8);
  assert.ok(isOneLineError(missing.stderr), missing.stderr);
  assert.match(missing.stderr, /No such file or directory/);
  const junk = path.join(dir, 'junk.bin');
  fs.writeFileSync(junk, Buffer.alloc(200_000, 7));
  const notImage = strata(['fsck', '-n', junk]);
  assert.equal(notImage.code, 8);
  assert.match(notImage.stderr, /not a strata image/);
  const other = copy('single', 'other');
  const foreign = strata(['fsck', '-n', `${path.join(dir, 'm0.img')}:${path.join(other, 'm0.img')}`]);
  assert.equal(foreign.code, 8);
  assert.ok(isOneLineError(foreign.stderr), foreign.stderr);
  assert.match(foreign.stderr, /another filesystem/);
  const lonely = path.join(scratch, 'lonely');
  fs.mkdirSync(lonely);
  fs.copyFileSync(path.join(dir, 'm0.img'), path.join(lonely, 'm0.img'));
  const degraded = strata(['fsck', '-y', 'm0.img'], { cwd: lonely });
  assert.equal(degraded.code, 4);
  assert.match(degraded.stdout, /^MEMBER_MISSING: member 1 \(uuid [0-9a-f]{32}\) is missing: checked degraded, nothing is written\. Name every member joined with ":" and run again\? no$/m);
});
