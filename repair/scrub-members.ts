// Scrub of the member files themselves: each member's presence and size against its member
// table entry, and both superblock copies of every present member. Repairs: a short member
// file is extended to its size; a bad or stale superblock copy is rewritten from the newest
// valid superblock (the one the image was opened with) encoded for that member; a missing
// member file is recreated, only at a path the user named and only when nothing is there.
//
// Invariant: a superblock copy newer than the one the image was opened with is never
// overwritten, and its presence disables every repair (the caller checks `newer`): the opened
// superblock then describes an older tree, and rewriting its node and extent copies in place
// could overwrite space the newer tree reuses.
import fs from 'node:fs';
import path from 'node:path';
import { CorruptImageError, formatWhere } from '../format/errors.js';
import type { Image } from '../format/image.js';
import { FileBlockLayer, MemberIOError, type BlockLayer } from '../format/io.js';
import { SB_MAX_SIZE, SB_OFFSET, SB_TAIL, Superblock } from '../format/layout.js';
import { decodeSuperblock, encodeSuperblock } from '../format/superblock.js';
import type { FsInfo } from '../format/superblock.js';

export interface RepairOutcome {
  repaired: boolean;
  /** what was done, or why nothing could be */
  note?: string;
}

export interface MemberCheck {
  index: number;
  /** the member file's path; null when the member was never found */
  path: string | null;
  present: boolean;
  /** size the member table records, in bytes */
  tableSize: number;
  /** size of the member file, in bytes (0 when missing) */
  fileSize: number;
  problem?: 'missing' | 'short' | 'long';
  /** for a missing member: the named path it can be recreated at, when that is safe */
  recreateAt?: string;
  /** for a missing member: why it is not recreated */
  notRecreated?: string;
  outcome?: RepairOutcome;
}

export interface SuperblockCheck {
  member: number;
  copy: 0 | 1;
  offset: number;
  /** bytes read and checked */
  bytes: number;
  state: 'good' | 'bad';
  reason?: string;
  /** a valid copy with a higher seq than the superblock the image was opened with */
  newer?: boolean;
  outcome?: RepairOutcome;
}

export function checkMembers(img: Image): MemberCheck[] {
  return img.fs.members.map((info, index) => {
    const present = img.layer.present(index);
    const fileSize = present ? img.layer.size(index) : 0;
    const check: MemberCheck = { index, path: present ? img.memberPath(index) : null, present, tableSize: info.size, fileSize };
    if (!present) check.problem = 'missing';
    else if (fileSize < info.size) check.problem = 'short';
    else if (fileSize > info.size) check.problem = 'long';
    return check;
  });
}

export function describeMemberProblem(m: MemberCheck): string {
  switch (m.problem) {
    case 'missing': return m.outcome?.repaired ? 'member file was missing' : 'member file is missing: the image is degraded';
    case 'short': return `member file is ${m.fileSize} bytes, its member table entry says ${m.tableSize}: truncated`;
    case 'long': return `member file is ${m.fileSize} bytes, its member table entry says ${m.tableSize}: readers look for superblock copy 1 at the wrong place (run strata fsck)`;
    default: return 'ok';
  }
}

/** Superblock copy offsets of a member, from its member table size (not the file's size). */
function copyOffsets(fsInfo: FsInfo, member: number): [number, number] {
  return [SB_OFFSET, fsInfo.members[member]!.size - SB_TAIL];
}

function checkCopy(img: Image, member: number, offset: number): Omit<SuperblockCheck, 'member' | 'copy' | 'offset'> {
  const fileSize = img.layer.size(member);
  if (offset + Superblock.size > fileSize) return { bytes: 0, state: 'bad', reason: `member file ends at ${fileSize}: copy missing (truncated)` };
  let bytes: Buffer;
  try {
    bytes = img.layer.read(member, offset, Math.min(SB_MAX_SIZE, fileSize - offset));
  } catch (err) {
    if (err instanceof MemberIOError) return { bytes: 0, state: 'bad', reason: `unreadable: ${err.reason}` };
    throw err;
  }
  const where = { member: img.memberPath(member), offset };
  try {
    const copy = decodeSuperblock(bytes, img.checksums.crc32c, where);
    const checked = Math.min(bytes.readUInt32LE(16), bytes.length);
    const bad = (reason: string) => ({ bytes: checked, state: 'bad' as const, reason });
    if (!copy.fs.fsUuid.equals(img.fs.fsUuid)) return bad('copy belongs to another filesystem');
    if (copy.memberIndex !== member || !copy.memberUuid.equals(img.fs.members[member]!.uuid)) return bad(`copy names member ${copy.memberIndex}`);
    if (copy.fs.seq > img.fs.seq) return { ...bad(`copy is newer (seq ${copy.fs.seq}) than the superblock the image was opened with (seq ${img.fs.seq})`), newer: true };
    if (copy.fs.seq < img.fs.seq) return bad(`stale copy (seq ${copy.fs.seq}, newest ${img.fs.seq})`);
    return { bytes: checked, state: 'good' };
  } catch (err) {
    if (!(err instanceof CorruptImageError)) throw err;
    const prefix = formatWhere(err.where);
    return { bytes: Math.min(bytes.length, Superblock.size), state: 'bad', reason: prefix && err.message.startsWith(prefix) ? err.message.slice(prefix.length + 2) : err.message };
  }
}

/** Both superblock copies of every present member. */
export function checkSuperblocks(img: Image): SuperblockCheck[] {
  const out: SuperblockCheck[] = [];
  img.fs.members.forEach((_, member) => {
    if (!img.layer.present(member)) return;
    copyOffsets(img.fs, member).forEach((offset, copy) => {
      out.push({ member, copy: copy as 0 | 1, offset, ...checkCopy(img, member, offset) });
    });
  });
  return out;
}

/** Extend short member files to their table size; the bytes that were cut off read as zeros and are rewritten by the copy repair. */
export function extendShortMembers(img: Image, members: MemberCheck[]): void {
  for (const m of members) {
    if (m.problem !== 'short') continue;
    try {
      img.layer.resize(m.index, m.tableSize);
      m.outcome = { repaired: true, note: `extended to ${m.tableSize} bytes` };
    } catch (err) {
      m.outcome = { repaired: false, note: `cannot extend: ${err instanceof Error ? err.message : String(err)}` };
    }
  }
}

/** Rewrite every bad superblock copy from the opened superblock, then read each back. */
export function repairSuperblocks(img: Image, checks: SuperblockCheck[]): void {
  const written: SuperblockCheck[] = [];
  for (const c of checks) {
    if (c.state !== 'bad') continue;
    try {
      img.layer.write(c.member, c.offset, encodeSuperblock(img.fs, c.member, img.checksums.crc32c));
      written.push(c);
    } catch (err) {
      c.outcome = { repaired: false, note: `write failed: ${err instanceof Error ? err.message : String(err)}` };
    }
  }
  for (const member of new Set(written.map((c) => c.member))) img.layer.flush(member);
  for (const c of written) {
    const again = checkCopy(img, c.member, c.offset);
    c.outcome = again.state === 'good' ? { repaired: true, note: 'rewritten from the newest superblock' } : { repaired: false, note: `read back still bad: ${again.reason}` };
  }
}

/**
 * How many member files the image was built to survive losing: the parity blocks of its stripes
 * (or its data replicas less one), and its metadata replicas less one, whichever is fewer; at
 * least one, so a single missing member can always be recreated (replaced by an empty file and
 * refilled from what the others hold).
 */
export function memberLossTolerated(img: Image): number {
  const data = img.fs.ecParity > 0 ? img.fs.ecParity : img.fs.dataReplicas - 1;
  return Math.max(1, Math.min(data, img.fs.metadataReplicas - 1));
}

/**
 * Which missing members can be recreated, and where. Only paths the user named that do not
 * exist qualify, only when the match of path to member is certain, and only for as many
 * members as the image survives losing (`tolerated`; beyond that what lived on them is lost
 * anyway, and empty files would only hide that the image is degraded). Member files carry no
 * name of their own, so the match is certain when:
 *   - exactly one member is missing and exactly one named path is absent; or
 *   - every member is named, in member-table order (each named path that exists is the member
 *     whose index is its place in `<image>`), so each absent path is the member at its place.
 */
export function planRecreation(named: string[], absentNamed: string[], members: MemberCheck[], tolerated: number): void {
  const missing = members.filter((m) => m.problem === 'missing');
  if (missing.length === 0) return;
  const refuse = (why: string) => {
    for (const m of missing) m.notRecreated = why;
  };
  if (missing.length > tolerated) return refuse(`not recreated: ${missing.length} members are missing, more than the ${tolerated} this image was made to survive losing`);
  const unnamed = `not recreated: name ${missing.length === 1 ? 'its path' : 'every member, in member order,'} in the image argument (a.img:b.img:...) to let scrub recreate it`;
  if (missing.length === 1 && absentNamed.length === 1) {
    missing[0]!.recreateAt = absentNamed[0]!;
    return;
  }
  if (named.length !== members.length) return refuse(unnamed);
  const absent = new Set(absentNamed);
  const inOrder = named.every((p, i) => {
    const m = members[i]!;
    if (absent.has(p)) return m.problem === 'missing';
    return m.path !== null && path.resolve(m.path) === path.resolve(p);
  });
  if (!inOrder) return refuse(unnamed);
  named.forEach((p, i) => {
    if (absent.has(p)) members[i]!.recreateAt = p;
  });
}

/**
 * Create a missing member file: sparse, of its member table size, holding both superblock
 * copies of the opened superblock. Every node and extent copy on it then reads as bad and the
 * copy repair fills it from the other members. The file is created exclusively: nothing that
 * exists is ever replaced. Returns why it could not be done, or undefined.
 */
export function recreateMemberFile(fsInfo: FsInfo, crc32c: (d: Uint8Array) => number, member: number, filePath: string): string | undefined {
  let fd: number;
  try {
    fd = fs.openSync(filePath, 'wx');
  } catch (err) {
    return `cannot create ${filePath}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`;
  }
  const layer: BlockLayer = new FileBlockLayer([{ path: filePath, fd }], true);
  let failure: string | undefined;
  try {
    layer.resize(0, fsInfo.members[member]!.size);
    const sb = encodeSuperblock(fsInfo, member, crc32c);
    for (const offset of copyOffsets(fsInfo, member)) layer.write(0, offset, sb);
    layer.flush();
  } catch (err) {
    failure = `cannot write ${filePath}: ${err instanceof Error ? err.message : String(err)}`;
  } finally {
    layer.close();
  }
  // The file is ours (created exclusively above): a half-made one is removed, not left behind.
  if (failure) fs.rmSync(filePath, { force: true });
  else syncFolder(path.dirname(path.resolve(filePath)));
  return failure;
}

/** Make a new directory entry durable; best effort where directories cannot be opened. */
function syncFolder(folder: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(folder, 'r');
    fs.fsyncSync(fd);
  } catch {
    /* not supported on this platform: the entry becomes durable with the next sync */
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}
