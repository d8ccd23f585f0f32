// Pass 1: superblocks.
// Checks: every copy on every present member decodes, carries the newest seq, and says what
// the copy in use says (re-encoded for that member, byte for byte); every member file has the
// size the member table gives; every member is present (a missing one makes the whole check
// read-only: writing would leave the absent member's metadata behind).
// Builds: the member files to resize and the copies to rewrite, applied once the volume is
// open for writing (superblock rewrites go straight to the block layer, not through the journal).
import type { Image } from '../format/image.js';
import type { Volume } from '../format/volume.js';
import { SB_OFFSET, SB_TAIL } from '../format/layout.js';
import { encodeSuperblock } from '../format/superblock.js';
import type { FsckContext } from './fsck-context.js';
import { P } from './problems.js';

export interface SuperblockPlan {
  resize: Array<{ member: number; size: number }>;
  /** copies to rewrite: member and copy number (offsets follow from the member table) */
  rewrite: Array<{ member: number; copy: 0 | 1 }>;
  degraded: boolean;
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
