import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { renderFormatDoc } from '../../scripts/format-doc.js';
import { ALL_STRUCTS } from '../../format/layout.js';
import { REPO } from '../helpers/cli.js';

test('docs/FORMAT.md tables equal the field declarations', () => {
  const doc = fs.readFileSync(path.join(REPO, 'docs', 'FORMAT.md'), 'utf8');
  assert.equal(renderFormatDoc(doc), doc, 'run npm run docs:format');
});

test('docs/FORMAT.md has a table for every structure', () => {
  const doc = fs.readFileSync(path.join(REPO, 'docs', 'FORMAT.md'), 'utf8');
  for (const s of ALL_STRUCTS) assert.ok(doc.includes(`<!-- table:${s.name} -->`), `no table for ${s.name}`);
});
