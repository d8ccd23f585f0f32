// Mutations of an image: (a) field level, xfstests style: pick a structure instance and one of
// its fields and apply zero / ones / flip a bit / +1 / -1 (names also get "/", NUL and dots),
// then either fix up the checksums so the mutation reaches the deep checks, or leave them;
// (b) byte level: random bytes, zeroed sectors and blocks, bit flips, a node copied over
// another (a misdirected write), a truncated member.
//
// Every parameter a step uses (bit index, byte index, lengths) is drawn first and recorded, so a
// step replays exactly from its recipe, by structure id, even after the seed images change.
import type { Checksummer } from '../../format/checksum.js';
import { BtreePointerValue, BtreeRoot, ExtentValue, MemberEntry, SB_MAX_SIZE, SB_TAIL, Superblock } from '../../format/layout.js';
import type { FieldSite, Fixup, ImageModel, NodeRef, StructureSite } from './model.js';
import type { Rng } from './random.js';

export const FIELD_VERBS = ['zero', 'ones', 'flip', 'inc', 'dec'] as const;
export const NAME_VERBS = ['slash', 'nul', 'dots'] as const;
export type Verb = (typeof FIELD_VERBS)[number] | (typeof NAME_VERBS)[number];

export type Step =
  | { op: 'field'; site: string; field: string; verb: Verb; byte: number; bit: number; fixup: boolean; replicas: boolean }
  | { op: 'damage'; kind: 'random-bytes' | 'zero-sector' | 'zero-block' | 'bitflips'; member: number; offset: number; length: number; seed: number; fixupSite?: string }
  | { op: 'misdirect'; from: string; to: string; fixup: boolean }
  | { op: 'truncate'; member: number; size: number };

/** The working bytes of one input: member buffers (a truncated member is a shorter buffer). */
export interface WorkingImage {
  members: Buffer[];
}

export interface MutationContext {
  model: ImageModel;
  checksums: Checksummer;
  sitesById: Map<string, StructureSite>;
}

export function mutationContext(model: ImageModel, checksums: Checksummer): MutationContext {
  return { model, checksums, sitesById: new Map(model.sites.map((s) => [s.id, s])) };
}

// ---------------------------------------------------------------------------------------------
// Drawing steps

export function drawSteps(rng: Rng, ctx: MutationContext, members: Buffer[]): Step[] {
  const count = rng.weighted([[70, 1], [20, 2], [10, 3 + rng.int(2)]] as const);
  const steps: Step[] = [];
  for (let i = 0; i < count; i++) steps.push(drawStep(rng, ctx, members));
  return steps;
}

function drawStep(rng: Rng, ctx: MutationContext, members: Buffer[]): Step {
  const sites = ctx.model.sites;
  const kind = rng.weighted([[70, 'field'], [22, 'damage'], [5, 'misdirect'], [3, 'truncate']] as const);
  if (kind === 'field') {
    // Spread picks over structure kinds first, so the many key values do not drown the
    // superblocks and headers.
    const kinds = [...new Set(sites.map((s) => s.kind))];
    const ofKind = sites.filter((s) => s.kind === rng.pick(kinds));
    const site = rng.pick(ofKind);
    const field = rng.pick(site.fields);
    const verbs: readonly Verb[] = field.kind === 'name' ? [...FIELD_VERBS, ...NAME_VERBS] : FIELD_VERBS;
    return {
      op: 'field', site: site.id, field: field.name, verb: rng.pick(verbs), byte: rng.int(field.size), bit: rng.int(8),
      fixup: rng.chance(0.6), replicas: rng.chance(0.5),
    };
  }
  if (kind === 'damage') {
    const damage = rng.pick(['random-bytes', 'zero-sector', 'zero-block', 'bitflips'] as const);
    const length = damage === 'random-bytes' ? 1 + rng.int(64) : damage === 'zero-sector' ? 512 : damage === 'zero-block' ? 4096 : 4096;
    // Half the time inside one structure (and then maybe with its checksum fixed up), half
    // anywhere in a member.
    if (rng.chance(0.5)) {
      const site = rng.pick(sites);
      const lo = Math.min(...site.fields.map((f) => f.offset));
      const hi = Math.max(...site.fields.map((f) => f.offset + f.size));
      const member = site.fields[0]!.member;
      const offset = alignDown(lo + rng.int(Math.max(1, hi - lo)), damage === 'zero-sector' ? 512 : damage === 'zero-block' ? 4096 : 1);
      return { op: 'damage', kind: damage, member, offset, length, seed: rng.u32(), fixupSite: rng.chance(0.5) ? site.id : undefined };
    }
    const member = rng.int(members.length);
    const size = members[member]!.length;
    const offset = alignDown(rng.int(size), damage === 'zero-sector' ? 512 : damage === 'zero-block' ? 4096 : 1);
    return { op: 'damage', kind: damage, member, offset, length, seed: rng.u32() };
  }
  if (kind === 'misdirect') {
    const headers = sites.filter((s) => s.kind === 'node-header');
    return { op: 'misdirect', from: rng.pick(headers).id, to: rng.pick(headers).id, fixup: rng.chance(0.5) };
  }
  const member = rng.int(members.length);
  const size = members[member]!.length;
  const cut = rng.weighted([[2, size - SB_TAIL + rng.int(SB_TAIL)], [2, rng.int(size)], [1, 4096 + rng.int(60 * 1024)]] as const);
  return { op: 'truncate', member, size: Math.max(0, Math.min(size, cut)) };
}

const alignDown = (n: number, a: number) => n - (n % a);

// ---------------------------------------------------------------------------------------------
// Applying steps

export class StaleStepError extends Error {}

export function applySteps(steps: Step[], img: WorkingImage, ctx: MutationContext): void {
  for (const step of steps) applyStep(step, img, ctx);
}

function site(ctx: MutationContext, id: string): StructureSite {
  const s = ctx.sitesById.get(id);
  if (!s) throw new StaleStepError(`structure ${id} is not in this image`);
  return s;
}

function applyStep(step: Step, img: WorkingImage, ctx: MutationContext): void {
  switch (step.op) {
    case 'field': {
      const s = site(ctx, step.site);
      const f = s.fields.find((x) => x.name === step.field);
      if (!f) throw new StaleStepError(`structure ${step.site} has no field ${step.field}`);
      const targets = [{ member: f.member, offset: f.offset }];
      if (step.replicas) for (const r of s.replicaDeltas) targets.push({ member: r.member, offset: f.offset + r.delta });
      for (const t of targets) applyVerb(img.members[t.member], t.offset, f, step);
      if (step.fixup) fixup(s.fixup, img, ctx);
      return;
    }
    case 'damage': {
      const buf = img.members[step.member];
      if (!buf) return;
      const end = Math.min(buf.length, step.offset + step.length);
      if (step.offset >= end) return;
      const r = new LocalRng(step.seed);
      if (step.kind === 'random-bytes') for (let i = step.offset; i < end; i++) buf[i] = r.next() & 0xff;
      else if (step.kind === 'bitflips') {
        const flips = 1 + (r.next() % 8);
        for (let i = 0; i < flips; i++) {
          const at = step.offset + (r.next() % (end - step.offset));
          buf[at]! ^= 1 << (r.next() % 8);
        }
      } else buf.fill(0, step.offset, end);
      if (step.fixupSite) fixup(site(ctx, step.fixupSite).fixup, img, ctx);
      return;
    }
    case 'misdirect': {
      const from = site(ctx, step.from).fields[0]!;
      const to = site(ctx, step.to).fields[0]!;
      const size = ctx.model.fs.nodeSize;
      const src = img.members[from.member];
      const dst = img.members[to.member];
      if (!src || !dst || from.offset + size > src.length || to.offset + size > dst.length) return;
      Buffer.from(src.subarray(from.offset, from.offset + size)).copy(dst, to.offset);
      // With fix-up, the parent of the overwritten node is made to agree with the copy's
      // checksum: a consistent-looking tree whose node has the wrong range, level or btree.
      if (step.fixup) fixup(site(ctx, step.to).fixup, img, ctx);
      return;
    }
    case 'truncate':
      if (img.members[step.member]) img.members[step.member] = img.members[step.member]!.subarray(0, step.size);
      return;
  }
}

/** A tiny PRNG private to one damage step, so the step replays from its recorded seed alone. */
class LocalRng {
  constructor(private s: number) {}
  next(): number {
    this.s = (Math.imul(this.s ^ (this.s >>> 15), 0x2c1b3c6d) + 0x9e3779b9) >>> 0;
    return (this.s ^ (this.s >>> 13)) >>> 0;
  }
}

function applyVerb(buf: Buffer | undefined, offset: number, f: FieldSite, step: Extract<Step, { op: 'field' }>): void {
  if (!buf || offset + f.size > buf.length || f.size === 0) return;
  const at = offset + (step.byte % f.size);
  switch (step.verb) {
    case 'zero': buf.fill(0, offset, offset + f.size); break;
    case 'ones': buf.fill(0xff, offset, offset + f.size); break;
    case 'flip': buf[at]! ^= 1 << step.bit; break;
    case 'inc':
    case 'dec': {
      if (f.kind !== 'number') {
        buf[at] = (buf[at]! + (step.verb === 'inc' ? 1 : 255)) & 0xff;
        break;
      }
      // Little-endian add or subtract one with carry over the field's width (wrapping).
      const delta = step.verb === 'inc' ? 1 : -1;
      for (let i = 0; i < f.size; i++) {
        const v = buf[offset + i]! + delta;
        buf[offset + i] = v & 0xff;
        if (v >= 0 && v <= 255) break;
      }
      break;
    }
    case 'slash': buf[at] = 0x2f; break;
    case 'nul': buf[at] = 0; break;
    case 'dots': buf.fill(0x2e, offset, offset + f.size); break;
  }
}

// ---------------------------------------------------------------------------------------------
// Checksum fix-ups: make the mutated structure, and everything that vouches for it, agree.

export function fixup(fx: Fixup, img: WorkingImage, ctx: MutationContext): void {
  switch (fx.kind) {
    case 'superblock': return fixSuperblock(img.members[fx.member], fx.offset, ctx);
    case 'node': return fixNode(fx.node, img, ctx);
    case 'journal': {
      const buf = img.members[fx.member];
      if (!buf || fx.offset + 72 > buf.length) return;
      const length = buf.readUInt32LE(fx.offset + 40);
      const type = buf[fx.offset + 4]!;
      if (length < 72 || fx.offset + length > buf.length || (type !== 1 && type !== 2)) return;
      buf.writeBigUInt64LE(ctx.checksums.compute(type, buf.subarray(fx.offset + 16, fx.offset + length)), fx.offset + 8);
      return;
    }
    case 'extent-data': {
      const data = fx.data;
      const dataBuf = img.members[data.member];
      if (!dataBuf || data.offset + fx.storedSize > dataBuf.length) return;
      const sum = ctx.checksums.compute(fx.checksumType, dataBuf.subarray(data.offset, data.offset + fx.storedSize));
      for (const c of fx.node.copies) {
        const b = img.members[c.member];
        if (b && c.offset + fx.keyValueOffset + ExtentValue.size <= b.length) b.writeBigUInt64LE(sum, c.offset + fx.keyValueOffset + ExtentValue.field('checksum').offset);
      }
      return fixNode(fx.node, img, ctx);
    }
  }
}

function fixSuperblock(buf: Buffer | undefined, offset: number, ctx: MutationContext): void {
  if (!buf || offset < 0 || offset + Superblock.size > buf.length) return;
  const total = buf.readUInt32LE(offset + 16);
  if (total < Superblock.size || total > SB_MAX_SIZE || offset + total > buf.length) return;
  buf.writeBigUInt64LE(BigInt(ctx.checksums.crc32c(buf.subarray(offset + 16, offset + total))), offset + 8);
}

/** Recompute a node's checksum, store it in its parent pointer, and go on up to the superblocks. */
function fixNode(node: NodeRef, img: WorkingImage, ctx: MutationContext): void {
  const nodeSize = ctx.model.fs.nodeSize;
  let sum: bigint | undefined;
  for (const c of node.copies) {
    const buf = img.members[c.member];
    if (!buf || c.offset + nodeSize > buf.length) continue;
    const used = buf.readUInt32LE(c.offset + 76);
    const type = buf[c.offset + 4]!;
    if (used < 80 || used > nodeSize || (type !== 1 && type !== 2)) continue;
    const s = ctx.checksums.compute(type, buf.subarray(c.offset + 16, c.offset + used));
    buf.writeBigUInt64LE(s, c.offset + 8);
    sum ??= s;
  }
  if (sum === undefined) return;
  const parent = node.parent;
  if ('rootIndex' in parent) {
    // Every superblock copy of every member names the root: update them all.
    const fs = ctx.model.fs;
    const rootAt = Superblock.size + fs.members.length * MemberEntry.size + parent.rootIndex * BtreeRoot.size + BtreeRoot.field('checksum').offset;
    img.members.forEach((buf, member) => {
      for (const sbOffset of [4096, buf.length - SB_TAIL]) {
        if (sbOffset < 4096 || sbOffset + rootAt + 8 > buf.length) continue;
        buf.writeBigUInt64LE(sum!, sbOffset + rootAt);
        fixSuperblock(buf, sbOffset, ctx);
      }
      void member;
    });
    return;
  }
  for (const c of parent.node.copies) {
    const buf = img.members[c.member];
    const at = c.offset + parent.keyValueOffset + BtreePointerValue.field('checksum').offset;
    if (buf && at + 8 <= buf.length) buf.writeBigUInt64LE(sum, at);
  }
  fixNode(parent.node, img, ctx);
}

// ---------------------------------------------------------------------------------------------
// Recording: the exact bytes that differ from the seed, for regression files.

export interface Patch {
  member: number;
  offset: number;
  hex: string;
}

export function diffPatches(seed: Buffer[], work: WorkingImage): { patches: Patch[]; sizes: number[] } {
  const patches: Patch[] = [];
  work.members.forEach((buf, member) => {
    const orig = seed[member]!;
    const n = Math.min(buf.length, orig.length);
    for (let block = 0; block < n; block += 4096) {
      const end = Math.min(n, block + 4096);
      if (buf.subarray(block, end).equals(orig.subarray(block, end))) continue;
      let i = block;
      while (i < end) {
        if (buf[i] === orig[i]) {
          i++;
          continue;
        }
        let j = i;
        while (j < end && (buf[j] !== orig[j] || (j + 1 < end && buf[j + 1] !== orig[j + 1]))) j++;
        const last = patches[patches.length - 1];
        if (last && last.member === member && last.offset + last.hex.length / 2 === i) last.hex += buf.subarray(i, j).toString('hex');
        else patches.push({ member, offset: i, hex: buf.subarray(i, j).toString('hex') });
        i = j;
      }
    }
  });
  return { patches, sizes: work.members.map((m) => m.length) };
}

export function applyPatches(seed: Buffer[], patches: Patch[], sizes: number[]): WorkingImage {
  const members = seed.map((m, i) => Buffer.from(m.subarray(0, sizes[i] ?? m.length)));
  for (const p of patches) Buffer.from(p.hex, 'hex').copy(members[p.member]!, p.offset);
  return { members };
}

export function describeStep(step: Step): string {
  switch (step.op) {
    case 'field': return `${step.site} .${step.field} ${step.verb}${step.verb === 'flip' ? ` bit ${step.bit} of byte ${step.byte}` : ''}${step.fixup ? ' (checksums fixed)' : ''}${step.replicas ? ' (all replicas)' : ''}`;
    case 'damage': return `${step.kind} member ${step.member} at ${step.offset}+${step.length}${step.fixupSite ? ` (checksums of ${step.fixupSite} fixed)` : ''}`;
    case 'misdirect': return `node ${step.from} copied over ${step.to}${step.fixup ? ' (parent fixed)' : ''}`;
    case 'truncate': return `member ${step.member} truncated to ${step.size} bytes`;
  }
}
