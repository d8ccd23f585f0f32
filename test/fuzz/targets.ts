// What the fuzzer runs on each mutated image, and what counts as a finding.
//
// In-process targets (fast: thousands of inputs a minute) call the same library functions the
// commands call: superblock and node decoding, openImage, dump super/usage/btree, the
// `dump ls -R` listing, `dump cat` of every file, `dump tar` and `dump extract`. CLI targets
// run bin/strata on a sample of inputs, for exit codes and one-line errors. fsck and scrub are
// hooks: they switch on by themselves once commands/index.ts lists them.
//
// The contract checked: every failure is a StrataError (format/errors.ts) with a one-line
// message, or a per-item warning through the documented onWarning/onDamage hooks; nothing is
// written outside the extraction folder; each input finishes within its time bound.
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { decodeNode, NodeError } from '../../format/btree/node.js';
import type { Checksummer } from '../../format/checksum.js';
import { CorruptImageError, StrataError } from '../../format/errors.js';
import type { Image } from '../../format/image.js';
import { Volume } from '../../format/volume.js';
import { checkKey, KEY_OPS, type Key } from '../../format/keys.js';
import { BTREE_NAMES, SB_MAX_SIZE, SB_OFFSET, SB_TAIL } from '../../format/layout.js';
import { decodeSuperblock } from '../../format/superblock.js';
import { btreeNodes, listTree, superInfo, usageInfo } from '../../fs/inspect.js';
import { extract, walkImage, writeTar } from '../../fs/export.js';
import { FsReader } from '../../fs/reader.js';
import { readTar } from '../../fs/tar/reader.js';
import { STRATA } from '../helpers/cli.js';
import type { ImageModel } from './model.js';

/** STRATA_FUZZ_TRACE=1: name each target as it starts (to find the one that hangs). */
const TRACE = process.env.STRATA_FUZZ_TRACE === '1';

/** Why an input is a finding. */
export type FindingKind = 'crash' | 'timeout' | 'memory' | 'escape' | 'exit-code' | 'message' | 'tar-output' | 'wrote-read-only' | 'fsck-not-clean';

export class Finding extends Error {
  constructor(readonly kind: FindingKind, readonly target: string, message: string, readonly detail?: string) {
    super(message);
  }
}

/** The input went past the output cap: a claimed size larger than a 1 MiB image can back (sparse files). */
class OutputCapped extends Error {}

export interface TargetEnv {
  checksums: Checksummer;
  model: ImageModel;
  /** member files of the current input */
  memberPaths: string[];
  /** folder holding `out` (extraction destination) and `sentinel`, nothing else */
  sandbox: string;
  /** paths of the regular files of the seed image, for `dump cat` */
  seedFiles: string[];
  /** time bound of one target run on this input */
  timeBoundMs: number;
  /** wall-clock deadline of the target running now (ms since epoch) */
  deadline: number;
  /** bytes of output (cat, tar) after which a target stops and counts as capped */
  outputCap: number;
  /** told the name of each target as it starts (the runner names the target of a hang) */
  onTarget?: (target: string) => void;
}

export interface TargetResult {
  target: string;
  outcome: 'ok' | 'rejected' | 'capped';
  ms: number;
}

/** A caught error that is acceptable: a StrataError with a one-line message. */
function accept(target: string, err: unknown): 'rejected' | 'capped' {
  if (err instanceof OutputCapped) return 'capped';
  if (err instanceof Finding) throw err;
  if (err instanceof StrataError) {
    if (/[\n\r]/.test(err.message)) throw new Finding('message', target, `${err.constructor.name} message spans lines: ${JSON.stringify(err.message.slice(0, 200))}`);
    return 'rejected';
  }
  const e = err as Error;
  throw new Finding('crash', target, `${e?.constructor?.name ?? typeof err}: ${e?.message ?? String(err)}`, e?.stack);
}

/**
 * Run one item of a multi-item target (one file of `cat`, one btree of `dump btree`): an
 * acceptable error ends only that item. Returns whether the item was rejected.
 */
function each(target: string, body: () => void): boolean {
  try {
    body();
    return false;
  } catch (err) {
    return accept(target, err) === 'rejected';
  }
}

function checkDeadline(env: TargetEnv, target: string): void {
  if (Date.now() > env.deadline) throw new Finding('timeout', target, 'input ran past its time bound');
}

/**
 * Run one target with its own time bound. A body may return 'rejected' when some of its items
 * were refused with a StrataError but the rest ran.
 */
async function run(env: TargetEnv, results: TargetResult[], target: string, body: () => Promise<unknown> | unknown): Promise<boolean> {
  const start = Date.now();
  env.deadline = start + env.timeBoundMs;
  if (TRACE) process.stderr.write(`fuzz: target ${target}\n`);
  env.onTarget?.(target);
  let outcome: TargetResult['outcome'] = 'ok';
  try {
    if ((await body()) === 'rejected') outcome = 'rejected';
  } catch (err) {
    outcome = accept(target, err);
  }
  checkDeadline(env, target);
  results.push({ target, outcome, ms: Date.now() - start });
  return outcome === 'ok';
}

// ---------------------------------------------------------------------------------------------
// Decoders, straight on the bytes

function superblockTarget(members: Buffer[], env: TargetEnv): void {
  for (const [member, buf] of members.entries()) {
    for (const offset of [SB_OFFSET, buf.length - SB_TAIL]) {
      if (offset < SB_OFFSET || offset + 256 > buf.length) continue;
      try {
        decodeSuperblock(buf.subarray(offset, offset + Math.min(SB_MAX_SIZE, buf.length - offset)), env.checksums.crc32c, { member: `m${member}`, offset });
      } catch (err) {
        if (!(err instanceof CorruptImageError)) throw err;
        accept('superblock-decode', err);
      }
    }
  }
}

/** Every node location of the seed, decoded as its parent expects; every key checked as dump btree does. */
function nodeTarget(members: Buffer[], env: TargetEnv): void {
  const { fs: info } = env.model;
  for (const n of env.model.nodes) {
    for (const c of n.ref.copies) {
      const buf = members[c.member];
      if (!buf || c.offset + info.nodeSize > buf.length) continue;
      let keys: Key[];
      try {
        keys = decodeNode(buf.subarray(c.offset, c.offset + info.nodeSize), {
          btreeId: n.ref.btreeId, level: n.ref.level, fsMagic: info.fsUuid.subarray(0, 8), checksum: n.checksum, seq: n.seq, min: n.min, max: n.max,
        }, env.checksums).keys;
      } catch (err) {
        if (err instanceof NodeError) continue;
        throw err;
      }
      for (const k of keys) {
        const problem = checkKey(k);
        const ops = KEY_OPS[k.type];
        if (!problem && ops) ops.toText(ops.decode(k.value));
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Through openImage, as the commands do

type JournalModule = {
  scanRing: (layer: Image['layer'], fs: Image['fs'], member: number, checksums: Checksummer) => { entries: Array<{ items: Array<{ key: Key }> }> };
  replayable: (scans: unknown[], fromSeq: number) => { entries: Array<{ items: Array<{ key: Key }> }> };
};

let journalModule: JournalModule | null | undefined;

/**
 * HOOK (journal replay): format/journal.ts is being written; when it exports scanRing and
 * replayable, the fuzzer scans every ring and checks every replayable item. Replace this with
 * the real replay entry point (in-memory, read-only) once openImage replays the journal.
 */
async function loadJournalModule(): Promise<JournalModule | null> {
  if (journalModule !== undefined) return journalModule;
  try {
    const mod = (await import('../../format/journal.js')) as Partial<JournalModule>;
    journalModule = typeof mod.scanRing === 'function' && typeof mod.replayable === 'function' ? (mod as JournalModule) : null;
  } catch {
    journalModule = null;
  }
  return journalModule;
}

export interface InputOptions {
  /** run the in-process scrub -n and fsck hooks this input */
  repair: boolean;
  /** run `dump tar` this input */
  tar: boolean;
  /** parse the tar stream back with our reader (only when it is small) */
  tarRoundTrip: boolean;
  /** run `dump extract` this input */
  extract: boolean;
}

export async function runInProcess(members: Buffer[], env: TargetEnv, options: InputOptions): Promise<TargetResult[]> {
  const results: TargetResult[] = [];
  await run(env, results, 'superblock-decode', () => superblockTarget(members, env));
  await run(env, results, 'node-decode', () => nodeTarget(members, env));

  // Opened as the dump commands open it (commands/common.ts): read-only, journal replayed in
  // memory, so replay of a mutated journal entry is exercised too.
  let vol: Volume | undefined;
  const opened = await run(env, results, 'open', async () => {
    vol = await Volume.open(env.memberPaths.join(':'), { allowDegraded: true, onDamage: () => undefined });
  });
  if (!opened || !vol) return results;
  const volume = vol;
  const image = vol.img;
  try {
    const reader = new FsReader(image);
    const journal = await loadJournalModule();
    if (journal) {
      await run(env, results, 'journal-scan', () => {
        const scans = image.fs.members.map((_, m) => journal.scanRing(image.layer, image.fs, m, env.checksums));
        for (const e of journal.replayable(scans, image.fs.journalSeq).entries) for (const it of e.items) checkKey(it.key);
      });
    }
    await run(env, results, 'dump-super', () => void superInfo(image));
    await run(env, results, 'dump-usage', () => void usageInfo(image));
    // `dump btree <name>` for each btree: one execution, each btree its own command.
    await run(env, results, 'dump-btree', () => {
      let rejected = false;
      for (const id of BTREE_NAMES.keys()) {
        rejected = each('dump-btree', () => {
          let i = 0;
          for (const n of btreeNodes(image, id)) {
            void n;
            if ((++i & 63) === 0) checkDeadline(env, 'dump-btree');
          }
        }) || rejected;
      }
      return rejected ? 'rejected' : 'ok';
    });
    await run(env, results, 'ls-R', () => {
      let rows = 0;
      for (const row of listTree(reader, '/', true)) {
        void row;
        if ((++rows & 255) === 0) checkDeadline(env, 'ls-R');
      }
    });
    // `dump cat` of every file of the seed: one execution, each file its own command.
    await run(env, results, 'cat', () => {
      let rejected = false;
      for (const p of env.seedFiles) {
        rejected = each('cat', () => {
          const { inum, inode } = reader.lookup(p);
          let bytes = 0;
          for (const piece of reader.pieces(inum, inode.size, p)) {
            bytes += 'data' in piece ? piece.data.length : piece.hole;
            if (bytes > env.outputCap) throw new OutputCapped();
            checkDeadline(env, 'cat');
          }
        }) || rejected;
      }
      return rejected ? 'rejected' : 'ok';
    });
    await run(env, results, 'walk', () => {
      let n = 0;
      for (const item of walkImage(reader, '/', { onWarning: () => undefined })) {
        void item;
        if ((++n & 255) === 0) checkDeadline(env, 'walk');
      }
    });
    if (options.tar) {
      let kept: Buffer[] | undefined = options.tarRoundTrip ? [] : undefined;
      let total = 0;
      const ok = await run(env, results, 'tar', async () => {
        await writeTar(reader, '/', (chunk) => {
          total += chunk.length;
          if (total > env.outputCap) throw new OutputCapped();
          if (kept && total <= 4 << 20) kept.push(Buffer.from(chunk));
          else kept = undefined;
          if ((total & 0xfffff) < chunk.length) checkDeadline(env, 'tar');
        }, { onWarning: () => undefined });
      });
      if (ok && kept) {
        // Our own tar output must read back with our own (hostile-input) tar reader.
        try {
          for await (const m of readTar([Buffer.concat(kept)], { archiveName: 'dump tar output' })) {
            if (m.content) for await (const c of m.content) void c;
          }
        } catch (err) {
          throw new Finding('tar-output', 'tar', `dump tar wrote an archive our reader refuses: ${(err as Error).message}`);
        }
      }
    }
    if (options.extract) {
      const before = snapshotSandbox(env.sandbox);
      await run(env, results, 'extract', async () => {
        try {
          await extract(reader, '/', path.join(env.sandbox, 'out'), { privileged: false, onWarning: () => undefined });
        } catch (err) {
          // The host's own refusals are errors a user sees as one clean line (cli/main.ts).
          const code = (err as NodeJS.ErrnoException).code;
          if (code === 'ENOSPC' || code === 'EIO' || code === 'EACCES' || code === 'EROFS') return;
          throw err;
        }
      });
      checkSandbox(env.sandbox, before, 'extract');
      resetSandbox(env.sandbox);
    }
  } finally {
    volume.abandon();
  }
  if (options.repair) await runRepairHooks(members, env, results);
  return results;
}

type ScrubModule = { scrubImage: (spec: string, o: { dryRun: boolean; metadataOnly: boolean }) => Promise<unknown> };
type FsckModule = { runFsck: (spec: string, o: { mode: 'check' | 'yes' }) => Promise<{ summary: { exitCode: number }; problems: Array<{ code: string; severity: string }> }> };

async function optionalModule<T>(command: string, load: () => Promise<unknown>, has: (m: Record<string, unknown>) => boolean): Promise<T | undefined> {
  if (!(await availableCommands()).has(command)) return undefined;
  try {
    const m = (await load()) as Record<string, unknown>;
    return has(m) ? (m as T) : undefined;
  } catch {
    return undefined;
  }
}

/** The member files still hold exactly the input's bytes. */
function unchanged(members: Buffer[], paths: string[]): boolean {
  return paths.every((p, i) => {
    try {
      return fs.readFileSync(p).equals(members[i]!);
    } catch {
      return false;
    }
  });
}

/**
 * HOOKS (scrub -n, fsck -n, fsck -y), in process: each switches on when commands/index.ts
 * lists its command and repair/ exports its entry point (scrubImage, runFsck). -n must not
 * write a byte; after fsck -y reports 0 or 1, a second fsck -n must find the image clean.
 * Run last: fsck -y rewrites the members.
 */
async function runRepairHooks(members: Buffer[], env: TargetEnv, results: TargetResult[]): Promise<void> {
  const spec = env.memberPaths.join(':');
  const scrub = await optionalModule<ScrubModule>('scrub', () => import('../../repair/scrub.js'), (m) => typeof m.scrubImage === 'function');
  if (scrub) {
    await run(env, results, 'scrub -n', () => scrub.scrubImage(spec, { dryRun: true, metadataOnly: false }));
    if (!unchanged(members, env.memberPaths)) throw new Finding('wrote-read-only', 'scrub -n', 'scrub -n changed a member file');
  }
  const fsck = await optionalModule<FsckModule>('fsck', () => import('../../repair/fsck.js'), (m) => typeof m.runFsck === 'function');
  if (fsck) {
    await run(env, results, 'fsck -n', () => fsck.runFsck(spec, { mode: 'check' }));
    if (!unchanged(members, env.memberPaths)) throw new Finding('wrote-read-only', 'fsck -n', 'fsck -n changed a member file');
    let first = -1;
    const ran = await run(env, results, 'fsck -y', async () => {
      first = (await fsck.runFsck(spec, { mode: 'yes' })).summary.exitCode;
    });
    if (ran && (first === 0 || first === 1)) {
      let again = -1;
      let left: string[] = [];
      await run(env, results, 'fsck -n after -y', async () => {
        const r = await fsck.runFsck(spec, { mode: 'check' });
        again = r.summary.exitCode;
        left = [...new Set(r.problems.filter((p) => p.severity !== 'info').map((p) => p.code))].sort();
      });
      // The problem codes left make the finding's signature: one per distinct repair gap.
      if (again !== 0) throw new Finding('fsck-not-clean', 'fsck -y', `fsck -n after fsck -y (exit ${first}) exited ${again}: ${left.join(' ') || 'no problem codes'}`);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The extraction sandbox: `out` is the destination; `sentinel` (and the sandbox itself) must
// never change. The seed images hold symlinks climbing to ../sentinel.

export function prepareSandbox(sandbox: string): void {
  fs.rmSync(sandbox, { recursive: true, force: true });
  fs.mkdirSync(path.join(sandbox, 'sentinel'), { recursive: true });
  fs.writeFileSync(path.join(sandbox, 'sentinel', 'keep'), 'sentinel\n');
}

export function resetSandbox(sandbox: string): void {
  fs.rmSync(path.join(sandbox, 'out'), { recursive: true, force: true });
}

/** Names, types, sizes and content hashes of everything in the sandbox except `out`. */
export function snapshotSandbox(sandbox: string): string {
  const lines: string[] = [];
  const walk = (dir: string, rel: string) => {
    for (const name of fs.readdirSync(dir).sort()) {
      if (rel === '' && name === 'out') continue;
      const p = path.join(dir, name);
      const st = fs.lstatSync(p);
      const r = `${rel}/${name}`;
      if (st.isDirectory()) {
        lines.push(`${r}/ ${st.mode.toString(8)}`);
        walk(p, r);
      } else if (st.isFile()) lines.push(`${r} ${st.mode.toString(8)} ${crypto.createHash('sha256').update(fs.readFileSync(p)).digest('hex')}`);
      else lines.push(`${r} ${st.mode.toString(8)}`);
    }
  };
  walk(sandbox, '');
  // Also the places the seed's absolute symlink points at.
  if (fs.existsSync('/tmp/strata-fuzz-sentinel-never-written')) lines.push('/tmp/strata-fuzz-sentinel-never-written exists');
  return lines.join('\n');
}

function checkSandbox(sandbox: string, before: string, target: string): void {
  const after = snapshotSandbox(sandbox);
  if (after !== before) throw new Finding('escape', target, 'something outside the extraction folder changed', `before:\n${before}\nafter:\n${after}`);
}

// ---------------------------------------------------------------------------------------------
// Through the CLI

export interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdoutBytes: number;
  stderr: string;
  ms: number;
  capped: boolean;
  timedOut: boolean;
}

export function runCli(args: string[], timeoutMs: number, outputCap: number): Promise<CliRun> {
  return new Promise((resolve) => {
    const start = Date.now();
    const child = spawn(process.execPath, [process.env.STRATA_FUZZ_CLI ?? STRATA, ...args], { env: { ...process.env, CI: '1', NO_COLOR: '1', STRATA_DEBUG: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdoutBytes = 0;
    let stderr = '';
    let capped = false;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout.on('data', (c: Buffer) => {
      stdoutBytes += c.length;
      if (stdoutBytes > outputCap && !capped) {
        capped = true;
        child.kill('SIGKILL');
      }
    });
    child.stderr.on('data', (c: Buffer) => {
      if (stderr.length < 65536) stderr += c.toString();
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdoutBytes, stderr, ms: Date.now() - start, capped, timedOut });
    });
  });
}

/**
 * The lines of stderr that are not warnings. Progress lines also start with "strata: ", so the
 * error is taken to be the last line; a message spanning lines shows up as a line that does
 * not start with "strata: ".
 */
export function errorLines(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('strata: warning:'));
}

/** Exit codes each command documents (fsck(8) convention, docs/ and DESIGN.md section 4). */
const DOCUMENTED_EXIT: Record<string, readonly number[]> = {
  dump: [0, 4, 8],
  fsck: [0, 1, 4, 8],
  scrub: [0, 1, 4, 8],
};

export function checkCliRun(name: string, args: string[], r: CliRun): 'ok' | 'rejected' | 'capped' {
  const shown = `strata ${args.join(' ')}`;
  if (r.capped) return 'capped';
  if (r.timedOut) throw new Finding('timeout', name, `${shown} ran past its time bound`);
  if (r.code === null) throw new Finding('crash', name, `${shown} died of ${r.signal}`, r.stderr);
  if (!(DOCUMENTED_EXIT[args[0]!] ?? [0, 8]).includes(r.code)) throw new Finding('exit-code', name, `${shown} exited ${r.code}`, r.stderr);
  if (/internal error|\n\s+at /.test(r.stderr)) throw new Finding('crash', name, `${shown}: ${errorLines(r.stderr).pop() ?? r.stderr}`, r.stderr);
  const lines = errorLines(r.stderr);
  if (lines.some((l) => !l.startsWith('strata: '))) throw new Finding('message', name, `${shown} wrote a stderr line that is not one "strata: " line`, r.stderr);
  // Exit 1 and 4 of fsck and scrub come with their report on stdout; an operational error
  // (8) must say why on stderr.
  if (r.code === 8 && lines.length === 0) throw new Finding('message', name, `${shown} exited ${r.code} without an error line`, r.stderr);
  if (r.code !== 0) return 'rejected';
  return 'ok';
}

const hashFiles = (paths: string[]) => paths.map((p) => (fs.existsSync(p) ? crypto.createHash('sha256').update(fs.readFileSync(p)).digest('hex') : 'absent')).join(',');

let commandNames: Promise<Set<string>> | undefined;

/** Subcommands the CLI has today; the fsck and scrub targets switch on when they appear. */
export function availableCommands(): Promise<Set<string>> {
  commandNames ??= import('../../commands/index.js').then((m) => new Set(m.COMMANDS.map((c: { name: string }) => c.name)));
  return commandNames;
}

export async function runCliTargets(env: TargetEnv, pick: (n: number) => number, timeoutMs: number): Promise<TargetResult[]> {
  const results: TargetResult[] = [];
  const spec = env.memberPaths.join(':');
  const once = async (name: string, args: string[], after?: (r: CliRun) => void) => {
    env.onTarget?.(name);
    const r = await runCli(args, timeoutMs, env.outputCap);
    const outcome = checkCliRun(name, args, r);
    after?.(r);
    results.push({ target: name, outcome, ms: r.ms });
    return { r, outcome };
  };
  await once('cli:dump ls -R', ['dump', 'ls', '-R', spec, '/']);
  if (env.seedFiles.length) await once('cli:dump cat', ['dump', 'cat', spec, env.seedFiles[pick(env.seedFiles.length)]!]);
  await once('cli:dump tar', ['dump', 'tar', spec, '/']);
  const before = snapshotSandbox(env.sandbox);
  await once('cli:dump extract', ['dump', 'extract', spec, '/', path.join(env.sandbox, 'out')]);
  checkSandbox(env.sandbox, before, 'cli:dump extract');
  resetSandbox(env.sandbox);

  const commands = await availableCommands();
  // HOOK (scrub): enabled when commands/index.ts lists "scrub"; -n must not write a byte.
  if (commands.has('scrub')) {
    const hash = hashFiles(env.memberPaths);
    await once('cli:scrub -n', ['scrub', '-n', spec]);
    if (hashFiles(env.memberPaths) !== hash) throw new Finding('wrote-read-only', 'cli:scrub -n', 'scrub -n changed a member file');
  }
  // HOOK (fsck): enabled when commands/index.ts lists "fsck". -n must not write a byte; -y must
  // leave an image that the next fsck -n finds clean (exit 0) unless it reported data lost (4).
  if (commands.has('fsck')) {
    const hash = hashFiles(env.memberPaths);
    await once('cli:fsck -n', ['fsck', '-n', spec]);
    if (hashFiles(env.memberPaths) !== hash) throw new Finding('wrote-read-only', 'cli:fsck -n', 'fsck -n changed a member file');
    const fixed = await once('cli:fsck -y', ['fsck', '-y', spec]);
    if (fixed.r.code === 0 || fixed.r.code === 1) {
      const again = await once('cli:fsck -n after -y', ['fsck', '-n', spec]);
      if (again.r.code !== 0) throw new Finding('fsck-not-clean', 'cli:fsck -y', `fsck -n after fsck -y (exit ${fixed.r.code}) exited ${again.r.code}`, again.r.stderr);
    }
  }
  return results;
}
