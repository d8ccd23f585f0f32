// Data pointers of extents and indirect extents, checked the same way by the extents and
// reflink passes: no two copies on one member, every copy in a valid place (fsck-space.ts),
// and the generation its bucket has (decided by the alloc pass). A pointer whose generation
// is wrong keeps its copy when the data there still verifies (only the number is corrected),
// and loses it otherwise.
import { CorruptImageError } from '../format/errors.js';
import { MemberIOError } from '../format/io.js';
import { ExtentCopyError } from '../format/image.js';
import { type ExtentBody, type Key, ops, type Ptr } from '../format/keys.js';
import { KEY_TYPE } from '../format/layout.js';
import type { Volume } from '../format/volume.js';
import type { FsckContext } from './fsck-context.js';
import { placeProblem } from './fsck-space.js';
import { P } from './problems.js';

/** The stored bytes of one copy when they verify against the extent's checksum. */
export function readIntact(vol: Volume, body: ExtentBody, ptr: Ptr): Buffer | undefined {
  if (!vol.layer.present(ptr.member) || placeProblem(vol.fs, ptr, body.storedSize)) return undefined;
  try {
    return vol.img.readVerifiedChunk(body, ptr);
  } catch (err) {
    if (err instanceof ExtentCopyError || err instanceof MemberIOError || err instanceof CorruptImageError) return undefined;
    throw err;
  }
}

/** An extent or indirect extent key with its body replaced. */
export function withBody(key: Key, body: ExtentBody): Key {
  if (key.type === KEY_TYPE.indirectExtent) {
    const refcount = ops.indirectExtent.decode(key.value).refcount;
    return { ...key, value: ops.indirectExtent.encode({ refcount, body }) };
  }
  return { ...key, value: ops.extent.encode(body) };
}

export function withPointers(key: Key, pointers: Ptr[]): Key {
  const body = key.type === KEY_TYPE.indirectExtent ? ops.indirectExtent.decode(key.value).body : ops.extent.decode(key.value);
  return withBody(key, { ...body, pointers });
}

type Verdict = { keep: true; ptr: Ptr } | { keep: false; report: () => boolean };

/**
 * Check every pointer of `body`; report what is wrong. Returns the pointers to keep after the
 * fixes that were agreed to (the same array when nothing changes).
 */
export function checkPointers(ctx: FsckContext, vol: Volume, where: { inode: number; start: number; end: number }, body: ExtentBody, generation: (member: number, bucket: number) => number): Ptr[] {
  const fs = vol.fs;
  if (allSound(vol, body, generation)) return body.pointers;
  const seenMembers = new Set<number>();
  const verdicts: Verdict[] = body.pointers.map((p) => {
    if (seenMembers.has(p.member)) return { keep: false, report: () => ctx.problem(P.EXTENT_REPLICAS_SAME_MEMBER, { ...where, member: p.member }) };
    seenMembers.add(p.member);
    const place = placeProblem(fs, p, body.storedSize);
    if (place) return { keep: false, report: () => ctx.problem(P.EXTENT_PTR_BAD, { ...where, member: p.member, offset: p.offset, reason: place, left: kept() }) };
    const bucketGeneration = generation(p.member, Math.floor(p.offset / fs.bucketSize));
    if (p.generation === bucketGeneration) return { keep: true, ptr: p };
    const def = p.generation < bucketGeneration ? P.EXTENT_PTR_STALE : P.EXTENT_PTR_GEN_AHEAD;
    const intact = readIntact(vol, body, p) !== undefined;
    const wrong = { ...where, member: p.member, offset: p.offset, generation: p.generation, bucketGeneration, intact };
    if (intact) return { keep: true, ptr: ctx.problem(def, { ...wrong, left: 1 }) ? { ...p, generation: bucketGeneration } : p };
    return { keep: false, report: () => ctx.problem(def, { ...wrong, left: kept() }) };
  });
  const kept = () => verdicts.filter((v) => v.keep).length;
  let changed = false;
  const out: Ptr[] = [];
  verdicts.forEach((v, i) => {
    if (v.keep) {
      out.push(v.ptr);
      if (v.ptr !== body.pointers[i]) changed = true;
    } else if (v.report()) changed = true;
    else out.push(body.pointers[i]!);
  });
  return changed ? out : body.pointers;
}

/** Every copy on a member of its own, in a valid place, with its bucket's generation: the usual extent, nothing to report. */
function allSound(vol: Volume, body: ExtentBody, generation: (member: number, bucket: number) => number): boolean {
  const ptrs = body.pointers;
  for (let i = 0; i < ptrs.length; i++) {
    const p = ptrs[i]!;
    for (let j = 0; j < i; j++) if (ptrs[j]!.member === p.member) return false;
    if (placeProblem(vol.fs, p, body.storedSize) || p.generation !== generation(p.member, Math.floor(p.offset / vol.fs.bucketSize))) return false;
  }
  return true;
}

