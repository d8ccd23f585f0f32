// Where every mutable structure of an image is: superblock copies (header, member table, root
// table), btree nodes (header, each key header, each key value by type), extent data, and the
// journal entry. Located with the codecs in format/ (decodeSuperblock, decodeNode,
// decodeBtreePointer), never with offsets kept by hand, so the fuzzer follows the format.
import type { Checksummer } from '../../format/checksum.js';
import type { PlacedField } from '../../format/codec.js';
import { decodeNode } from '../../format/btree/node.js';
import { decodeBtreePointer, decodeExtentBody, type Pos, POS_MAX, POS_MIN, type Ptr } from '../../format/keys.js';
import {
  AllocValue, BTREE_NAMES, BtreePointerValue, BtreeRoot, DirentValue, ExtentValue, IndirectExtentValue, InodeValue, JournalEntryHeader,
  JournalItemHeader, JOURNAL_MAGIC, KEY_TYPE, KEY_TYPE_NAMES, KeyHeader, MemberEntry, NodeHeader, Pointer, ReflinkPointerValue,
  SB_OFFSET, SB_TAIL, Superblock, XattrValue,
} from '../../format/layout.js';
import { decodeSuperblock, type FsInfo } from '../../format/superblock.js';

/** One mutable field: absolute byte range in a member file. */
export interface FieldSite {
  name: string;
  member: number;
  offset: number;
  size: number;
  /** 'number' fields take arithmetic verbs; 'bytes' fields also take the name verbs */
  kind: 'number' | 'bytes' | 'name';
}

/** A node copy and how to restore the integrity chain above it after its bytes change. */
export interface NodeRef {
  btreeId: number;
  level: number;
  /** every replica of the node */
  copies: Ptr[];
  /** the parent's pointer to this node: a key value in a parent node, or a superblock root */
  parent: { node: NodeRef; keyValueOffset: number } | { rootIndex: number };
}

export type Fixup =
  | { kind: 'superblock'; member: number; offset: number }
  | { kind: 'node'; node: NodeRef }
  | { kind: 'journal'; member: number; offset: number }
  /** stored data of an extent: the checksum lives in the key at keyValueOffset of `node` */
  | { kind: 'extent-data'; node: NodeRef; keyValueOffset: number; checksumType: number; storedSize: number; data: { member: number; offset: number } };

export interface StructureSite {
  /** stable identity, also the regression recipe's name for it */
  id: string;
  kind: 'superblock' | 'member-entry' | 'root-entry' | 'node-header' | 'key-header' | 'key-value' | 'extent-data' | 'journal-entry' | 'journal-item';
  fields: FieldSite[];
  /** replicas of the same bytes (other copies of the node), in the same member-relative order */
  replicaDeltas: Array<{ member: number; delta: number }>;
  fixup: Fixup;
}

export interface ImageModel {
  fs: FsInfo;
  sites: StructureSite[];
  /** every node location, for targets that decode nodes directly */
  nodes: Array<{ ref: NodeRef; min: Pos; max: Pos; checksum: bigint; seq: number }>;
  /** the metadata bytes of the image: nodes x replicas x node_size + superblock copies */
  metadataBytes: number;
}

function fieldsOf(struct: { fields: readonly PlacedField[] }, member: number, base: number, prefix = ''): FieldSite[] {
  return struct.fields
    .filter((f) => !f.name.startsWith('reserved'))
    .map((f) => ({ name: prefix + f.name, member, offset: base + f.offset, size: f.size, kind: f.kind.startsWith('bytes') || f.kind === 'uuid' ? 'bytes' : 'number' }));
}

function pointerFields(member: number, base: number, count: number, prefix: string): FieldSite[] {
  const out: FieldSite[] = [];
  for (let i = 0; i < count; i++) out.push(...fieldsOf(Pointer, member, base + i * Pointer.size, `${prefix}${i}.`));
  return out;
}

/** Fields of a key's value by its type, at `at` in member `member`. */
function valueFields(type: number, value: Buffer, member: number, at: number): FieldSite[] {
  const name = (off: number, len: number): FieldSite => ({ name: 'name', member, offset: at + off, size: len, kind: 'name' });
  switch (type) {
    case KEY_TYPE.inode: return fieldsOf(InodeValue, member, at);
    case KEY_TYPE.dirent: return [...fieldsOf(DirentValue, member, at), name(DirentValue.size, value.length - DirentValue.size)];
    case KEY_TYPE.xattr: {
      const nameLength = value[0] ?? 0;
      const out = [...fieldsOf(XattrValue, member, at), name(XattrValue.size, Math.min(nameLength, value.length - XattrValue.size))];
      const valueStart = XattrValue.size + nameLength;
      if (value.length > valueStart) out.push({ name: 'value', member, offset: at + valueStart, size: value.length - valueStart, kind: 'bytes' });
      return out;
    }
    case KEY_TYPE.extent: return [...fieldsOf(ExtentValue, member, at), ...pointerFields(member, at + ExtentValue.size, value[26] ?? 0, 'ptr')];
    case KEY_TYPE.inlineData: return [{ name: 'data', member, offset: at, size: value.length, kind: 'bytes' }];
    case KEY_TYPE.reflinkPointer: return fieldsOf(ReflinkPointerValue, member, at);
    case KEY_TYPE.indirectExtent: return [...fieldsOf(IndirectExtentValue, member, at), ...fieldsOf(ExtentValue, member, at + IndirectExtentValue.size, 'extent.')];
    case KEY_TYPE.alloc: return fieldsOf(AllocValue, member, at);
    case KEY_TYPE.btreePointer: return [...fieldsOf(BtreePointerValue, member, at), ...pointerFields(member, at + BtreePointerValue.size, value[1] ?? 0, 'ptr')];
    default: return value.length ? [{ name: 'value', member, offset: at, size: value.length, kind: 'bytes' }] : [];
  }
}

/**
 * Build the model from the member bytes. Only the copies that decode are followed: this runs on
 * the unmutated seed images, where everything decodes.
 */
export function modelImage(members: Buffer[], checksums: Checksummer): ImageModel {
  const sites: StructureSite[] = [];
  const primary = decodeSuperblock(members[0]!.subarray(SB_OFFSET), checksums.crc32c, { member: 'm0', offset: SB_OFFSET });
  const info = primary.fs;
  let metadataBytes = 0;

  members.forEach((bytes, member) => {
    for (const [copy, offset] of [[0, SB_OFFSET], [1, bytes.length - SB_TAIL]] as const) {
      const sb = decodeSuperblock(bytes.subarray(offset), checksums.crc32c, { member: `m${member}`, offset });
      const total = bytes.readUInt32LE(offset + 16);
      metadataBytes += total;
      const fixup: Fixup = { kind: 'superblock', member, offset };
      const header = { id: `sb m${member} c${copy}`, kind: 'superblock' as const, fields: fieldsOf(Superblock, member, offset), replicaDeltas: [], fixup };
      header.fields.push({ name: 'checksum-region', member, offset: offset + 16, size: total - 16, kind: 'bytes' });
      sites.push(header);
      let at = offset + Superblock.size;
      sb.fs.members.forEach((_, i) => {
        sites.push({ id: `sb m${member} c${copy} member ${i}`, kind: 'member-entry', fields: fieldsOf(MemberEntry, member, at), replicaDeltas: [], fixup });
        at += MemberEntry.size;
      });
      sb.fs.roots.forEach((r, i) => {
        const fields = fieldsOf(BtreeRoot, member, at).filter((f) => !/^ptr\d$/.test(f.name));
        fields.push(...pointerFields(member, at + BtreeRoot.field('ptr0').offset, r.pointers.length, 'ptr'));
        sites.push({ id: `sb m${member} c${copy} root ${BTREE_NAMES[i]}`, kind: 'root-entry', fields, replicaDeltas: [], fixup });
        at += BtreeRoot.size;
      });
    }
  });

  // Walk every btree from its root; node positions are unique per (btree, level, min).
  const nodes: ImageModel['nodes'] = [];
  const fsMagic = info.fsUuid.subarray(0, 8);
  info.roots.forEach((root, rootIndex) => {
    type Pending = { ref: NodeRef; min: Pos; max: Pos; checksum: bigint; seq: number };
    const stack: Pending[] = [{ ref: { btreeId: root.btreeId, level: root.level, copies: root.pointers, parent: { rootIndex } }, min: POS_MIN, max: POS_MAX, checksum: root.checksum, seq: root.seq }];
    while (stack.length) {
      const p = stack.pop()!;
      const first = p.ref.copies[0]!;
      const bytes = members[first.member]!.subarray(first.offset, first.offset + info.nodeSize);
      const node = decodeNode(bytes, { btreeId: p.ref.btreeId, level: p.ref.level, fsMagic, checksum: p.checksum, seq: p.seq, min: p.min, max: p.max }, checksums);
      nodes.push(p);
      metadataBytes += info.nodeSize * p.ref.copies.length;
      const name = `node ${BTREE_NAMES[p.ref.btreeId]} L${p.ref.level} ${p.min.inode}:${p.min.offset}`;
      const replicaDeltas = p.ref.copies.slice(1).map((c) => ({ member: c.member, delta: c.offset - first.offset }));
      const fixup: Fixup = { kind: 'node', node: p.ref };
      sites.push({ id: `${name} header`, kind: 'node-header', fields: fieldsOf(NodeHeader, first.member, first.offset), replicaDeltas, fixup });
      let at = first.offset + NodeHeader.size;
      node.keys.forEach((k, i) => {
        sites.push({ id: `${name} key ${i} header`, kind: 'key-header', fields: fieldsOf(KeyHeader, first.member, at), replicaDeltas, fixup });
        const valueAt = at + KeyHeader.size;
        const vf = valueFields(k.type, k.value, first.member, valueAt);
        if (vf.length) sites.push({ id: `${name} key ${i} ${KEY_TYPE_NAMES[k.type] ?? k.type}`, kind: 'key-value', fields: vf, replicaDeltas, fixup });
        if (k.type === KEY_TYPE.extent) {
          const e = decodeExtentBody(k.value);
          const data = e.pointers[0]!;
          sites.push({
            id: `${name} key ${i} extent-data`, kind: 'extent-data',
            fields: [{ name: 'stored', member: data.member, offset: data.offset, size: e.storedSize, kind: 'bytes' }],
            replicaDeltas: e.pointers.slice(1).map((c) => ({ member: c.member, delta: c.offset - data.offset })),
            fixup: { kind: 'extent-data', node: p.ref, keyValueOffset: valueAt - first.offset, checksumType: e.checksumType, storedSize: e.storedSize, data: { member: data.member, offset: data.offset } },
          });
        }
        if (p.ref.level > 0 && k.type === KEY_TYPE.btreePointer) {
          const ptr = decodeBtreePointer(k.value);
          stack.push({
            ref: { btreeId: p.ref.btreeId, level: p.ref.level - 1, copies: ptr.pointers, parent: { node: p.ref, keyValueOffset: valueAt - first.offset } },
            min: ptr.min, max: { inode: k.inode, offset: k.offset, snapshot: k.snapshot }, checksum: ptr.checksum, seq: ptr.seq,
          });
        }
        at += KeyHeader.size + ((k.value.length + 7) & ~7);
      });
    }
  });

  // The journal entry the seed builder adds (see seeds.ts), when present.
  members.forEach((bytes, member) => {
    const m = info.members[member]!;
    if (m.journalBuckets === 0) return;
    const at = m.journalBucket * info.bucketSize;
    if (bytes.readUInt32LE(at) !== JOURNAL_MAGIC) return;
    const length = bytes.readUInt32LE(at + JournalEntryHeader.field('length').offset);
    metadataBytes += length;
    const fixup: Fixup = { kind: 'journal', member, offset: at };
    sites.push({ id: `journal m${member} entry 0`, kind: 'journal-entry', fields: fieldsOf(JournalEntryHeader, member, at), replicaDeltas: [], fixup });
    const itemAt = at + JournalEntryHeader.size;
    const keyAt = itemAt + JournalItemHeader.size;
    const valueSize = bytes.readUInt16LE(keyAt + KeyHeader.field('value_size').offset);
    const value = bytes.subarray(keyAt + KeyHeader.size, keyAt + KeyHeader.size + valueSize);
    sites.push({
      id: `journal m${member} entry 0 item 0`, kind: 'journal-item',
      fields: [...fieldsOf(JournalItemHeader, member, itemAt), ...fieldsOf(KeyHeader, member, keyAt, 'key.'), ...valueFields(bytes[keyAt + 20]!, value, member, keyAt + KeyHeader.size)],
      replicaDeltas: [], fixup,
    });
  });

  return { fs: info, sites, nodes, metadataBytes };
}
