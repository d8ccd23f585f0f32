// Pass 7: stripes.
// Checks every stripe key: a valid stripe (KEY_OPS validate) at (0, id >= 1); each of its k+m
// blocks is a whole bucket of its own in a valid place; it carries block checksums (type not
// none: without them a damaged block cannot be located); some extent uses it; next_stripe lies
// past it; and the erasure-coding feature bit is set while any exists. Deleting a stripe clears
// the stripe reference of the extents that named it (their data stays readable from their
// pointer; only the parity is lost).
// Builds: nothing later passes use.
import { CorruptImageError } from '../format/errors.js';
import { type Key, ops, type Stripe } from '../format/keys.js';
import { BTREE, INCOMPAT, KEY_TYPE } from '../format/layout.js';
import type { Volume } from '../format/volume.js';
import { type FsckContext, Fixes } from './fsck-context.js';
import type { FsState } from './fsck-load.js';
import { placeProblem } from './fsck-space.js';
import { P } from './problems.js';

export function checkStripes(ctx: FsckContext, vol: Volume, st: FsState): { needsCheckpoint: boolean } {
  const fixes = new Fixes(vol, ctx);
  const deleted = new Set<number>();
  let highest = 0;
  let kept = 0;
  let n = 0;
  for (const k of vol.trees[BTREE.stripes]!.scan()) {
    ctx.progress(++n);
    st.totals.stripes++;
    const id = k.offset;
    const decoded = decodeStripe(k);
    let fix: boolean | undefined;
    if (typeof decoded === 'string') fix = ctx.problem(P.STRIPE_BAD, { stripe: id, reason: decoded });
    else {
      const bad = decoded.pointers.map((p, block) => ({ p, block, reason: blockProblem(vol, p, decoded) })).find((b) => b.reason);
      if (bad) fix = ctx.problem(P.STRIPE_BLOCK_BAD, { stripe: id, block: bad.block, member: bad.p.member, offset: bad.p.offset, reason: bad.reason! });
      else if (decoded.checksumType === 0) fix = ctx.problem(P.STRIPE_CSUM_MISSING, { stripe: id });
      else if (!st.usedStripes.has(id)) fix = ctx.problem(P.STRIPE_UNREFERENCED, { stripe: id });
    }
    if (fix === undefined || !fix) {
      kept++;
      if (k.inode === 0) highest = Math.max(highest, id);
      continue;
    }
    fixes.delete(BTREE.stripes, k);
    deleted.add(id);
  }
  // Extents of a deleted stripe keep their data pointer; only the reference goes.
  for (let i = 0; i < st.stripedExtents.count; i++) {
    if (!deleted.has(st.stripedExtents.get('stripe', i))) continue;
    const key = vol.trees[BTREE.extents]!.get({ inode: st.stripedExtents.get('inode', i), offset: st.stripedExtents.get('end', i), snapshot: 0 });
    if (!key || key.type !== KEY_TYPE.extent) continue;
    fixes.put(BTREE.extents, { ...key, value: ops.extent.encode({ ...ops.extent.decode(key.value), stripeId: 0, stripeBlock: 0 }) });
  }
  let needsCheckpoint = false;
  if (highest >= vol.counters.nextStripe && ctx.problem(P.SB_COUNTER_LOW, { counter: 'next_stripe', value: vol.counters.nextStripe, needed: highest + 1 })) {
    vol.counters.nextStripe = highest + 1;
    needsCheckpoint = true;
  }
  if (kept > 0 && !(vol.fs.incompat & INCOMPAT.erasureCoding) && ctx.problem(P.FEATURE_MISSING, { feature: 'erasureCoding', reason: 'the stripes btree holds stripes' })) {
    vol.fs.incompat |= INCOMPAT.erasureCoding;
    needsCheckpoint = true;
  }
  fixes.commit('stripes');
  return { needsCheckpoint };
}

function decodeStripe(k: Key): Stripe | string {
  if (k.type !== KEY_TYPE.stripe) return `key of type ${k.type} in the stripes btree`;
  try {
    const s = ops.stripe.decode(k.value);
    return ops.stripe.validate(k, s) ?? (k.snapshot !== 0 ? 'nonzero snapshot' : s);
  } catch (err) {
    if (err instanceof CorruptImageError || err instanceof RangeError) return err.message;
    throw err;
  }
}

/** A stripe block is a whole bucket of its own, of the stripe's block size. */
function blockProblem(vol: Volume, p: { member: number; offset: number; generation: number }, s: Stripe): string | undefined {
  const fs = vol.fs;
  if (s.blockSize !== fs.bucketSize) return `block size ${s.blockSize}, buckets are ${fs.bucketSize}`;
  if (p.offset % fs.bucketSize !== 0) return 'not at the start of a bucket';
  return placeProblem(fs, p, fs.bucketSize);
}
