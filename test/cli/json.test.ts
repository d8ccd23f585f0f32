// Every --json document the CLI prints validates against its schema in docs/schemas/.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { strata, tempDir } from '../helpers/cli.js';
import { SCHEMA_DIR, schemaCommands, schemaPath, validateJson } from './schemas.js';
import { buildProgram } from '../../cli/main.js';
import { COMMANDS } from '../../commands/index.js';

let dir = '';
let image = '';

before(() => {
  dir = tempDir('strata-json-');
  const src = path.join(dir, 'src');
  fs.mkdirSync(path.join(src, 'sub', 'deeper'), { recursive: true });
  fs.writeFileSync(path.join(src, 'small.txt'), 'inline content\n');
  fs.writeFileSync(path.join(src, 'sub', 'big.bin'), Buffer.alloc(300_000, 0x5a));
  fs.writeFileSync(path.join(src, 'sub', 'deeper', 'random.bin'), Buffer.from(Array.from({ length: 200_000 }, (_, i) => (i * 7919) % 251)));
  fs.writeFileSync(path.join(src, 'empty'), '');
  fs.symlinkSync('small.txt', path.join(src, 'link'));
  fs.linkSync(path.join(src, 'small.txt'), path.join(src, 'hardlink'));
  spawnSync('mkfifo', [path.join(src, 'fifo')]);
  spawnSync('setfattr', ['-n', 'user.comment', '-v', 'hello', path.join(src, 'small.txt')]);
  image = path.join(dir, 'a.img');
  const mkfs = strata(['mkfs', '--json', '--replicas', '2', '--compression', 'zstd', '--label', 'json test', '--from', src, image, path.join(dir, 'b.img')]);
  assert.equal(mkfs.code, 0, mkfs.stderr);
  assert.deepEqual(validateJson('mkfs', JSON.parse(mkfs.stdout)), []);
});

/** Runs a command with --json, checks it succeeded, and returns the parsed document. */
function jsonOf(args: string[]): unknown {
  const r = strata(args);
  assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
  return JSON.parse(r.stdout) as unknown;
}

function assertValid(command: string, doc: unknown): void {
  const problems = validateJson(command, doc);
  assert.deepEqual(problems, [], `${command}:\n${problems.join('\n')}\n${JSON.stringify(doc, null, 2).slice(0, 3000)}`);
  assert.equal((doc as { command?: string }).command, command);
}

test('mkfs --json validates', () => {
  const target = path.join(dir, 'single.img');
  assertValid('mkfs', jsonOf(['mkfs', '--json', '--from', path.join(dir, 'src'), target]));
  assertValid('mkfs', jsonOf(['mkfs', '--json', '--size', '8M', path.join(dir, 'empty.img')]));
});

test('documents of an image whose files share data through reflink validate', (t) => {
  const src = path.join(dir, 'twins');
  fs.mkdirSync(src);
  const content = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 31) % 253));
  fs.writeFileSync(path.join(src, 'one'), content);
  fs.writeFileSync(path.join(src, 'two'), content);
  const shared = path.join(dir, 'shared.img');
  const mkfs = strata(['mkfs', '--json', '--dedupe', '--from', src, shared]);
  if (mkfs.code === 16) {
    t.skip(`this build refuses --dedupe: ${mkfs.stderr.trim()}`);
    return;
  }
  assert.equal(mkfs.code, 0, mkfs.stderr);
  assertValid('mkfs', JSON.parse(mkfs.stdout));
  assertValid('dump usage', jsonOf(['dump', 'usage', '--json', shared]));
  assertValid('dump btree', jsonOf(['dump', 'btree', '--json', shared, 'reflink']));
  const extents = jsonOf(['dump', 'extents', '--json', shared, '/two']) as { extents: Array<{ kind: string }> };
  assertValid('dump extents', extents);
  assert.ok(extents.extents.some((e) => e.kind === 'reflink'), 'the copy is shared through reflink');
});

test('dump super --json validates, on a whole image and on a degraded one', () => {
  assertValid('dump super', jsonOf(['dump', 'super', '--json', image]));
  const lonely = path.join(dir, 'lonely');
  fs.mkdirSync(lonely);
  fs.copyFileSync(image, path.join(lonely, 'a.img'));
  assertValid('dump super', jsonOf(['dump', 'super', '--json', path.join(lonely, 'a.img')]));
});

test('dump usage --json validates', () => {
  assertValid('dump usage', jsonOf(['dump', 'usage', '--json', image]));
});

test('dump btree --json validates, for all btrees and for one', () => {
  assertValid('dump btree', jsonOf(['dump', 'btree', '--json', image]));
  assertValid('dump btree', jsonOf(['dump', 'btree', '--json', image, 'extents']));
});

test('dump journal --json validates, before and after a write left entries in the journal', (t) => {
  assertValid('dump journal', jsonOf(['dump', 'journal', '--json', image]));
  const written = path.join(dir, 'written');
  fs.mkdirSync(written);
  for (const member of ['a.img', 'b.img']) fs.copyFileSync(path.join(dir, member), path.join(written, member));
  const put = strata(['put', path.join(written, 'a.img'), path.join(dir, 'src', 'small.txt'), '/copy.txt']);
  if (put.code !== 0) {
    t.skip(`strata put failed, so only the empty journal was checked: ${put.stderr.trim()}`);
    return;
  }
  const doc = jsonOf(['dump', 'journal', '--json', path.join(written, 'a.img')]) as { entries: unknown[] };
  assertValid('dump journal', doc);
  assert.ok(doc.entries.length > 0, 'the write left journal entries');
});

test('dump ls --json validates, flat and recursive', () => {
  assertValid('dump ls', jsonOf(['dump', 'ls', '--json', image, '/']));
  const all = jsonOf(['dump', 'ls', '-R', '--json', image, '/']) as { entries: Array<{ path: string }> };
  assertValid('dump ls', all);
  assert.ok(all.entries.some((e) => e.path === '/sub/deeper/random.bin'));
});

test('dump stat --json validates for every kind of file', () => {
  for (const p of ['/', '/small.txt', '/sub', '/sub/big.bin', '/link', '/empty', '/hardlink', '/fifo']) {
    const r = strata(['dump', 'stat', '--json', image, p]);
    if (p === '/fifo' && r.code !== 0) continue;
    assert.equal(r.code, 0, `${p}: ${r.stderr}`);
    assertValid('dump stat', JSON.parse(r.stdout));
  }
});

test('dump extents --json validates for inline, compressed and replicated data', () => {
  for (const p of ['/small.txt', '/sub/big.bin', '/sub/deeper/random.bin', '/empty']) assertValid('dump extents', jsonOf(['dump', 'extents', '--json', image, p]));
});

test('dump extract --json validates', () => {
  assertValid('dump extract', jsonOf(['dump', 'extract', '--json', image, '/', path.join(dir, 'out')]));
  assertValid('dump extract', jsonOf(['dump', 'extract', '--json', image, '/sub/big.bin', path.join(dir, 'one-file')]));
});

test('every schema is a draft 2020-12 schema that requires "version": 1 and its command', () => {
  const files = fs.readdirSync(SCHEMA_DIR).filter((f) => f.endsWith('.schema.json'));
  assert.ok(files.length >= 9);
  for (const file of files) {
    const schema = JSON.parse(fs.readFileSync(path.join(SCHEMA_DIR, file), 'utf8')) as {
      $schema: string; required: string[]; properties: Record<string, { const?: unknown }>;
    };
    const command = file.replace(/\.schema\.json$/, '').replace(/-/g, ' ');
    assert.equal(schema.$schema, 'https://json-schema.org/draft/2020-12/schema', file);
    assert.ok(schema.required.includes('version') && schema.required.includes('command'), file);
    assert.equal(schema.properties.version?.const, 1, file);
    assert.equal(schema.properties.command?.const, command, file);
  }
});

test('validateJson names what is wrong, and knows which commands have a schema', () => {
  const doc = { version: 1, command: 'dump extract', files: 1, directories: 0, bytes: 10, skipped: 0, lost: [] };
  assert.deepEqual(validateJson('dump extract', doc), []);
  assert.deepEqual(validateJson('dump-extract', doc), []);
  const { version: _version, ...withoutVersion } = doc;
  assert.ok(validateJson('dump extract', withoutVersion).some((e) => e.includes("must have required property 'version'")));
  assert.ok(validateJson('dump extract', { ...doc, version: 2 }).some((e) => e.startsWith('/version: must be equal to constant 1')));
  assert.ok(validateJson('dump extract', { ...doc, command: 'mkfs' }).some((e) => e.startsWith('/command:')));
  assert.ok(validateJson('dump extract', { ...doc, surprise: true }).some((e) => e.includes('"surprise"')));
  assert.deepEqual(validateJson('frobnicate', doc), ['no schema for "frobnicate": expected docs/schemas/frobnicate.schema.json']);
  assert.ok(schemaCommands().includes('dump super'));
});

/** Every command path whose options include --json. */
function jsonCommands(cmd: Command, prefix: string[] = []): string[] {
  return cmd.commands.flatMap((c) => {
    const names = [...prefix, c.name()];
    return [...(c.options.some((o) => o.long === '--json') ? [names.join(' ')] : []), ...jsonCommands(c, names)];
  });
}

const withoutSchema = jsonCommands(buildProgram(COMMANDS, async () => {}, {})).filter((c) => !fs.existsSync(schemaPath(c)) && c !== 'dump cat' && c !== 'dump tar');
test('every command with --json has a schema', { todo: withoutSchema.length > 0 && `no schema yet for: ${withoutSchema.join(', ')}` }, () => {
  assert.equal(withoutSchema.join(', '), '');
});
