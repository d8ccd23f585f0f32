// Crash-state replay in the dm-log-writes / CrashMonkey shape. A workload runs against a
// volume whose block layer records every write, flush and mark; crash states are then built
// from a copy of the members taken before the workload plus some of the recorded writes, and
// each state is opened (journal replay) and compared with what was acknowledged.
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { RecordingBlockLayer, type LoggedOp } from '../../format/io.js';
import { Volume } from '../../format/volume.js';
import { FsReader } from '../../fs/reader.js';
import { walkImage } from '../../fs/export.js';
import { FsWriter } from '../../fs/ops.js';
import { escapeName } from '../../format/keys.js';

/** What a reader sees: path -> kind, mode, size, nlink, content hash, symlink target, xattrs. */
export type TreeState = Map<string, string>;

export function readState(vol: Volume): TreeState {
  const reader = new FsReader(vol.img);
  const out: TreeState = new Map();
  for (const item of walkImage(reader, '/')) {
    const i = item.inode;
    let content = '';
    if (item.kind === 'file' || item.kind === 'symlink') {
      const h = crypto.createHash('sha256');
      for (const p of reader.pieces(item.inum, i.size, escapeName(item.rel))) h.update('data' in p ? p.data : Buffer.alloc(p.hole));
      content = h.digest('hex').slice(0, 16);
    }
    const xattrs = reader.xattrs(item.inum).map((x) => `${escapeName(x.name)}=${x.value.toString('hex')}`).join(',');
    out.set(`/${escapeName(item.rel)}`, `${item.kind} ${(i.mode & 0o7777).toString(8)} size=${i.size} nlink=${i.nlink} ${content} ${xattrs}`);
  }
  return out;
}

export interface RecordedRun {
  base: Buffer[];
  log: LoggedOp[];
  /** expected tree after k acknowledged operations, k = 0..n */
  expected: TreeState[];
  /** for each operation, the index in `log` of its acknowledgement mark */
  ackAt: number[];
}

export type Workload = (w: FsWriter, ack: () => void) => Promise<void>;

/** Run `workload` on a copy of `image`; `ack()` after each operation records the expected state. */
export async function recordRun(image: string, workload: Workload, checkpointAtEnd: boolean, members: string[] = [image]): Promise<RecordedRun> {
  const base = members.map((m) => fs.readFileSync(m));
  let recorder: RecordingBlockLayer | undefined;
  const vol = await Volume.open(image, { writable: true, wrapLayer: (l) => (recorder = new RecordingBlockLayer(l)) });
  const w = await FsWriter.on(vol);
  const expected: TreeState[] = [readState(vol)];
  const ackAt: number[] = [];
  await workload(w, () => {
    recorder!.mark('ack');
    ackAt.push(recorder!.log.length - 1);
    expected.push(readState(vol));
  });
  if (checkpointAtEnd) vol.close();
  else vol.abandon();
  return { base, log: recorder!.log, expected, ackAt };
}

/** Member bytes after applying `writes` (with optional per-write sector masks) to the base. */
export function materialize(base: Buffer[], writes: Array<{ op: Extract<LoggedOp, { kind: 'write' }>; sectors?: boolean[] }>): Buffer[] {
  const members = base.map((b) => Buffer.from(b));
  for (const { op, sectors } of writes) {
    const m = members[op.member]!;
    if (!sectors) {
      op.data.copy(m, op.offset);
      continue;
    }
    for (let s = 0; s < sectors.length; s++) {
      if (sectors[s]) op.data.copy(m, op.offset + s * 512, s * 512, Math.min(op.data.length, (s + 1) * 512));
    }
  }
  return members;
}

export interface CrashState {
  name: string;
  members: Buffer[];
  /** operations acknowledged before the crash */
  acknowledged: number;
}

/** Epochs: runs of writes separated by flushes, with the log index where each starts. */
function epochs(log: LoggedOp[]): Array<{ start: number; writes: number[] }> {
  const out: Array<{ start: number; writes: number[] }> = [{ start: 0, writes: [] }];
  log.forEach((op, i) => {
    if (op.kind === 'write') out[out.length - 1]!.writes.push(i);
    else if (op.kind === 'flush') out.push({ start: i + 1, writes: [] });
  });
  return out.filter((e) => e.writes.length > 0);
}

function acknowledgedBefore(run: RecordedRun, logIndex: number): number {
  return run.ackAt.filter((a) => a < logIndex).length;
}

export function* crashStates(run: RecordedRun, randomTorn: number, seed: number): Generator<CrashState> {
  const writes = (upTo: number) => run.log.slice(0, upTo).flatMap((op) => (op.kind === 'write' ? [{ op }] : []));
  // Every prefix of the write log.
  for (let i = 0; i <= run.log.length; i++) {
    if (i < run.log.length && run.log[i]!.kind !== 'write') continue;
    yield { name: `prefix ${i}`, members: materialize(run.base, writes(i)), acknowledged: acknowledgedBefore(run, i) };
  }
  // Every state that drops one write of an epoch (writes of one epoch may land in any order).
  for (const e of epochs(run.log)) {
    const before = writes(e.start);
    for (const dropped of e.writes) {
      const kept = e.writes.filter((w) => w !== dropped).map((w) => ({ op: run.log[w] as Extract<LoggedOp, { kind: 'write' }> }));
      yield { name: `epoch at ${e.start} without write ${dropped}`, members: materialize(run.base, [...before, ...kept]), acknowledged: acknowledgedBefore(run, e.start) };
    }
  }
  // Random torn subsets, 512-byte granularity, of a crash inside the last epochs.
  let state = seed >>> 0 || 1;
  const rand = () => ((state = (Math.imul(state ^ (state >>> 15), 0x2c1b3c6d) + 0x9e3779b9) >>> 0) / 2 ** 32);
  const all = epochs(run.log);
  for (let n = 0; n < randomTorn && all.length; n++) {
    const e = all[all.length - 1 - Math.floor(rand() * Math.min(all.length, 4))]!;
    const before = writes(e.start);
    const torn = e.writes.map((w) => {
      const op = run.log[w] as Extract<LoggedOp, { kind: 'write' }>;
      return { op, sectors: Array.from({ length: Math.ceil(op.data.length / 512) }, () => rand() < 0.5) };
    });
    yield { name: `torn ${n} in epoch at ${e.start}`, members: materialize(run.base, [...before, ...torn]), acknowledged: acknowledgedBefore(run, e.start) };
  }
}

/**
 * Open a crash state and compare: it must open, replay, read every file, and equal the
 * expected tree after j operations for some j >= acknowledged (later operations whole or absent).
 * With `fsck`, fsck -n must also find it consistent.
 */
export async function checkState(dir: string, run: RecordedRun, state: CrashState, options: { fsck?: boolean } = {}): Promise<string | undefined> {
  const stateDir = path.join(dir, 'state');
  fs.mkdirSync(stateDir, { recursive: true });
  state.members.forEach((bytes, i) => fs.writeFileSync(path.join(stateDir, `m${i}.img`), bytes));
  const file = state.members.map((_, i) => path.join(stateDir, `m${i}.img`)).join(':');
  let vol: Volume;
  try {
    vol = await Volume.open(file, {});
  } catch (err) {
    return `${state.name}: does not open: ${(err as Error).message}`;
  }
  try {
    const seen = readState(vol);
    for (let j = state.acknowledged; j < run.expected.length; j++) {
      if (sameState(seen, run.expected[j]!)) return options.fsck ? await fsckFindings(state.name, file) : undefined;
    }
    return `${state.name}: tree matches no state with at least ${state.acknowledged} acknowledged operations: ${describeDiff(seen, run.expected[state.acknowledged]!)}`;
  } catch (err) {
    return `${state.name}: reading failed: ${(err as Error).message}`;
  } finally {
    vol.abandon();
  }
}

/**
 * fsck -n of a recovered state (repair/fsck.ts, in process): consistent means no problem but
 * 'info' ones (entries to replay, the torn entry the crash interrupted) and superblock copies
 * left stale or torn by a checkpoint interrupted between its copies (lost redundancy, which
 * the newest valid copy covers).
 */
async function fsckFindings(name: string, spec: string): Promise<string | undefined> {
  const { runFsck } = await import('../../repair/fsck.js');
  const report = await runFsck(spec, { mode: 'check' });
  const found = report.problems.filter((p) => p.severity !== 'info' && p.code !== 'SB_COPY_STALE' && p.code !== 'SB_COPY_BAD').map((p) => `${p.code}: ${p.message}`);
  if (found.length === 0) return undefined;
  return `${name}: fsck -n is not clean: ${found.slice(0, 3).join('; ')}${found.length > 3 ? ` and ${found.length - 3} more` : ''}`;
}

function sameState(a: TreeState, b: TreeState): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) if (b.get(k) !== v) return false;
  return true;
}

function describeDiff(seen: TreeState, want: TreeState): string {
  const diffs: string[] = [];
  for (const [k, v] of want) if (seen.get(k) !== v) diffs.push(`${k}: want ${v}, have ${seen.get(k) ?? 'nothing'}`);
  for (const k of seen.keys()) if (!want.has(k)) diffs.push(`${k}: unexpected`);
  return diffs.slice(0, 4).join('; ');
}
