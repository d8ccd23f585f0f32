// Scrub: moving a copy whose place cannot take it. When a bad copy cannot be rewritten in place
// (the write fails, the read-back is still bad, or its pointer shares its bytes with another
// copy or lies outside the member's buckets) but a good copy exists, the copy gets a new place
// on the same member, through the writer's own transactions:
//
//   extent copy: allocate a new place, write the good bytes there, flush, read them back and
//     verify, then commit the extent key with that one pointer changed as a journaled
//     transaction. A crash before the commit leaves the old pointer (and unused space, which
//     the allocator never handed out on disk); after it, the new one.
//   node copy: mark the node and its path dirty; the checkpoint writes every copy of them to
//     new places copy-on-write and then the superblocks, as any writer does. Afterwards every
//     node copy of the image is read back and verified (a metadata-only scan).
//
// The old place is released like any overwritten copy; scrub has no list of bad places to keep
// the allocator away from it (the format has none), which the report says.
import { CorruptImageError } from '../format/errors.js';
import { type Image, openImage } from '../format/image.js';
import { type BlockLayer, MemberIOError } from '../format/io.js';
import { BTREE, BUCKET_DATA } from '../format/layout.js';
import { type ExtentBody, type Key, ops } from '../format/keys.js';
import { Volume } from '../format/volume.js';
import { type CopyRecord, type ExtentTarget, type NodeTarget, scanBtrees, type ScrubTarget } from './scrub-plan.js';
import { checkCopy } from './scrub-read.js';

export interface Relocation {
  target: ScrubTarget;
  copy: CopyRecord;
  /** why the place could not take the copy */
  why: string;
}

export interface RelocateOptions {
  /** the same wrapping the scrub's own open used (tests simulate unusable places with it) */
  wrapLayer?: (layer: BlockLayer) => BlockLayer;
}

/** Whether a bad copy can be given a new place: its member is there to hold it, and the bytes are to be had. */
export function relocatable(img: Image, target: ScrubTarget, copy: CopyRecord): boolean {
  if (!img.layer.present(copy.member)) return false;
  // Erasure-coded data lives at its place in the stripe: the stripe repair owns it.
  return target.kind === 'node' || target.body.stripeId === 0;
}

/** The key holding an extent target, and its btree; undefined when the key is gone or changed. */
function extentKey(vol: Volume, t: ExtentTarget): { btreeId: number; key: Key; body: ExtentBody } | undefined {
  const btreeId = t.owner.kind === 'file' ? BTREE.extents : BTREE.reflink;
  const key = vol.trees[btreeId]!.get({ inode: t.owner.kind === 'file' ? t.owner.inode : 0, offset: t.owner.end, snapshot: 0 });
  if (!key) return undefined;
  try {
    const body = btreeId === BTREE.extents ? ops.extent.decode(key.value) : ops.indirectExtent.decode(key.value).body;
    return { btreeId, key, body };
  } catch (err) {
    // A key that no longer decodes is not one to move a copy under.
    if (err instanceof CorruptImageError) return undefined;
    throw err;
  }
}

function encodeWith(btreeId: number, key: Key, body: ExtentBody): Key {
  if (btreeId === BTREE.extents) return { ...key, value: ops.extent.encode(body) };
  const ind = ops.indirectExtent.decode(key.value);
  return { ...key, value: ops.indirectExtent.encode({ ...ind, body }) };
}

/** Give one extent copy a new place on its member; returns the note for the report, or throws why not. */
function moveExtentCopy(img: Image, vol: Volume, t: ExtentTarget, copy: CopyRecord, good: Buffer): string {
  const found = extentKey(vol, t);
  const at = found?.body.pointers.findIndex((p) => p.member === copy.member && p.offset === copy.offset) ?? -1;
  if (!found || at < 0) throw new Error('its key changed since the scan');
  const space = vol.space!;
  const ptr = space.allocate(copy.member, BUCKET_DATA.user, good.length);
  const padded = Buffer.alloc(Math.ceil(good.length / vol.fs.blockSize) * vol.fs.blockSize);
  good.copy(padded);
  vol.layer.write(copy.member, ptr.offset, padded);
  vol.layer.flush(copy.member);
  const back = vol.layer.read(copy.member, ptr.offset, good.length);
  const bad = back.equals(good) ? checkCopy(img, t, back) : 'bytes differ from what was written';
  if (bad) throw new Error(`the new place at offset ${ptr.offset} reads back bad too: ${bad}`);
  const pointers = found.body.pointers.map((p, i) => (i === at ? ptr : p));
  vol.commit([{ btreeId: found.btreeId, key: encodeWith(found.btreeId, found.key, { ...found.body, pointers }) }], 'scrub relocate');
  return `moved to offset ${ptr.offset} of member ${copy.member}`;
}

function failure(err: unknown): string {
  if (err instanceof MemberIOError) return err.reason;
  if (err instanceof Error) return err.message;
  throw err;
}

/**
 * Relocate each copy; sets its outcome. `readGood` re-reads and re-verifies a good copy of the
 * target just before use (undefined when none verifies any more).
 */
export async function relocateCopies(img: Image, list: Relocation[], readGood: (t: ScrubTarget) => Buffer | undefined, options: RelocateOptions = {}): Promise<void> {
  if (list.length === 0) return;
  const spec = img.members.filter((m) => m.present).map((m) => m.path).join(':');
  let vol: Volume;
  try {
    vol = await Volume.open(spec, { writable: true, allowDegraded: true, wrapLayer: options.wrapLayer });
  } catch (err) {
    for (const r of list) r.copy.outcome = { repaired: false, note: `${r.why}; could not open the image to move it: ${failure(err)}` };
    return;
  }
  const nodes: Relocation[] = [];
  try {
    for (const r of list) {
      const good = readGood(r.target);
      if (!good) {
        r.copy.outcome = { repaired: false, note: `${r.why}; no good copy left to move it from` };
        continue;
      }
      if (r.target.kind === 'node') {
        vol.trees[r.target.btreeId]!.rewrite(r.target.min);
        nodes.push(r);
        continue;
      }
      try {
        r.copy.outcome = { repaired: true, note: `${r.why}; ${moveExtentCopy(img, vol, r.target, r.copy, good)}` };
      } catch (err) {
        r.copy.outcome = { repaired: false, note: `${r.why}; moving it failed: ${failure(err)}` };
      }
    }
    vol.close();
  } catch (err) {
    vol.abandon();
    const why = failure(err);
    for (const r of list) if (!r.copy.outcome || nodes.includes(r)) r.copy.outcome = { repaired: false, note: `${r.why}; moving it failed: ${why}` };
    return;
  }
  if (nodes.length) await verifyRewrittenNodes(spec, nodes, options);
}

/** After the checkpoint: every node copy of the image verifies, or the relocated nodes count as not repaired. */
async function verifyRewrittenNodes(spec: string, nodes: Relocation[], options: RelocateOptions): Promise<void> {
  let bad: string | undefined;
  try {
    const after = await openImage(spec, { allowDegraded: true, wrapLayer: options.wrapLayer });
    try {
      const plan = await scanBtrees(after, { metadataOnly: true });
      const copy = plan.nodes.flatMap((n: NodeTarget) => n.copies).find((c) => c.state === 'bad');
      if (copy) bad = `a node copy at offset ${copy.offset} of member ${copy.member} reads back bad: ${copy.reason}`;
    } finally {
      after.close();
    }
  } catch (err) {
    bad = failure(err);
  }
  for (const r of nodes) {
    r.copy.outcome = bad
      ? { repaired: false, note: `${r.why}; rewritten to a new place, but ${bad}` }
      : { repaired: true, note: `${r.why}; the node was rewritten to a new place (copy-on-write) and read back` };
  }
}
