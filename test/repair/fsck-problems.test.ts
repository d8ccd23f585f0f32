// The fsck problem registry (repair/problems.ts): codes are unique, stable and only ever added.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { P, PROBLEM_DEFS } from '../../repair/problems.js';
import { REPO } from '../helpers/cli.js';

/**
 * Every code fsck has ever had. Codes reach --json output and golden expect files, so one is
 * never renamed or removed: add new codes at the end of this list, never edit a line.
 */
const PINNED = [
  'SB_COPY_BAD', 'SB_COPY_STALE', 'SB_COPY_DIFFERS', 'MEMBER_MISSING', 'MEMBER_SIZE_WRONG', 'SB_COUNTER_LOW', 'FEATURE_MISSING',
  'JOURNAL_REPLAY', 'JOURNAL_TORN', 'JOURNAL_COPY_BAD', 'JOURNAL_ENTRY_BAD', 'JOURNAL_GAP', 'JOURNAL_UNREADABLE',
  'NODE_COPY_BAD', 'NODE_PTR_BAD', 'NODE_PTR_STALE', 'NODE_PTR_LEVEL', 'NODE_CSUM', 'NODE_MAGIC', 'NODE_IDENTITY', 'NODE_BOUNDS',
  'KEYS_OUT_OF_ORDER', 'NODE_UNREADABLE', 'NODE_SHARED',
  'ALLOC_KEY_BAD', 'ALLOC_LEAKED', 'ALLOC_UNMARKED', 'ALLOC_USED_WRONG', 'ALLOC_TYPE_WRONG', 'ALLOC_GEN_LOW', 'ALLOC_STRIPE_WRONG', 'SPACE_SHARED',
  'EXTENT_BAD', 'EXTENT_NO_INODE', 'EXTENT_NOT_FILE', 'EXTENT_OVERLAP', 'EXTENT_PAST_EOF', 'EXTENT_PTR_BAD', 'EXTENT_PTR_STALE',
  'EXTENT_REPLICAS_SAME_MEMBER', 'EXTENT_STRIPE_MISSING',
  'INDIRECT_BAD', 'INDIRECT_OVERLAP', 'REFLINK_MISSING', 'REFCOUNT_HIGH', 'REFCOUNT_LOW', 'INDIRECT_UNREFERENCED',
  'STRIPE_BAD', 'STRIPE_BLOCK_BAD', 'STRIPE_CSUM_MISSING', 'STRIPE_UNREFERENCED',
  'INODE_BAD', 'INODE_TYPE_BAD', 'INODE_TIME_BAD', 'INODE_FLAGS_BAD', 'INODE_SIZE_BAD', 'INODE_FIELD_BAD', 'SYMLINK_EMPTY', 'ROOT_MISSING', 'ROOT_NOT_DIR',
  'DIRENT_BAD', 'DIRENT_DIR_MISSING', 'DIRENT_TARGET_MISSING', 'DIRENT_TO_ROOT', 'DIRENT_TYPE_WRONG', 'DIRENT_HASH_WRONG', 'DIRENT_DUPLICATE',
  'XATTR_BAD', 'XATTR_NO_OWNER', 'XATTR_HASH_WRONG', 'XATTR_DUPLICATE',
  'DIR_UNREACHABLE', 'DIR_LOOP', 'DIR_MULTIPLY_NAMED', 'DIR_PARENT_WRONG', 'INODE_UNATTACHED', 'INODE_UNATTACHED_EMPTY', 'LOST_FOUND_BAD', 'ROOT_PARENT_WRONG',
  'NLINK_WRONG',
  'CHECK_INCOMPLETE',
  'NODE_PTR_GEN_AHEAD', 'EXTENT_PTR_GEN_AHEAD', 'NO_SPACE', 'DIRENT_OWNER_NOT_DIR',
];

test('problem codes are unique and each row is filed under its own code', () => {
  const codes = PROBLEM_DEFS.map((d) => d.code);
  assert.equal(new Set(codes).size, codes.length);
  for (const [key, def] of Object.entries(P)) assert.equal(def.code, key);
  for (const c of codes) assert.match(c, /^[A-Z][A-Z0-9_]*$/);
});

test('the set of problem codes only grows: every pinned code is still there, and new ones are pinned', () => {
  const codes = new Set(PROBLEM_DEFS.map((d) => d.code));
  assert.deepEqual(PINNED.filter((c) => !codes.has(c)), [], 'a pinned code was removed or renamed');
  assert.deepEqual([...codes].filter((c) => !PINNED.includes(c)), [], 'a new code is not pinned yet: add it at the end of PINNED');
  assert.equal(new Set(PINNED).size, PINNED.length);
});

test('every problem has a severity, a message and a fix; autofix implies preen-ok; info is never fatal', () => {
  for (const d of PROBLEM_DEFS) {
    assert.ok(['info', 'warning', 'error'].includes(d.severity), d.code);
    assert.equal(typeof d.message, 'function', d.code);
    assert.equal(typeof d.fix, 'function', d.code);
    if (d.autofix) assert.ok(d.preenOk, `${d.code}: autofix without preenOk`);
    if (d.severity === 'info') assert.ok(!d.fatal, d.code);
  }
});

test('every problem code is reported somewhere in repair/ (no dead rows)', () => {
  const dir = path.join(REPO, 'repair');
  const source = fs.readdirSync(dir).filter((f) => f.startsWith('fsck') && f.endsWith('.ts')).map((f) => fs.readFileSync(path.join(dir, f), 'utf8')).join('\n');
  const unused = PROBLEM_DEFS.map((d) => d.code).filter((c) => !source.includes(`P.${c}`));
  assert.deepEqual(unused, []);
});

test('messages render from their typed context as one line without a trailing period', () => {
  const sample = P.DIRENT_TARGET_MISSING.message({ dir: 2, name: 'big.bin', target: 999 });
  assert.equal(sample, "entry 'big.bin' in directory 2 names inode 999, which does not exist");
  assert.equal(P.REFCOUNT_HIGH.fix({ start: 0, end: 4096, recorded: 3, counted: 1 }), 'Set the refcount to 1');
  assert.equal(P.JOURNAL_GAP.message({ missing: 7, ignored: 2 }), 'journal entry seq 7 is missing: 2 later entries are not replayed, their transactions are lost');
});

test('docs/fsck.md lists every problem code', () => {
  const doc = fs.readFileSync(path.join(REPO, 'docs', 'fsck.md'), 'utf8');
  assert.deepEqual(PROBLEM_DEFS.map((d) => d.code).filter((c) => !doc.includes(`| \`${c}\` |`)), []);
});
