// Pass 1: superblocks.
// Checks: every copy on every present member decodes, carries the newest seq, and says what
// the copy in use says (re-encoded for that member, byte for byte); every member file has the
// size the member table gives; every member is present (a missing one makes the whole check
// read-only: writing would leave the absent member's metadata behind).
// Builds: the member files to resize and the copies to rewrite, applied once the volume is
// open for writing (superblock rewrites go straight to the block layer, not through the journal).
import type { Image } from '../format/image.js';
import type { Volume } from '../format/volume.js';
import { BTREE, BUCKET_DATA, SB_OFFSET, SB_TAIL } from '../format/layout.js';
import { encodeSuperblock, type FsInfo } from '../format/superblock.js';
import { decodeNode, type DecodedNode, NodeError } from '../format/btree/node.js';
import { MemberIOError } from '../format/io.js';
import { decodeBtreePointer, ops, POS_MAX, POS_MIN } from '../format/keys.js';
import { CorruptImageError } from '../format/errors.js';
import type { FsckContext } from './fsck-context.js';
import { P } from './problems.js';

export interface SuperblockPlan {
  resize: Array<{ member: number; size: number }>;
  /** copies to rewrite: member and copy number (offsets follow from the member table) */
  rewrite: Array<{ member: number; copy: 0 | 1 }>;
  degraded: boolean;
}

/**
 * When valid copies of the newest seq disagree, the one to trust: the candidate under which
 * the most btree roots read back (a copy whose roots, UUID or geometry were damaged and whose
 * checksum was then made to agree reads nothing), then the one most copies hold. Undefined when
 * the copy openImage chose is that one.
 */
export function chooseSuperblock(img: Image): FsInfo | undefined {
  const copies = img.members.flatMap((m) => m.copies.filter((c) => c.result).map((c) => c.result!.fs));
  const newest = Math.max(...copies.map((f) => f.seq));
  const groups = new Map<string, { fs: FsInfo; count: number }>();
  for (const f of copies) {
    if (f.seq !== newest) continue;
    const id = encodeSuperblock(f, 0, img.checksums.crc32c).toString('base64');
    const g = groups.get(id);
    if (g) g.count++;
    else groups.set(id, { fs: f, count: 1 });
  }
  if (groups.size < 2) return undefined;
  const score = (fs: FsInfo) => [readableRoots(img, fs), journalAgreement(img, fs), sizesAgreeing(img, fs)];
  const ranked = [...groups.values()].map((g) => ({ ...g, score: [...score(g.fs), g.count] }))
    .sort((a, b) => a.score.reduce((d, x, i) => d || b.score[i]! - x, 0));
  const best = ranked[0]!;
  const current = encodeSuperblock(img.fs, 0, img.checksums.crc32c);
  if (encodeSuperblock(best.fs, 0, img.checksums.crc32c).equals(current)) return undefined;
  const inUse = ranked.find((g) => encodeSuperblock(g.fs, 0, img.checksums.crc32c).equals(current));
  return inUse && inUse.score.every((x, i) => x === best.score[i]) ? undefined : best.fs;
}

/** Members whose file has the size the candidate's member table gives. */
function sizesAgreeing(img: Image, fs: FsInfo): number {
  return fs.members.filter((m, i) => img.layer.present(i) && img.layer.size(i) === m.size).length;
}

/**
 * Journal-ring buckets of the candidate's member table that the candidate's own alloc btree
 * types journal, less those it gives another use: a damaged ring position points at data.
 */
function journalAgreement(img: Image, fs: FsInfo): number {
  const fsMagic = fs.fsUuid.subarray(0, 8);
  const root = fs.roots[BTREE.alloc]!;
  const stack = [{ pointers: root.pointers, level: root.level, checksum: root.checksum as bigint | undefined, seq: root.seq as number | undefined, min: POS_MIN, max: POS_MAX }];
  let score = 0;
  for (let visited = 0; stack.length && visited < 4096; visited++) {
    const v = stack.pop()!;
    const p = v.pointers[0]!;
    const m = fs.members[p.member];
    if (!m || !img.layer.present(p.member) || p.offset + fs.nodeSize > m.bucketCount * fs.bucketSize) continue;
    let node: DecodedNode;
    try {
      node = decodeNode(img.layer.read(p.member, p.offset, fs.nodeSize), { btreeId: BTREE.alloc, level: v.level, fsMagic, checksum: v.checksum, seq: v.seq, min: v.min, max: v.max }, img.checksums);
    } catch (err) {
      if (err instanceof NodeError || err instanceof MemberIOError) continue;
      throw err;
    }
    for (const k of node.keys) {
      if (node.level > 0) {
        const ptr = decodeBtreePointer(k.value);
        stack.push({ pointers: ptr.pointers, level: node.level - 1, checksum: ptr.checksum, seq: ptr.seq, min: ptr.min, max: { inode: k.inode, offset: k.offset, snapshot: k.snapshot } });
        continue;
      }
      const member = fs.members[k.inode];
      if (!member || member.journalBuckets === 0 || k.offset < member.journalBucket || k.offset >= member.journalBucket + member.journalBuckets) continue;
      try {
        score += ops.alloc.decode(k.value).dataType === BUCKET_DATA.journal ? 1 : -1;
      } catch (err) {
        if (!(err instanceof CorruptImageError)) throw err;
      }
    }
  }
  return score;
}

/** How many btree roots some copy of which decodes as `fs` describes it. */
function readableRoots(img: Image, fs: FsInfo): number {
  const fsMagic = fs.fsUuid.subarray(0, 8);
  let readable = 0;
  for (const root of fs.roots) {
    const ok = root.pointers.some((p) => {
      const m = fs.members[p.member];
      if (!m || !img.layer.present(p.member) || p.offset + fs.nodeSize > m.bucketCount * fs.bucketSize) return false;
      try {
        decodeNode(img.layer.read(p.member, p.offset, fs.nodeSize), { btreeId: root.btreeId, level: root.level, fsMagic, checksum: root.checksum, seq: root.seq, min: POS_MIN, max: POS_MAX }, img.checksums);
        return true;
      } catch (err) {
        if (err instanceof NodeError || err instanceof MemberIOError) return false;
        throw err;
      }
    });
    if (ok) readable++;
  }
  return readable;
}

export function checkSuperblocks(ctx: FsckContext, img: Image): SuperblockPlan {
  const plan: SuperblockPlan = { resize: [], rewrite: [], degraded: false };
  const fs = img.fs;
  for (const m of img.members) {
    const info = fs.members[m.index]!;
    if (!m.present) {
      plan.degraded = true;
      ctx.problem(P.MEMBER_MISSING, { member: m.index, uuid: info.uuid.toString('hex') });
      continue;
    }
    const fileSize = img.layer.size(m.index);
    const resized = fileSize !== info.size && ctx.problem(P.MEMBER_SIZE_WRONG, { member: m.index, fileSize, size: info.size });
    if (resized) plan.resize.push({ member: m.index, size: info.size });
    const inUse = encodeSuperblock(fs, m.index, img.checksums.crc32c);
    for (const c of m.copies) {
      const where = { member: m.index, copy: c.copy, offset: c.offset };
      let fix = false;
      if (!c.result) fix = ctx.problem(P.SB_COPY_BAD, { ...where, reason: withoutWhere(c.error ?? 'unreadable', m.path, c.offset) });
      else if (c.result.fs.seq < fs.seq) fix = ctx.problem(P.SB_COPY_STALE, { ...where, seq: c.result.fs.seq, newest: fs.seq });
      else if (c.result.memberIndex !== m.index || !encodeSuperblock(c.result.fs, c.result.memberIndex, img.checksums.crc32c).equals(inUse)) {
        fix = ctx.problem(P.SB_COPY_DIFFERS, { ...where, seq: c.result.fs.seq });
      }
      // A resized file gets copy 1 at its new end whatever the old end held.
      if (fix || (resized && c.copy === 1)) plan.rewrite.push({ member: m.index, copy: c.copy });
    }
  }
  return plan;
}

/** Resize member files and rewrite superblock copies from the one in use, then flush. */
export function applySuperblockPlan(vol: Volume, plan: SuperblockPlan): void {
  if (plan.resize.length === 0 && plan.rewrite.length === 0) return;
  for (const r of plan.resize) vol.layer.resize(r.member, r.size);
  for (const r of plan.rewrite) {
    const m = vol.fs.members[r.member]!;
    vol.layer.write(r.member, r.copy === 0 ? SB_OFFSET : m.size - SB_TAIL, encodeSuperblock(vol.fs, r.member, vol.img.checksums.crc32c));
  }
  vol.layer.flush();
}

/** A decode error names member path and offset first; the problem context has both already. */
function withoutWhere(message: string, memberPath: string, offset: number): string {
  const prefix = `${memberPath}, offset ${offset}, `;
  const rest = message.startsWith(prefix) ? message.slice(prefix.length) : message;
  return rest.startsWith('superblock: ') ? rest.slice('superblock: '.length) : rest;
}
