// Loads the CLI bundle, dist/bundle/strata.cjs (scripts/bundle.mjs), with the V8 code cache
// built beside it. Node 20 caches no compiled code between runs of ES modules, so the bundle is
// one CommonJS script compiled here through vm.Script, which takes V8's cached data: the
// bytecode of every function a set of typical commands ran when the bundle was built. A run
// then compiles almost nothing (fsck of the bench image starts about 30 ms sooner). V8 checks
// the cache against its own version, its flags and the script's length, and compiles normally
// when the cache does not fit (another Node, or node started with V8 flags); a cache older than
// its bundle is not read at all.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import vm from 'node:vm';

export const BUNDLE_FILE = 'strata.cjs';
export const CACHE_FILE = 'strata.cjs.v8cache';

// The bundle's own dynamic imports (of ES-only packages) are turned into calls of `__import`,
// this module's import(): V8 does not let cached functions of a vm.Script import dynamically.
const HEAD = '(function (exports, require, module, __filename, __dirname, __import) {';
const TAIL = '\n})';

/**
 * Run the bundle's top level in this context and return its exports, with the script (for
 * `createCachedData`) and whether V8 rejected the cache (undefined: none was read).
 */
export function loadBundle(dir, { cache = true } = {}) {
  const file = path.resolve(dir, BUNDLE_FILE);
  const source = fs.readFileSync(file, 'utf8');
  let cachedData;
  if (cache) {
    const cacheFile = path.resolve(dir, CACHE_FILE);
    const cacheTime = fs.statSync(cacheFile, { throwIfNoEntry: false })?.mtimeMs;
    if (cacheTime !== undefined && cacheTime >= fs.statSync(file).mtimeMs) cachedData = fs.readFileSync(cacheFile);
  }
  const script = new vm.Script(HEAD + source + TAIL, { filename: file, cachedData });
  const module = { exports: {} };
  script.runInThisContext().call(module.exports, module.exports, createRequire(file), module, file, path.dirname(file), (specifier) => import(specifier));
  return { exports: module.exports, script, cacheRejected: cachedData ? script.cachedDataRejected : undefined };
}
