// Startup cost: ink and react (the better part of a second to load) are loaded only to draw
// the progress view on a terminal, never for help, piped runs or quick reads. The wall-time
// target (under 150 ms for `strata --help` and `strata dump super`) is measured by
// `npm run bench`; here a loose bound only catches something heavy creeping into startup.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { STRATA, strata, tempDir } from '../helpers/cli.js';

const MODULE_LOG = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'module-log.mjs');
const VIEW_MODULES = /\/node_modules\/(ink|react|react-reconciler|yoga-layout)\/|\/cli\/progress-view\.js/;

let dir = '';
let image = '';

before(() => {
  dir = tempDir('strata-startup-');
  const src = path.join(dir, 'src');
  fs.mkdirSync(src);
  for (let i = 0; i < 600; i++) fs.writeFileSync(path.join(src, `f${i}`), `file ${i}\n`);
  image = path.join(dir, 'small.img');
  assert.equal(strata(['mkfs', '--from', src, image]).code, 0);
});

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/**
 * The sources in the files of dist/bundle/ (its metafile, written by scripts/bundle.mjs), as
 * "/dist/..." paths; empty when there is no bundle.
 */
function bundleSources(): Map<string, string[]> {
  const meta = path.join(ROOT, 'dist', 'bundle', 'meta.json');
  if (!fs.existsSync(meta)) return new Map();
  const outputs = (JSON.parse(fs.readFileSync(meta, 'utf8')) as { outputs: Record<string, { inputs: Record<string, unknown> }> }).outputs;
  return new Map(Object.entries(outputs).map(([file, out]) => [path.join(ROOT, file), Object.keys(out.inputs).map((i) => `/${i}`)]));
}

/**
 * The modules one run loads (ES modules, and CommonJS ones that ES modules import); a file of
 * the bundle stands for the compiled modules it holds.
 */
function modulesLoaded(args: string[]): string[] {
  const bundled = bundleSources();
  return loadedFiles(args).flatMap((url) => (url.startsWith('file:') ? bundled.get(fileURLToPath(url)) : undefined) ?? [url]);
}

function loadedFiles(args: string[]): string[] {
  const log = path.join(dir, `modules-${args.join('-').replace(/[^\w-]/g, '_')}.log`);
  fs.rmSync(log, { force: true });
  const r = spawnSync(process.execPath, ['--import', MODULE_LOG, STRATA, ...args], {
    env: { ...process.env, CI: '', NO_COLOR: '1', STRATA_TEST_MODULE_LOG: log },
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.equal(r.status, 0, r.stderr);
  return fs.readFileSync(log, 'utf8').trim().split('\n');
}

test('strata runs its bundle, which npm test builds after dist/', () => {
  assert.ok(bundleSources().size > 0, 'dist/bundle/meta.json exists');
  assert.ok(loadedFiles(['--help']).some((u) => u.endsWith('/dist/bundle/main.js')), 'the bundle is newer than dist/cli/main.js');
});

test('strata --help loads neither the progress view nor any image code', () => {
  const loaded = modulesLoaded(['--help']);
  assert.ok(loaded.some((u) => u.endsWith('/cli/main.js')), 'the log works');
  assert.deepEqual(loaded.filter((u) => VIEW_MODULES.test(u)), []);
  assert.deepEqual(loaded.filter((u) => /\/dist\/(format|fs|repair)\//.test(u) && !u.endsWith('/format/errors.js')), []);
});

test('a piped run without FORCE_COLOR does not load chalk: nothing to colour', () => {
  const loaded = modulesLoaded(['dump', 'super', image]);
  assert.deepEqual(loaded.filter((u) => u.includes('/node_modules/chalk/')), []);
});

test('a piped mkfs --from that reports progress never loads ink or react', () => {
  const loaded = modulesLoaded(['mkfs', '--force', '--from', path.join(dir, 'src'), path.join(dir, 'piped.img')]);
  assert.ok(loaded.some((u) => u.includes('/dist/fs/')), 'mkfs ran');
  assert.deepEqual(loaded.filter((u) => VIEW_MODULES.test(u)), []);
});

test('dump super loads neither ink nor react', () => {
  assert.deepEqual(modulesLoaded(['dump', 'super', image]).filter((u) => VIEW_MODULES.test(u)), []);
});

function bestOf(runs: number, args: string[]): number {
  let best = Number.POSITIVE_INFINITY;
  for (let i = 0; i < runs; i++) {
    const start = process.hrtime.bigint();
    const r = spawnSync(process.execPath, [STRATA, ...args], { env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'ignore', 'pipe'] });
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    assert.equal(r.status, 0, r.stderr?.toString());
    best = Math.min(best, ms);
  }
  return best;
}

test('strata --help and strata dump super start in well under a second', (t) => {
  const floor = (() => {
    let best = Number.POSITIVE_INFINITY;
    for (let i = 0; i < 5; i++) {
      const start = process.hrtime.bigint();
      spawnSync(process.execPath, ['-e', '0']);
      best = Math.min(best, Number(process.hrtime.bigint() - start) / 1e6);
    }
    return best;
  })();
  const help = bestOf(5, ['--help']);
  const superblock = bestOf(5, ['dump', 'super', image]);
  t.diagnostic(`best of 5: node -e 0 ${floor.toFixed(0)} ms, strata --help ${help.toFixed(0)} ms, strata dump super ${superblock.toFixed(0)} ms`);
  assert.ok(help < 1000, `strata --help took ${help.toFixed(0)} ms`);
  assert.ok(superblock < 1000, `strata dump super took ${superblock.toFixed(0)} ms`);
});
