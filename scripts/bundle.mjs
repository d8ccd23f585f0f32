// Bundle the compiled CLI (dist/, from tsc) into dist/bundle/: one file per entry point plus
// shared chunks, so that a command loads a handful of files instead of some sixty modules. The
// ES module loader spends about half a millisecond on each module it resolves, reads and links
// (docs/BENCH.md, startup); fsck of the bench image loads 20 ms faster bundled. Dynamic imports
// stay dynamic (--splitting), so `strata --help` still loads no image code. bin/strata runs the
// bundle when it is at least as new as dist/cli/main.js, and dist/ itself otherwise.
// The metafile (dist/bundle/meta.json) says which sources each output holds (test/cli/startup.test.ts).
// Usage: node scripts/bundle.mjs [DIST] (default: this repository's dist/).
import { build } from 'esbuild';
import { rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = process.argv[2] ? resolve(process.argv[2]) : join(root, 'dist');
const outdir = join(dist, 'bundle');
rmSync(outdir, { recursive: true, force: true });
const result = await build({
  absWorkingDir: root,
  // The progress view runs in a worker started from a path next to the module that starts it.
  entryPoints: [join(dist, 'cli', 'main.js'), join(dist, 'cli', 'progress-worker.js')],
  entryNames: '[name]',
  chunkNames: 'chunk-[hash]',
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // Packages stay where npm put them: native and WASM modules find their files there.
  packages: 'external',
  metafile: true,
  logLevel: 'warning',
});
writeFileSync(join(outdir, 'meta.json'), JSON.stringify(result.metafile));
