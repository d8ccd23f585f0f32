// Superblock copies: encode one for a member, decode and validate one, and find the best copy
// of a member. Decoding follows a fixed order: magic, checksum, version and unknown
// incompatible features, bounds, then meaning. A copy that fails any step is reported with
// where and why, and the caller moves on to the next copy.
import { FieldRangeError } from './codec.js';
import { CorruptImageError } from './errors.js';
import type { BlockLayer } from './io.js';
import {
  BTREE_COUNT, BtreeRoot, FORMAT_VERSION, INCOMPAT_KNOWN, LIMITS, MAX_BTREE_DEPTH, MAX_MEMBERS, MAX_REPLICAS, MemberEntry, Pointer,
  READABLE_VERSIONS, SB_MAGIC, SB_MAX_SIZE, SB_OFFSET, SB_TAIL, Superblock,
} from './layout.js';
import type { Ptr } from './keys.js';

export interface MemberInfo {
  uuid: Buffer;
  size: number;
  bucketCount: number;
  journalBucket: number;
  journalBuckets: number;
  state: number;
}

export interface RootInfo {
  btreeId: number;
  level: number;
  checksum: bigint;
  seq: number;
  pointers: Ptr[];
}

/** Everything a superblock says about the filesystem (identical in every member's copies). */
export interface FsInfo {
  version: number;
  incompat: number;
  roCompat: number;
  compat: number;
  fsUuid: Buffer;
  blockSize: number;
  bucketSize: number;
  nodeSize: number;
  flags: number;
  seq: number;
  journalSeq: number;
  created: number;
  nextInode: number;
  nextReflink: number;
  nextStripe: number;
  dataChecksum: number;
  metadataChecksum: number;
  compression: number;
  compressionLevel: number;
  dataReplicas: number;
  metadataReplicas: number;
  ecData: number;
  ecParity: number;
  label: string;
  members: MemberInfo[];
  /** indexed by btree id */
  roots: RootInfo[];
}

export interface SuperblockCopy {
  fs: FsInfo;
  memberUuid: Buffer;
  memberIndex: number;
}

export type crc32cFn = (data: Uint8Array) => number;

/** Byte offsets of the two copies in a member file of `memberSize` bytes. */
export function superblockOffsets(memberSize: number): [number, number] {
  return [SB_OFFSET, memberSize - SB_TAIL];
}

export function encodeSuperblock(fs: FsInfo, memberIndex: number, crc32c: crc32cFn): Buffer {
  const header = Superblock.size;
  const total = header + fs.members.length * MemberEntry.size + fs.roots.length * BtreeRoot.size;
  if (total > SB_MAX_SIZE) throw new RangeError(`superblock of ${total} bytes exceeds ${SB_MAX_SIZE}`);
  const out = Buffer.alloc(total);
  // A label read from disk that was not UTF-8 decodes with replacement characters, which take
  // more bytes: cut to the field, or a checkpoint of such an image could not write its superblock.
  const label = Buffer.from(fs.label, 'utf8').subarray(0, Superblock.field('label').size);
  Superblock.encode({
    magic: SB_MAGIC, checksum: 0n, total_size: total, version: fs.version, header_size: header,
    features_incompat: fs.incompat, features_ro_compat: fs.roCompat, features_compat: fs.compat,
    fs_uuid: fs.fsUuid, member_uuid: fs.members[memberIndex]!.uuid, member_index: memberIndex,
    member_count: fs.members.length, root_count: fs.roots.length, reserved0: 0,
    block_size: fs.blockSize, bucket_size: fs.bucketSize, node_size: fs.nodeSize, flags: fs.flags,
    seq: fs.seq, journal_seq: fs.journalSeq, created: fs.created, next_inode: fs.nextInode,
    next_reflink: fs.nextReflink, next_stripe: fs.nextStripe, data_checksum: fs.dataChecksum,
    metadata_checksum: fs.metadataChecksum, compression: fs.compression, compression_level: fs.compressionLevel,
    data_replicas: fs.dataReplicas, metadata_replicas: fs.metadataReplicas, ec_data: fs.ecData, ec_parity: fs.ecParity,
    label, reserved1: Buffer.alloc(0),
  }, out);
  let at = header;
  for (const m of fs.members) {
    MemberEntry.encode({
      uuid: m.uuid, size: m.size, bucket_count: m.bucketCount, journal_bucket: m.journalBucket,
      journal_buckets: m.journalBuckets, state: m.state, reserved0: Buffer.alloc(0), reserved1: Buffer.alloc(0),
    }, out, at);
    at += MemberEntry.size;
  }
  for (const r of fs.roots) {
    const ptrs = [0, 1, 2, 3].map((i) => {
      const p = r.pointers[i];
      return p ? Pointer.encode({ member: p.member, flags: 0, reserved: 0, generation: p.generation, offset: p.offset }) : Buffer.alloc(16);
    });
    BtreeRoot.encode({
      btree_id: r.btreeId, level: r.level, pointer_count: r.pointers.length, reserved: Buffer.alloc(0),
      checksum: r.checksum, seq: r.seq, ptr0: ptrs[0]!, ptr1: ptrs[1]!, ptr2: ptrs[2]!, ptr3: ptrs[3]!,
    }, out, at);
    at += BtreeRoot.size;
  }
  out.writeBigUInt64LE(BigInt(crc32c(out.subarray(16))), 8);
  return out;
}

/**
 * Decode one copy from the bytes at its offset (at least the header; the caller reads
 * SB_MAX_SIZE or what the file has). Throws CorruptImageError naming member, offset and step.
 */
export function decodeSuperblock(bytes: Buffer, crc32c: crc32cFn, where: { member: string; offset: number }): SuperblockCopy {
  try {
    return decodeCheckedSuperblock(bytes, crc32c, where);
  } catch (err) {
    // A 64-bit field of the member or root table above 2^53: say where, as every other step does.
    if (err instanceof FieldRangeError) throw new CorruptImageError(err.message, { member: where.member, offset: where.offset, structure: err.structName });
    throw err;
  }
}

function decodeCheckedSuperblock(bytes: Buffer, crc32c: crc32cFn, where: { member: string; offset: number }): SuperblockCopy {
  const fail = (what: string, structure = 'superblock'): never => {
    throw new CorruptImageError(what, { member: where.member, offset: where.offset, structure });
  };
  if (bytes.length < Superblock.size || !bytes.subarray(0, 8).equals(SB_MAGIC)) fail('not a strata superblock (bad magic)');
  const totalSize = bytes.readUInt32LE(16);
  // Bound: 256 B .. SB_MAX_SIZE (60 KiB) and within the bytes read, before the checksum runs over it.
  if (totalSize < Superblock.size || totalSize > SB_MAX_SIZE || totalSize > bytes.length) fail(`superblock size ${totalSize} out of bounds`);
  const stored = bytes.readBigUInt64LE(8);
  const actual = BigInt(crc32c(bytes.subarray(16, totalSize)));
  if (stored !== actual) fail(`superblock checksum mismatch (stored ${stored.toString(16)}, computed ${actual.toString(16)})`);
  let h: ReturnType<typeof Superblock.decode>;
  try {
    h = Superblock.decode(bytes);
  } catch (err) {
    if (err instanceof FieldRangeError) fail(err.message);
    throw err;
  }
  if (!(READABLE_VERSIONS as readonly number[]).includes(h.version)) {
    fail(`format version ${h.version} is not supported (this strata reads ${READABLE_VERSIONS.join(', ')})`);
  }
  const unknown = h.features_incompat & ~INCOMPAT_KNOWN;
  if (unknown) fail(`unknown incompatible features 0x${unknown.toString(16)}: this image needs a newer strata`);
  // Bounds: 1..MAX_MEMBERS (64) members and exactly BTREE_COUNT (7) roots, and together they
  // fill total_size: the table loops below run at most 71 times, inside the checked bytes.
  if (h.header_size < Superblock.size || h.member_count < 1 || h.member_count > MAX_MEMBERS || h.member_index >= h.member_count) {
    fail(`member index ${h.member_index} of ${h.member_count} members out of bounds`);
  }
  if (h.root_count !== BTREE_COUNT) fail(`root table has ${h.root_count} entries, expected ${BTREE_COUNT}`);
  if (h.header_size + h.member_count * MemberEntry.size + h.root_count * BtreeRoot.size !== totalSize) fail('superblock tables do not fill total_size');
  // Bounds: node_size <= 1 MiB is the length of every node read; bucket_size <= 64 MiB.
  const pow2 = (n: number) => n > 0 && (n & (n - 1)) === 0;
  if (!pow2(h.block_size) || h.block_size < LIMITS.blockSize.min || h.block_size > LIMITS.blockSize.max) fail(`block size ${h.block_size} invalid`);
  if (!pow2(h.bucket_size) || h.bucket_size < LIMITS.bucketSize.min || h.bucket_size > LIMITS.bucketSize.max || h.bucket_size < h.block_size) fail(`bucket size ${h.bucket_size} invalid`);
  if (!pow2(h.node_size) || h.node_size < LIMITS.nodeSize.min || h.node_size > LIMITS.nodeSize.max || h.node_size > h.bucket_size || h.node_size < h.block_size) fail(`node size ${h.node_size} invalid`);
  if (h.data_replicas < 1 || h.data_replicas > MAX_REPLICAS || h.metadata_replicas < 1 || h.metadata_replicas > MAX_REPLICAS) fail('replica counts out of range');
  // Replicas live on distinct members: more than there are members can never be written.
  if (h.data_replicas > h.member_count || h.metadata_replicas > h.member_count) fail(`${Math.max(h.data_replicas, h.metadata_replicas)} replicas but ${h.member_count} members`);
  if (h.metadata_checksum !== 1 && h.metadata_checksum !== 2) fail(`metadata checksum type ${h.metadata_checksum} invalid`);
  if (h.data_checksum > 2 || h.compression > 1) fail('unknown data checksum or compression type');
  if (h.ec_data > 16 || h.ec_parity > 4 || (h.ec_data === 0) !== (h.ec_parity === 0)) fail(`erasure coding ${h.ec_data}+${h.ec_parity} invalid`);

  const members: MemberInfo[] = [];
  let at = h.header_size;
  for (let i = 0; i < h.member_count; i++, at += MemberEntry.size) {
    const m = MemberEntry.decode(bytes, at);
    const expectBuckets = Math.floor((m.size - SB_TAIL) / h.bucket_size);
    if (m.size < SB_TAIL + 2 * h.bucket_size || m.bucket_count !== expectBuckets) fail(`member ${i}: size ${m.size} and bucket count ${m.bucket_count} disagree`, 'member table');
    if (m.journal_buckets > 0 && (m.journal_bucket < 1 || m.journal_bucket + m.journal_buckets > m.bucket_count)) fail(`member ${i}: journal buckets out of range`, 'member table');
    members.push({ uuid: m.uuid, size: m.size, bucketCount: m.bucket_count, journalBucket: m.journal_bucket, journalBuckets: m.journal_buckets, state: m.state });
  }
  if (!members[h.member_index]!.uuid.equals(h.member_uuid)) fail('member uuid differs from its member table entry', 'member table');
  const roots: RootInfo[] = [];
  for (let i = 0; i < h.root_count; i++, at += BtreeRoot.size) {
    const r = BtreeRoot.decode(bytes, at);
    if (r.btree_id !== i) fail(`root ${i} names btree ${r.btree_id}`, 'root table');
    if (r.pointer_count < 1 || r.pointer_count > MAX_REPLICAS) fail(`root of btree ${i} has ${r.pointer_count} pointers`, 'root table');
    // Bound: depth < MAX_BTREE_DEPTH (8): every btree walk's stack.
    if (r.level >= MAX_BTREE_DEPTH) fail(`root of btree ${i} claims level ${r.level}`, 'root table');
    const pointers: Ptr[] = [];
    for (const slot of [r.ptr0, r.ptr1, r.ptr2, r.ptr3].slice(0, r.pointer_count)) {
      const p = Pointer.decode(slot);
      if (p.member >= h.member_count) fail(`root of btree ${i} points to member ${p.member}`, 'root table');
      pointers.push({ member: p.member, generation: p.generation, offset: p.offset });
    }
    roots.push({ btreeId: r.btree_id, level: r.level, checksum: r.checksum, seq: r.seq, pointers });
  }
  const labelEnd = h.label.indexOf(0);
  return {
    memberUuid: h.member_uuid,
    memberIndex: h.member_index,
    fs: {
      version: h.version, incompat: h.features_incompat, roCompat: h.features_ro_compat, compat: h.features_compat,
      fsUuid: h.fs_uuid, blockSize: h.block_size, bucketSize: h.bucket_size, nodeSize: h.node_size, flags: h.flags,
      seq: h.seq, journalSeq: h.journal_seq, created: h.created, nextInode: h.next_inode, nextReflink: h.next_reflink,
      nextStripe: h.next_stripe, dataChecksum: h.data_checksum, metadataChecksum: h.metadata_checksum,
      compression: h.compression, compressionLevel: h.compression_level, dataReplicas: h.data_replicas,
      metadataReplicas: h.metadata_replicas, ecData: h.ec_data, ecParity: h.ec_parity,
      label: h.label.subarray(0, labelEnd < 0 ? h.label.length : labelEnd).toString('utf8'),
      members, roots,
    },
  };
}

export interface CopyResult {
  copy: 0 | 1;
  offset: number;
  result?: SuperblockCopy;
  error?: string;
}

/** Read and decode both copies of one member; never throws for damage, only reports it. */
export function readSuperblockCopies(layer: BlockLayer, member: number, memberPath: string, crc32c: crc32cFn): CopyResult[] {
  const size = layer.size(member);
  const out: CopyResult[] = [];
  superblockOffsets(size).forEach((offset, copy) => {
    const entry: CopyResult = { copy: copy as 0 | 1, offset };
    try {
      if (offset < SB_OFFSET || offset + 4096 > size) throw new CorruptImageError(`file of ${size} bytes too small to hold superblock copy ${copy}`, { member: memberPath, offset });
      const bytes = layer.read(member, offset, Math.min(SB_MAX_SIZE, size - offset));
      entry.result = decodeSuperblock(bytes, crc32c, { member: memberPath, offset });
    } catch (err) {
      entry.error = err instanceof Error ? err.message : String(err);
    }
    out.push(entry);
  });
  return out;
}

/** The newest valid copy of one member, or undefined when neither copy is valid. */
export function bestCopy(copies: CopyResult[]): CopyResult | undefined {
  let best: CopyResult | undefined;
  for (const c of copies) if (c.result && (!best || c.result.fs.seq > best.result!.fs.seq)) best = c;
  return best;
}

export { FORMAT_VERSION };
