// Bundle the compiled CLI (dist/, from tsc) into dist/bundle/, which bin/strata runs when it is
// at least as new as dist/cli/main.js (bin/bundle.js loads it):
// - strata.cjs: every module the CLI reaches, as one CommonJS script. Modules that are imported
//   dynamically stay lazy (esbuild runs their top level at the import), so `strata --help` still
//   runs no image code.
// - strata.cjs.v8cache: V8's compiled code for that script after a set of typical commands ran
//   on a small image (the `--train` step below, in a child process with Node's default flags,
//   as bin/strata runs). Node 20 keeps no compiled code for ES modules between runs; with this
//   cache fsck of the bench image starts about 30 ms sooner (docs/fsck.md, Performance).
// - progress-worker.js: the progress view's worker, an ES module (ink and react are ES only).
// Usage: node scripts/bundle.mjs [DIST] (default: this repository's dist/).
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BUNDLE_FILE, CACHE_FILE, loadBundle } from '../bin/bundle.js';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
// Packages stay where npm put them (native and WASM modules find their files there, ES-only ones
// are imported as ES modules), except commander: plain JavaScript that every run executes,
// which inside the bundle is in the code cache.
const INLINED = ['commander'];
const EXTERNAL = Object.keys(JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')).dependencies).filter((p) => !INLINED.includes(p));

/**
 * commander requires node:child_process at load for executable subcommands, which strata has
 * none of; loading it pulls in net and dgram, about 3 ms of every start. In the bundle,
 * commander gets an object that loads the module on first use instead.
 */
const lazyChildProcess = {
  name: 'lazy-child-process',
  setup(b) {
    b.onResolve({ filter: /^(node:)?child_process$/ }, (args) => (args.importer.includes(`${path.sep}node_modules${path.sep}commander${path.sep}`) ? { path: 'lazy-child-process', namespace: 'lazy' } : undefined));
    b.onLoad({ filter: /.*/, namespace: 'lazy' }, () => ({
      contents: 'let real; module.exports = new Proxy({}, { get: (_, name) => (real ??= require("node:child_process"))[name] });',
      loader: 'js',
    }));
  },
};

if (process.argv[2] === '--train') await train(process.argv[3]);
else await bundle(process.argv[2] ? path.resolve(process.argv[2]) : path.join(root, 'dist'));

async function bundle(dist) {
  const outdir = path.join(dist, 'bundle');
  fs.rmSync(outdir, { recursive: true, force: true });
  const common = {
    absWorkingDir: root,
    bundle: true,
    platform: 'node',
    target: 'node20',
    logLevel: 'warning',
  };
  await build({
    ...common,
    external: EXTERNAL,
    plugins: [lazyChildProcess],
    entryPoints: [path.join(dist, 'cli', 'main.js')],
    outfile: path.join(outdir, BUNDLE_FILE),
    format: 'cjs',
    // import.meta does not exist in a script: its URL is the bundle's own, so the worker and the
    // native modules are found from dist/bundle/ as from dist/cli/.
    define: { 'import.meta.url': '__bundleUrl' },
    banner: { js: 'const __bundleUrl = require("node:url").pathToFileURL(__filename).href;' },
  });
  await build({ ...common, entryPoints: [path.join(dist, 'cli', 'progress-worker.js')], outdir, format: 'esm', packages: 'external' });
  routeDynamicImports(path.join(outdir, BUNDLE_FILE));
  // Without the cache the bundle runs as well, only compiles as it goes: a failure here warns.
  const trained = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--train', outdir], { stdio: ['ignore', 'ignore', 'inherit'] });
  if (trained.status !== 0) console.warn(`scripts/bundle.mjs: no code cache: training exited ${trained.status ?? trained.signal}; strata will start slower`);
}

/**
 * `import("pkg")` -> `__import("pkg")`: the loader's import, since functions from V8's code
 * cache cannot import dynamically themselves. Only literal specifiers are expected (the bundle's
 * own modules are inlined); anything else stops the build.
 */
function routeDynamicImports(file) {
  const source = fs.readFileSync(file, 'utf8').replace(/(?<![\w$.])import\((?=["'])/g, '__import(');
  const left = /(?<![\w$.])import\(/.exec(source);
  if (left) throw new Error(`${file}: a dynamic import without a literal specifier at offset ${left.index}`);
  fs.writeFileSync(file, source);
}

/** Run typical commands in this process on a small image, then write V8's code cache of the bundle. */
async function train(outdir) {
  const { exports, script } = loadBundle(outdir, { cache: false });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-train-'));
  // main() listens on stdout once per run, for EPIPE.
  process.stdout.setMaxListeners(0);
  try {
    const src = path.join(dir, 'src');
    fs.mkdirSync(path.join(src, 'sub'), { recursive: true });
    for (let i = 0; i < 40; i++) fs.writeFileSync(path.join(src, i % 4 ? 'sub' : '', `f${i}`), `file ${i}\n`.repeat(i * 50));
    fs.symlinkSync('f0', path.join(src, 'link'));
    const img = path.join(dir, 'train.img');
    const runs = [
      ['--help'],
      ['mkfs', '--from', src, img],
      ['fsck', '-n', img],
      ['fsck', '-n', '--json', img],
      ['fsck', '-y', img],
      ['scrub', '-n', img],
      ['dump', 'super', img],
      ['dump', 'usage', img],
      ['dump', 'ls', '-R', img, '/'],
      ['dump', 'cat', img, '/sub/f1'],
      ['dump', 'extract', img, '/', path.join(dir, 'out')],
      ['put', img, path.join(src, 'f4'), '/f4-copy'],
    ];
    for (const argv of runs) {
      const code = await exports.main(argv, { ...process.env, CI: '1', NO_COLOR: '1' });
      if (code !== 0) throw new Error(`strata ${argv.join(' ')} exited ${code} while training the code cache`);
    }
    // Whole or not at all, for a strata that starts while this runs.
    const cacheFile = path.join(outdir, CACHE_FILE);
    fs.writeFileSync(`${cacheFile}.tmp`, script.createCachedData());
    fs.renameSync(`${cacheFile}.tmp`, cacheFile);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
