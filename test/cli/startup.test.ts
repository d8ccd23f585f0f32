// Startup cost: ink and react (the better part of a second to load) are loaded only to draw
// the progress view on a terminal, never for help, piped runs or quick reads. The wall-time
// target (under 150 ms for `strata --help` and `strata dump super`) is measured by
// `npm run bench`; here a loose bound only catches something heavy creeping into startup.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
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
const BUNDLE = path.join(ROOT, 'dist', 'bundle');
/** Runs dist/cli/main.js as bin/strata would without a bundle: for what the modules' own imports load. */
const RUN_DIST = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'run-dist.mjs');

/**
 * The URLs of the modules one run loads: ES modules, and CommonJS ones that ES modules import.
 * The bundle's own code is one script, not a module; what it imports dynamically (chalk, the
 * progress worker's ink and react) goes through the ES loader and is listed.
 */
function modulesLoaded(args: string[], entry = STRATA): string[] {
  const log = path.join(dir, `modules-${args.join('-').replace(/[^\w-]/g, '_')}.log`);
  fs.rmSync(log, { force: true });
  const r = spawnSync(process.execPath, ['--import', MODULE_LOG, entry, ...args], {
    env: { ...process.env, CI: '', NO_COLOR: '1', STRATA_TEST_MODULE_LOG: log },
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.equal(r.status, 0, r.stderr);
  return fs.readFileSync(log, 'utf8').trim().split('\n');
}

test('strata runs its bundle, which npm test builds after dist/, and V8 takes its code cache', () => {
  const loaded = modulesLoaded(['dump', 'super', image]);
  assert.ok(loaded.some((u) => u.endsWith('/bin/bundle.js')), 'the bundle loader ran');
  assert.deepEqual(loaded.filter((u) => u.includes('/dist/')), [], 'no compiled module of dist/ was loaded');
  // In a child with Node's default flags, as bin/strata runs: the cache is built for those.
  const probe = `import { loadBundle } from ${JSON.stringify(pathToFileURL(path.join(ROOT, 'bin', 'bundle.js')).href)};
process.stdout.write(String(loadBundle(${JSON.stringify(BUNDLE)}).cacheRejected));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', probe], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.stdout, 'false', r.stderr);
});

test('strata --help loads neither the progress view nor any image code', () => {
  assert.deepEqual(modulesLoaded(['--help']).filter((u) => VIEW_MODULES.test(u)), []);
  // Which modules are imported when is the modules' own doing; the bundle keeps dynamic imports
  // lazy, so it runs no image code either.
  const loaded = modulesLoaded(['--help'], RUN_DIST);
  assert.ok(loaded.some((u) => u.endsWith('/dist/cli/main.js')), 'the log works');
  assert.deepEqual(loaded.filter((u) => VIEW_MODULES.test(u)), []);
  assert.deepEqual(loaded.filter((u) => /\/dist\/(format|fs|repair)\//.test(u) && !u.endsWith('/format/errors.js')), []);
});

test('a piped run without FORCE_COLOR does not load chalk: nothing to colour', () => {
  assert.deepEqual(modulesLoaded(['dump', 'super', image]).filter((u) => u.includes('/node_modules/chalk/')), []);
  assert.deepEqual(modulesLoaded(['dump', 'super', image], RUN_DIST).filter((u) => u.includes('/node_modules/chalk/')), []);
});

test('a piped mkfs --from that reports progress never loads ink or react', () => {
  const loaded = modulesLoaded(['mkfs', '--force', '--from', path.join(dir, 'src'), path.join(dir, 'piped.img')], RUN_DIST);
  assert.ok(loaded.some((u) => u.includes('/dist/fs/')), 'mkfs ran');
  assert.deepEqual(loaded.filter((u) => VIEW_MODULES.test(u)), []);
  assert.deepEqual(modulesLoaded(['mkfs', '--force', '--from', path.join(dir, 'src'), path.join(dir, 'piped.img')]).filter((u) => VIEW_MODULES.test(u)), []);
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
