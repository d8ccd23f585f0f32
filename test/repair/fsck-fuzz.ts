// Field fuzzing for fsck, in the xfstests shape: for every field of every on-disk structure of
// the fuzz seed images (test/fuzz/seeds.ts: populated, one with replicas and zstd, one with
// two-level btrees), apply zero / all-ones / flip a bit / +1 / -1 (and, for names, "/", NUL
// and dots), once with checksums fixed up (test/fuzz/mutate.ts) and once without. Then, in
// process:
//   fsck -n   finishes within the time bound, without an exception that is not a StrataError,
//             and changes no byte;
//   fsck -y   exits 0, 1 or 4;
//   fsck -n   afterwards exits 0 when -y exited 0 or 1;
//   and every regular file and symlink the damage cannot have touched (keys outside the
//   damaged node, inodes other than its owner) reads back with the same content and metadata.
//
// Short run (part of npm test): test/repair/fsck-fuzz.test.ts. Full run:
//   node --import tsx test/repair/fsck-fuzz.ts --full [--shard i/n] [--limit N] [--seed S]
// (582,202 mutations: every field of every instance), or, with --every-verb instead of --full,
// one instance of each structure kind and field of each seed, with every verb, with and without
// fix-up.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { decodeNode } from '../../format/btree/node.js';
import { loadChecksummer, type Checksummer } from '../../format/checksum.js';
import { StrataError } from '../../format/errors.js';
import { decodeBtreePointer, type Key, ops } from '../../format/keys.js';
import { BTREE, KEY_TYPE, MAX_BTREE_DEPTH } from '../../format/layout.js';
import { Volume } from '../../format/volume.js';
import { FsReader } from '../../fs/reader.js';
import { runFsck } from '../../repair/fsck.js';
import { modelImage, type NodeRef, type StructureSite, type ImageModel } from '../fuzz/model.js';
import { applySteps, FIELD_VERBS, mutationContext, NAME_VERBS, type MutationContext, type Step, type WorkingImage } from '../fuzz/mutate.js';
import { Rng } from '../fuzz/random.js';
import { buildVariants, VARIANTS, type BuiltVariant } from '../fuzz/seeds.js';

/** Wall-clock bound of one fsck run on these 1 MiB images. */
export const FSCK_TIME_BOUND_MS = 10_000;

/** What a reader sees of a file: everything a repair must not change when the damage is elsewhere. */
type FileState = string;

export interface FuzzVariant {
  built: BuiltVariant;
  model: ImageModel;
  ctx: MutationContext;
  files: Map<number, FileState>;
  /** inodes a damaged node's keys belong to (and name), by node identity */
  touchedByNode: Map<string, Set<number>>;
}

export interface Mutation {
  variant: number;
  step: Extract<Step, { op: 'field' }>;
}

export interface MutationResult {
  mutation: Mutation;
  exits: [number, number, number];
  ms: number;
  /** a broken contract, or undefined */
  failure?: string;
}

export async function prepareVariants(dir: string): Promise<FuzzVariant[]> {
  const checksums = await loadChecksummer();
  const built = await buildVariants(dir, VARIANTS);
  const out: FuzzVariant[] = [];
  for (const b of built) {
    const model = modelImage(b.members, checksums);
    const paths = writeImage(path.join(dir, `seed-${b.spec.name}`), b.members);
    out.push({ built: b, model, ctx: mutationContext(model, checksums), files: await fileStates(paths.join(':')), touchedByNode: touchedByNode(model, b.members, checksums) });
  }
  return out;
}

function writeImage(prefix: string, members: Buffer[]): string[] {
  return members.map((m, i) => {
    const p = `${prefix}.m${i}.img`;
    fs.writeFileSync(p, m);
    return p;
  });
}

/** Content and metadata of every regular file and symlink, by inode number. */
async function fileStates(spec: string): Promise<Map<number, FileState>> {
  const vol = await Volume.open(spec, {});
  try {
    const reader = new FsReader(vol.img);
    const out = new Map<number, FileState>();
    for (const k of vol.trees[BTREE.inodes]!.range()) {
      if (k.type !== KEY_TYPE.inode) continue;
      const v = ops.inode.decode(k.value);
      const ifmt = v.mode & 0o170000;
      if (ifmt !== 0o100000 && ifmt !== 0o120000) continue;
      const h = crypto.createHash('sha256');
      try {
        // A damaged size can claim petabytes: holes are hashed by length, not zero-filled.
        for (const p of reader.pieces(k.inode, v.size, `inode ${k.inode}`)) h.update('data' in p ? p.data : `hole ${p.hole}`);
      } catch (err) {
        if (!(err instanceof StrataError)) throw err;
        h.update(`unreadable: ${err.message}`);
      }
      const xattrs = reader.xattrs(k.inode).map((x) => `${x.name.toString('hex')}=${x.value.toString('hex')}`).join(',');
      out.set(k.inode, `${v.mode.toString(8)} ${v.uid}:${v.gid} size ${v.size} mtime ${v.mtime_sec}.${v.mtime_nsec} ${h.digest('hex').slice(0, 16)} ${xattrs}`);
    }
    return out;
  } finally {
    vol.abandon();
  }
}

const nodeId = (ref: NodeRef) => ref.copies.map((c) => `${c.member}@${c.offset}`).join(',');

/**
 * For every node: the inodes whose keys are in its subtree, and the targets its dirents name.
 * Damage inside a node can change those files, and only those (the alloc btree names no file).
 */
function touchedByNode(model: ImageModel, members: Buffer[], checksums: Checksummer): Map<string, Set<number>> {
  const keysOf = new Map<string, { ref: NodeRef; keys: Key[] }>();
  const fsMagic = model.fs.fsUuid.subarray(0, 8);
  for (const n of model.nodes) {
    const c = n.ref.copies[0]!;
    const node = decodeNode(members[c.member]!.subarray(c.offset, c.offset + model.fs.nodeSize), { btreeId: n.ref.btreeId, level: n.ref.level, fsMagic }, checksums);
    keysOf.set(nodeId(n.ref), { ref: n.ref, keys: node.keys.map((k) => ({ ...k, value: Buffer.from(k.value) })) });
  }
  const out = new Map<string, Set<number>>();
  const collect = (id: string, into: Set<number>, depth: number): void => {
    const n = keysOf.get(id);
    if (!n || depth > MAX_BTREE_DEPTH || n.ref.btreeId === BTREE.alloc) return;
    for (const k of n.keys) {
      if (k.type === KEY_TYPE.btreePointer) {
        collect(decodeBtreePointer(k.value).pointers.map((c) => `${c.member}@${c.offset}`).join(','), into, depth + 1);
        continue;
      }
      into.add(k.inode);
      if (k.type === KEY_TYPE.dirent) into.add(ops.dirent.decode(k.value).target);
    }
  };
  for (const id of keysOf.keys()) {
    const set = new Set<number>();
    collect(id, set, 0);
    out.set(id, set);
  }
  return out;
}

/**
 * Every field mutation of every site (full); or one site per site kind and field name, with
 * every verb, with and without fix-up (everyVerb); or (sampled) that site with one random verb
 * and fix-up.
 */
export function mutations(variants: FuzzVariant[], options: { full: boolean; seed: number; everyVerb?: boolean }): Mutation[] {
  const rng = new Rng(options.seed);
  const out: Mutation[] = [];
  variants.forEach((v, variant) => {
    const sampled = new Set<string>();
    for (const site of v.model.sites) {
      for (const field of site.fields) {
        const verbs = field.kind === 'name' ? [...FIELD_VERBS, ...NAME_VERBS] : [...FIELD_VERBS];
        if (!options.full) {
          const kind = `${site.kind} ${field.name} ${site.id.split(' ').slice(0, 3).join(' ')}`;
          if (sampled.has(kind)) continue;
          sampled.add(kind);
          if (options.everyVerb) {
            for (const verb of verbs) for (const fixup of [true, false]) out.push({ variant, step: { op: 'field', site: site.id, field: field.name, verb, byte: rng.int(field.size), bit: rng.int(8), fixup, replicas: false } });
            continue;
          }
          out.push({ variant, step: { op: 'field', site: site.id, field: field.name, verb: rng.pick(verbs), byte: rng.int(field.size), bit: rng.int(8), fixup: rng.chance(0.5), replicas: false } });
          continue;
        }
        for (const verb of verbs) {
          for (const fixup of [true, false]) {
            out.push({ variant, step: { op: 'field', site: site.id, field: field.name, verb, byte: rng.int(field.size), bit: rng.int(8), fixup, replicas: false } });
          }
        }
      }
    }
  });
  return out;
}

/** Inodes the mutation may change; undefined when it may change any. */
function touched(v: FuzzVariant, site: StructureSite, work: WorkingImage, step: Mutation['step']): Set<number> | undefined {
  const fx = site.fixup;
  switch (fx.kind) {
    case 'superblock':
      return new Set();
    case 'journal':
      // The seed's stale journal entry names inode 2 from the root.
      return new Set([1, 2]);
    case 'node':
    case 'extent-data': {
      const set = new Set(v.touchedByNode.get(nodeId(fx.node)) ?? []);
      if (site.kind === 'key-header' && step.field === 'inode') {
        // The key moved to whatever inode the damaged field now names.
        const f = site.fields.find((x) => x.name === 'inode')!;
        set.add(Number(work.members[f.member]!.readBigUInt64LE(f.offset) & BigInt(Number.MAX_SAFE_INTEGER)));
      }
      return set;
    }
  }
}

export async function runMutation(dir: string, v: FuzzVariant, m: Mutation): Promise<MutationResult> {
  const work: WorkingImage = { members: v.built.members.map((b) => Buffer.from(b)) };
  applySteps([m.step], work, v.ctx);
  const site = v.ctx.sitesById.get(m.step.site)!;
  const spec = writeImage(path.join(dir, 'fuzz'), work.members).join(':');
  const start = Date.now();
  const exits: [number, number, number] = [-1, -1, -1];
  const fail = (failure: string): MutationResult => ({ mutation: m, exits, ms: Date.now() - start, failure });
  const hash = () => spec.split(':').map((p) => crypto.createHash('sha256').update(fs.readFileSync(p)).digest('hex')).join();
  const run = async (mode: 'check' | 'yes', i: 0 | 1 | 2): Promise<string | undefined> => {
    const t = Date.now();
    try {
      exits[i] = (await runFsck(spec, { mode })).summary.exitCode;
    } catch (err) {
      // Refusing to open the image (exit 8) is a StrataError with one line; anything else is a crash.
      if (!(err instanceof StrataError) || /[\n\r]/.test(err.message)) return `fsck ${mode === 'check' ? '-n' : '-y'} crashed: ${(err as Error).stack ?? String(err)}`;
      exits[i] = err.exitCode;
    }
    if (Date.now() - t > FSCK_TIME_BOUND_MS) return `fsck ${mode === 'check' ? '-n' : '-y'} took ${Date.now() - t} ms`;
    return undefined;
  };
  const before = hash();
  const first = await run('check', 0);
  if (first) return fail(first);
  if (hash() !== before) return fail('fsck -n changed a member');
  const repair = await run('yes', 1);
  if (repair) return fail(repair);
  if (exits[0] === 8 && exits[1] === 8) return { mutation: m, exits, ms: Date.now() - start };
  if (![0, 1, 4].includes(exits[1])) return fail(`fsck -y exited ${exits[1]}`);
  const again = await run('check', 2);
  if (again) return fail(again);
  if (exits[1] !== 4 && exits[2] !== 0) return fail(`fsck -n after fsck -y (exit ${exits[1]}) exited ${exits[2]}`);
  const changed = await changedFiles(spec, v, touched(v, site, work, m.step));
  if (changed) return fail(changed);
  return { mutation: m, exits, ms: Date.now() - start };
}

/** The first file outside `touched` whose content or metadata changed, described; undefined when none. */
async function changedFiles(spec: string, v: FuzzVariant, touched: Set<number> | undefined): Promise<string | undefined> {
  if (!touched) return undefined;
  let now: Map<number, FileState>;
  try {
    now = await fileStates(spec);
  } catch (err) {
    return `the repaired image cannot be read: ${(err as Error).message}`;
  }
  for (const [inum, state] of v.files) {
    if (touched.has(inum)) continue;
    if (now.get(inum) !== state) return `untouched inode ${inum} changed: was ${state}, now ${now.get(inum) ?? 'gone'}`;
  }
  return undefined;
}

export function describe(v: FuzzVariant, m: Mutation): string {
  const s = m.step;
  return `${v.built.spec.name}: ${s.site} .${s.field} ${s.verb}${s.verb === 'flip' ? ` bit ${s.bit} of byte ${s.byte}` : ''}${s.fixup ? ' (checksums fixed)' : ''}`;
}


async function main(argv: string[]): Promise<number> {
  const arg = (name: string) => argv[argv.indexOf(name) + 1];
  const full = argv.includes('--full');
  const everyVerb = argv.includes('--every-verb');
  const [shard, shards] = (argv.includes('--shard') ? arg('--shard')! : '0/1').split('/').map(Number) as [number, number];
  if (!Number.isInteger(shard) || !Number.isInteger(shards) || shard < 0 || shard >= shards) {
    process.stderr.write(`fsck fuzz: --shard i/n takes i from 0 to n-1, got ${arg('--shard')}\n`);
    process.exit(16);
  }
  const limit = argv.includes('--limit') ? Number(arg('--limit')) : Infinity;
  const seed = argv.includes('--seed') ? Number(arg('--seed')) : 1;
  const dir = fs.mkdtempSync(path.join(fs.existsSync('/dev/shm') ? '/dev/shm' : '/tmp', 'strata-fsck-fuzz-'));
  try {
    const variants = await prepareVariants(dir);
    const all = mutations(variants, { full, seed, everyVerb }).filter((_, i) => i % shards === shard).slice(0, limit);
    process.stderr.write(`fsck fuzz: ${all.length} mutations (shard ${shard}/${shards}${full ? ', full' : everyVerb ? ', every verb of every field kind' : ', sampled'})\n`);
    let failures = 0;
    let maxMs = 0;
    const exitCounts = new Map<string, number>();
    for (const [i, m] of all.entries()) {
      const r = await runMutation(dir, variants[m.variant]!, m);
      maxMs = Math.max(maxMs, r.ms);
      exitCounts.set(r.exits.join('/'), (exitCounts.get(r.exits.join('/')) ?? 0) + 1);
      if (process.env.STRATA_FUZZ_VERBOSE && r.exits[1] === 8) process.stdout.write(`EXIT8 ${describe(variants[m.variant]!, m)}\n`);
      if (r.failure) {
        failures++;
        process.stdout.write(`FAIL ${describe(variants[m.variant]!, m)}: ${r.failure}\n`);
      }
      if (i % 200 === 0) process.stderr.write(`fsck fuzz: ${i}/${all.length}, ${failures} failures, rss ${Math.round(process.memoryUsage().rss / 1048576)} MiB\n`);
    }
    process.stdout.write(`fsck fuzz: ${all.length} mutations, ${failures} failures, slowest ${maxMs} ms; exit codes -n/-y/-n: ${[...exitCounts].map(([k, n]) => `${k} x${n}`).join(', ')}\n`);
    return failures ? 1 : 0;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === new URL(import.meta.url).pathname) {
  process.exitCode = await main(process.argv.slice(2));
}
