// Shared fixtures for the tar tests: entry builders, archive crafting at the header level (for
// hostile inputs no honest writer would produce), collecting a reader's output, temp dirs and
// the system's GNU tar.

import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OperationalError } from '../../../format/errors.js';
import type { SourceEntry } from '../../../fs/entry.js';
import { TarArchiveError, type TarProblem } from '../../../fs/tar/errors.js';
import {
  BLOCK_SIZE,
  GNU_SPARSE_HEADER_FIELDS,
  GNU_TIME_FIELDS,
  USTAR_FIELDS,
  USTAR_MAGIC,
  USTAR_VERSION,
  checksumOf,
  encodeUstarHeader,
  paddingAfter,
  type Fields,
} from '../../../fs/tar/header.js';
import { encodePaxRecord } from '../../../fs/tar/pax.js';
import { readTar, type ReadTarOptions, type TarSource } from '../../../fs/tar/reader.js';
import { TarWriter, type TarContent } from '../../../fs/tar/writer.js';

export const b = (text: string) => Buffer.from(text, 'latin1');

export function entry(path: string | Buffer, overrides: Partial<SourceEntry> = {}): SourceEntry {
  return {
    path: typeof path === 'string' ? b(path) : path,
    kind: 'file',
    perm: 0o644,
    uid: 1000,
    gid: 1000,
    size: 0,
    atime: { sec: 1_600_000_000, nsec: 0 },
    mtime: { sec: 1_600_000_000, nsec: 0 },
    ctime: { sec: 1_600_000_000, nsec: 0 },
    xattrs: [],
    ...overrides,
  };
}

export function fileEntry(path: string | Buffer, content: Buffer, overrides: Partial<SourceEntry> = {}): [SourceEntry, Buffer] {
  return [entry(path, { size: content.length, ...overrides }), content];
}

/** Runs TarWriter over the entries and returns the archive bytes. */
export async function writeArchive(members: ReadonlyArray<[SourceEntry, TarContent?]>, recordSize?: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const writer = new TarWriter((chunk) => void chunks.push(Buffer.from(chunk)), { recordSize });
  for (const [member, content] of members) await writer.addEntry(member, content);
  await writer.end();
  return Buffer.concat(chunks);
}

export interface ReadMember {
  entry: SourceEntry;
  content?: Buffer;
  offset: number;
  sparseRegions?: readonly { offset: number; length: number }[];
}

/** Reads every member, collecting content (fine for small test archives). */
export async function readArchive(source: TarSource | Buffer, options?: ReadTarOptions): Promise<ReadMember[]> {
  const members: ReadMember[] = [];
  for await (const member of readTar(Buffer.isBuffer(source) ? chunked(source, 4096) : source, options)) {
    const collected: ReadMember = { entry: member.entry, offset: member.offset, sparseRegions: member.sparseRegions };
    if (member.content) {
      const parts: Buffer[] = [];
      for await (const chunk of member.content) parts.push(chunk);
      collected.content = Buffer.concat(parts);
    }
    members.push(collected);
  }
  return members;
}

/** The buffer as an async stream of `size`-byte chunks (exercises reads across chunk edges). */
export async function* chunked(buffer: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let offset = 0; offset < buffer.length; offset += size) yield buffer.subarray(offset, offset + size);
}

/** Asserts that `action` fails with a TarArchiveError of this problem (and code). */
export async function assertTarError(
  action: () => Promise<unknown>,
  problem: TarProblem,
  check: { code?: string; message?: RegExp } = {},
): Promise<TarArchiveError> {
  let caught: unknown;
  try {
    await action();
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof TarArchiveError, `expected a TarArchiveError (${problem}), got ${String(caught)}`);
  assert.ok(caught instanceof OperationalError);
  assert.equal(caught.problem, problem, caught.message);
  assert.equal(caught.code, check.code ?? 'BAD_ARCHIVE');
  if (check.message) assert.match(caught.message, check.message);
  return caught;
}

// ---- crafting archives block by block ----

type HeaderValues = Omit<Fields<typeof USTAR_FIELDS>, 'checksum'>;

/** A ustar header with sane defaults; override any field. */
export function header(name: string | Buffer, overrides: Partial<HeaderValues> = {}): Buffer {
  return encodeUstarHeader({
    name: typeof name === 'string' ? b(name) : name,
    mode: 0o644,
    uid: 0,
    gid: 0,
    size: 0,
    mtime: 1_600_000_000,
    typeflag: '0',
    linkname: Buffer.alloc(0),
    magic: USTAR_MAGIC,
    version: USTAR_VERSION,
    uname: Buffer.alloc(0),
    gname: Buffer.alloc(0),
    devmajor: 0,
    devminor: 0,
    prefix: Buffer.alloc(0),
    ...overrides,
  });
}

const PATCHABLE_FIELDS = [...USTAR_FIELDS, ...GNU_TIME_FIELDS, ...GNU_SPARSE_HEADER_FIELDS];
type PatchableField = (typeof PATCHABLE_FIELDS)[number]['name'];

/**
 * Overwrites header fields with raw bytes (values no encoder would produce: base-256 where
 * octal fits, garbage, GNU-only fields) and re-seals the checksum. Offsets come from the
 * field tables, so the tests name fields rather than byte positions.
 */
export function patchHeader(block: Buffer, patches: Partial<Record<PatchableField, Buffer | string | number[]>>): Buffer {
  for (const [name, value] of Object.entries(patches)) {
    const field = PATCHABLE_FIELDS.find((candidate) => candidate.name === name)!;
    const bytes = typeof value === 'string' ? b(value) : Buffer.from(value!);
    assert.ok(bytes.length <= field.length, `${name} patch is longer than the field`);
    bytes.copy(block, field.offset);
  }
  const checksum = USTAR_FIELDS.find((field) => field.encoding === 'checksum')!;
  block.fill(0x20, checksum.offset, checksum.offset + checksum.length);
  block.write(`${checksumOf(block).unsigned.toString(8).padStart(6, '0')}\0 `, checksum.offset, 'latin1');
  return block;
}

/** Member data padded to the block size. */
export function data(content: Buffer): Buffer {
  return Buffer.concat([content, Buffer.alloc(paddingAfter(content.length))]);
}

/** A regular file member: header + padded content. */
export function fileMember(name: string | Buffer, content: Buffer, overrides: Partial<HeaderValues> = {}): Buffer {
  return Buffer.concat([header(name, { size: content.length, ...overrides }), data(content)]);
}

/** A pax header member ('x' by default) carrying these records. */
export function paxMember(records: ReadonlyArray<[string | Buffer, string | Buffer]>, typeflag = 'x'): Buffer {
  const body = Buffer.concat(records.map(([key, value]) => encodePaxRecord(typeof key === 'string' ? b(key) : key, typeof value === 'string' ? b(value) : value)));
  return Buffer.concat([header('PaxHeaders/x', { typeflag, size: body.length }), data(body)]);
}

export const END = Buffer.alloc(2 * BLOCK_SIZE);

export function tarOf(...parts: Buffer[]): Buffer {
  return Buffer.concat([...parts, END]);
}

// ---- temp dirs and GNU tar ----

export function withTempDir<T>(action: (dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'strata-tar-test-'));
  return action(dir).finally(() => rmSync(dir, { recursive: true, force: true }));
}

/** True when `tar` on PATH is GNU tar (the interop tests need it). */
export function hasGnuTar(): boolean {
  const result = spawnSync('tar', ['--version'], { encoding: 'utf8' });
  return result.status === 0 && result.stdout.includes('GNU tar');
}

/** Runs GNU tar in the C locale; returns stderr (callers assert it is empty when it matters). */
export function gnuTar(args: string[], cwd?: string): string {
  const result = spawnSync('tar', args, { cwd, env: { ...process.env, LC_ALL: 'C' }, encoding: 'buffer', maxBuffer: 64 * 1024 * 1024 });
  if (result.status !== 0) throw new Error(`tar ${args.join(' ')} failed (${result.status}): ${result.stderr.toString()}`);
  return result.stderr.toString();
}

export function run(command: string, args: string[], cwd?: string): void {
  execFileSync(command, args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

export const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
