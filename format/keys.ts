// Keys and the operations table of every key type. A key is a position (inode, offset,
// snapshot), compared as one number with inode most significant, plus a type and a raw value.
// Each key type has one entry in KEY_OPS: decode (raw value -> typed), encode, validate
// (returns a problem description or undefined), and toText for dump. Values are decoded only
// after the raw size was checked, so a hostile value length never drives an allocation.
import { FieldRangeError, formatUuid } from './codec.js';
import { CorruptImageError, type Where } from './errors.js';
import {
  AllocValue, BTREE_NAMES, BtreePointerValue, BUCKET_DATA_NAMES, DirentValue, ExtentValue, IndirectExtentValue, InodeValue, KEY_TYPE,
  KeyType, MAX_EXTENT_SIZE, MAX_REPLICAS, NAME_MAX, Pointer, ReflinkPointerValue, StripeValue, XattrValue,
} from './layout.js';

export interface Pos {
  inode: number;
  offset: number;
  snapshot: number;
}

export interface Key extends Pos {
  type: KeyType;
  /** raw value bytes exactly as on disk (without padding) */
  value: Buffer;
}

export const POS_MIN: Pos = Object.freeze({ inode: 0, offset: 0, snapshot: 0 });
export const POS_MAX: Pos = Object.freeze({ inode: Number.MAX_SAFE_INTEGER, offset: Number.MAX_SAFE_INTEGER, snapshot: 0xffffffff });

export function comparePos(a: Pos, b: Pos): number {
  return a.inode - b.inode || a.offset - b.offset || a.snapshot - b.snapshot;
}

export function pos(inode: number, offset = 0, snapshot = 0): Pos {
  return { inode, offset, snapshot };
}

export function posToText(p: Pos): string {
  if (p.inode === POS_MAX.inode && p.offset === POS_MAX.offset) return 'POS_MAX';
  return `${p.inode}:${p.offset}:${p.snapshot}`;
}

/** The position just after `p`, for iterating "everything greater than p". */
export function posSuccessor(p: Pos): Pos {
  if (p.snapshot < 0xffffffff) return { inode: p.inode, offset: p.offset, snapshot: p.snapshot + 1 };
  if (p.offset < Number.MAX_SAFE_INTEGER) return { inode: p.inode, offset: p.offset + 1, snapshot: 0 };
  return { inode: p.inode + 1, offset: 0, snapshot: 0 };
}

// ---------------------------------------------------------------------------------------------
// Typed values

export type Ptr = { member: number; generation: number; offset: number };

export type DecodedInode = ReturnType<typeof InodeValue.decode>;

export interface Dirent { target: number; dType: number; name: Buffer }
export interface XattrEntry { name: Buffer; value: Buffer }

export interface ExtentBody {
  liveSize: number;
  chunkOffset: number;
  uncompressedSize: number;
  storedSize: number;
  checksum: bigint;
  checksumType: number;
  compression: number;
  stripeId: number;
  stripeBlock: number;
  pointers: Ptr[];
}

export interface ReflinkPointer { liveSize: number; index: number }
export interface IndirectExtent { refcount: number; body: ExtentBody }

export interface Stripe {
  algorithm: number;
  dataBlocks: number;
  parityBlocks: number;
  checksumType: number;
  checksumGranularityBits: number;
  blockSize: number;
  pointers: Ptr[];
  /** checksums[block][chunk] */
  checksums: bigint[][];
}

export interface AllocInfo { generation: number; dataType: number; usedBytes: number; stripeId: number }

export interface BtreePointer {
  level: number;
  checksum: bigint;
  seq: number;
  min: Pos;
  pointers: Ptr[];
}

/**
 * A value that fails its structural checks; carries what and which field. A CorruptImageError,
 * so a reader that meets one reports corruption (exit 8, one line) instead of crashing.
 */
export class BadValueError extends CorruptImageError {
  readonly what: string;
  constructor(what: string, where: Where = {}) {
    super(what, where, 'run strata fsck');
    this.what = what;
  }
}

/**
 * `op.decode` of a key's value, for readers that meet keys outside a node walk (lookups, file
 * listings): a value that fails to decode is reported with its btree and key position.
 */
export function decodeValue<T>(op: { decode(value: Buffer): T }, k: Key, btree: number): T {
  try {
    return op.decode(k.value);
  } catch (err) {
    if (err instanceof BadValueError) throw new BadValueError(err.what, { structure: `${BTREE_NAMES[btree] ?? `btree ${btree}`} key ${posToText(k)}` });
    throw err;
  }
}

function need(value: Buffer, size: number, what: string): void {
  if (value.length < size) throw new BadValueError(`${what} value is ${value.length} bytes, needs at least ${size}`);
}

function decodePointers(value: Buffer, at: number, count: number, what: string): Ptr[] {
  // Bound: 1..MAX_REPLICAS (4) pointers, and the value holds exactly that many.
  if (count < 1 || count > MAX_REPLICAS) throw new BadValueError(`${what} has ${count} pointers (1..${MAX_REPLICAS} allowed)`);
  if (value.length !== at + count * Pointer.size) throw new BadValueError(`${what} value is ${value.length} bytes, ${count} pointers need ${at + count * Pointer.size}`);
  const out: Ptr[] = [];
  for (let i = 0; i < count; i++) {
    const p = Pointer.decode(value, at + i * Pointer.size);
    out.push({ member: p.member, generation: p.generation, offset: p.offset });
  }
  return out;
}

function encodePointers(ptrs: Ptr[], out: Buffer, at: number): void {
  ptrs.forEach((p, i) => Pointer.encode({ member: p.member, flags: 0, reserved: 0, generation: p.generation, offset: p.offset }, out, at + i * Pointer.size));
}

export function decodeExtentBody(value: Buffer, at = 0): ExtentBody {
  need(value, at + ExtentValue.size, 'extent');
  const v = ExtentValue.decode(value, at);
  // Readers allocate stored_size bytes and decompress into uncompressed_size: both are bounded
  // by MAX_EXTENT_SIZE (128 KiB) before anything uses them, whatever size the member claims.
  if (v.stored_size > MAX_EXTENT_SIZE || v.uncompressed_size > MAX_EXTENT_SIZE) {
    throw new BadValueError(`extent sizes ${v.stored_size} stored / ${v.uncompressed_size} uncompressed exceed ${MAX_EXTENT_SIZE}`);
  }
  return {
    liveSize: v.live_size,
    chunkOffset: v.chunk_offset,
    uncompressedSize: v.uncompressed_size,
    storedSize: v.stored_size,
    checksum: v.checksum,
    checksumType: v.checksum_type,
    compression: v.compression,
    stripeId: v.stripe_id,
    stripeBlock: v.stripe_block,
    pointers: decodePointers(value, at + ExtentValue.size, v.pointer_count, 'extent'),
  };
}

export function encodeExtentBody(e: ExtentBody, prefix = 0): Buffer {
  const out = Buffer.alloc(prefix + ExtentValue.size + e.pointers.length * Pointer.size);
  ExtentValue.encode({
    live_size: e.liveSize, chunk_offset: e.chunkOffset, uncompressed_size: e.uncompressedSize, stored_size: e.storedSize,
    checksum: e.checksum, checksum_type: e.checksumType, compression: e.compression, pointer_count: e.pointers.length,
    stripe_block: e.stripeBlock, reserved: 0, stripe_id: e.stripeId,
  }, out, prefix);
  encodePointers(e.pointers, out, prefix + ExtentValue.size);
  return out;
}

function validateExtentBody(e: ExtentBody): string | undefined {
  const sizes = extentSizesProblem(e);
  if (sizes) return sizes;
  const members = new Set(e.pointers.map((p) => p.member));
  if (members.size !== e.pointers.length) return 'two replicas on one member';
  return undefined;
}

/** The checks of validateExtentBody on everything but the pointers, in its order. */
export function extentSizesProblem(e: Pick<ExtentBody, 'liveSize' | 'chunkOffset' | 'uncompressedSize' | 'storedSize' | 'checksumType' | 'compression'>): string | undefined {
  if (e.uncompressedSize === 0 || e.uncompressedSize > MAX_EXTENT_SIZE) return `uncompressed size ${e.uncompressedSize} outside 1..${MAX_EXTENT_SIZE}`;
  if (e.liveSize === 0 || e.chunkOffset + e.liveSize > e.uncompressedSize) return `live range ${e.chunkOffset}+${e.liveSize} outside chunk of ${e.uncompressedSize}`;
  if (e.storedSize === 0 || e.storedSize > MAX_EXTENT_SIZE) return `stored size ${e.storedSize} outside 1..${MAX_EXTENT_SIZE}`;
  if (e.compression === 0 && e.storedSize !== e.uncompressedSize) return `uncompressed extent stores ${e.storedSize} bytes for ${e.uncompressedSize}`;
  if (e.compression > 1) return `unknown compression ${e.compression}`;
  if (e.checksumType > 2) return `unknown checksum type ${e.checksumType}`;
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Operations table, one row per key type

export interface KeyOps<T> {
  name: string;
  decode(value: Buffer): T;
  encode(value: T): Buffer;
  /** structural checks that need only the key itself; a description of the problem or undefined */
  validate(key: Pos, value: T): string | undefined;
  toText(value: T): string;
}

const inodeOps: KeyOps<DecodedInode> = {
  name: 'inode',
  decode(value) {
    if (value.length !== InodeValue.size) throw new BadValueError(`inode value is ${value.length} bytes, expected ${InodeValue.size}`);
    return InodeValue.decode(value);
  },
  encode: (v) => InodeValue.encode(v),
  validate(key, v) {
    if (key.offset !== 0 || key.snapshot !== 0) return 'inode key with nonzero offset';
    if (v.atime_nsec > 999_999_999 || v.mtime_nsec > 999_999_999 || v.ctime_nsec > 999_999_999) return 'nanoseconds above 999999999';
    return undefined;
  },
  toText: (v) => `mode ${v.mode.toString(8)} uid ${v.uid} gid ${v.gid} nlink ${v.nlink} size ${v.size} mtime ${v.mtime_sec}.${String(v.mtime_nsec).padStart(9, '0')}${v.parent ? ` parent ${v.parent}` : ''}`,
};

const direntOps: KeyOps<Dirent> = {
  name: 'dirent',
  decode(value) {
    need(value, DirentValue.size, 'dirent');
    const v = DirentValue.decode(value);
    // Bound: name 1..255 bytes (u8), exactly what the value holds.
    if (v.name_length === 0 || value.length !== DirentValue.size + v.name_length) throw new BadValueError(`dirent name length ${v.name_length} does not match value size ${value.length}`);
    return { target: v.target, dType: v.d_type, name: Buffer.from(value.subarray(DirentValue.size)) };
  },
  encode(d) {
    const out = Buffer.alloc(DirentValue.size + d.name.length);
    DirentValue.encode({ target: d.target, d_type: d.dType, name_length: d.name.length, reserved: Buffer.alloc(0) }, out);
    d.name.copy(out, DirentValue.size);
    return out;
  },
  validate: (key, d) => direntProblem(key.snapshot, d.target, d.name, 0, d.name.length),
  toText: (d) => `${escapeName(d.name)} -> ${d.target} (type ${d.dType})`,
};

/** direntOps.validate of a dirent whose name is bytes[nameAt, nameEnd). */
export function direntProblem(snapshot: number, target: number, bytes: Buffer, nameAt: number, nameEnd: number): string | undefined {
  const length = nameEnd - nameAt;
  if (length > NAME_MAX) return `name of ${length} bytes`;
  for (let i = nameAt; i < nameEnd; i++) if (bytes[i] === 0x2f || bytes[i] === 0) return 'name contains "/" or NUL';
  if ((length === 1 && bytes[nameAt] === 0x2e) || (length === 2 && bytes[nameAt] === 0x2e && bytes[nameAt + 1] === 0x2e)) return 'name is "." or ".."';
  if (target === 0) return 'dirent to inode 0';
  if (snapshot !== 0) return 'nonzero snapshot';
  return undefined;
}

const xattrOps: KeyOps<XattrEntry> = {
  name: 'xattr',
  decode(value) {
    need(value, XattrValue.size, 'xattr');
    const v = XattrValue.decode(value);
    // Bound: name 1..255 bytes, value <= 65535 bytes, together exactly what the value holds.
    if (v.name_length === 0 || value.length !== XattrValue.size + v.name_length + v.value_length) throw new BadValueError(`xattr lengths ${v.name_length}+${v.value_length} do not match value size ${value.length}`);
    const nameEnd = XattrValue.size + v.name_length;
    return { name: Buffer.from(value.subarray(XattrValue.size, nameEnd)), value: Buffer.from(value.subarray(nameEnd)) };
  },
  encode(x) {
    const out = Buffer.alloc(XattrValue.size + x.name.length + x.value.length);
    XattrValue.encode({ name_length: x.name.length, reserved: 0, value_length: x.value.length, reserved1: 0 }, out);
    x.name.copy(out, XattrValue.size);
    x.value.copy(out, XattrValue.size + x.name.length);
    return out;
  },
  validate(_key, x) {
    if (x.name.includes(0)) return 'xattr name contains NUL';
    if (!/^(user|trusted|security|system)\./.test(x.name.toString('latin1'))) return `xattr name ${escapeName(x.name)} has no known namespace`;
    return undefined;
  },
  toText: (x) => `${escapeName(x.name)} = ${x.value.length} bytes`,
};

const extentOps: KeyOps<ExtentBody> = {
  name: 'extent',
  decode: (value) => decodeExtentBody(value),
  encode: (e) => encodeExtentBody(e),
  validate(key, e) {
    if (e.liveSize > key.offset) return `extent of ${e.liveSize} bytes ends at ${key.offset}`;
    return validateExtentBody(e);
  },
  toText: (e) => `${e.liveSize} bytes, chunk ${e.chunkOffset}+${e.liveSize}/${e.uncompressedSize}, stored ${e.storedSize}${e.compression ? ' zstd' : ''}, csum ${e.checksum.toString(16)}, ${e.pointers.map((p) => `m${p.member}@${p.offset}g${p.generation}`).join(' ')}${e.stripeId ? ` stripe ${e.stripeId}/${e.stripeBlock}` : ''}`,
};

const inlineOps: KeyOps<Buffer> = {
  name: 'inlineData',
  decode: (value) => value,
  encode: (value) => value,
  validate(key, value) {
    if (value.length === 0) return 'empty inline extent';
    if (value.length > key.offset) return `inline extent of ${value.length} bytes ends at ${key.offset}`;
    return undefined;
  },
  toText: (v) => `${v.length} bytes inline`,
};

const reflinkPointerOps: KeyOps<ReflinkPointer> = {
  name: 'reflinkPointer',
  decode(value) {
    if (value.length !== ReflinkPointerValue.size) throw new BadValueError(`reflink pointer value is ${value.length} bytes`);
    const v = ReflinkPointerValue.decode(value);
    return { liveSize: v.live_size, index: v.index };
  },
  encode: (r) => ReflinkPointerValue.encode({ live_size: r.liveSize, reserved: 0, index: r.index }),
  validate(key, r) {
    if (r.liveSize === 0 || r.liveSize > key.offset) return `reflink pointer of ${r.liveSize} bytes ends at ${key.offset}`;
    return undefined;
  },
  toText: (r) => `${r.liveSize} bytes -> reflink ${r.index}`,
};

const indirectExtentOps: KeyOps<IndirectExtent> = {
  name: 'indirectExtent',
  decode(value) {
    need(value, IndirectExtentValue.size, 'indirect extent');
    return { refcount: IndirectExtentValue.decode(value).refcount, body: decodeExtentBody(value, IndirectExtentValue.size) };
  },
  encode(r) {
    const out = encodeExtentBody(r.body, IndirectExtentValue.size);
    IndirectExtentValue.encode({ refcount: r.refcount }, out);
    return out;
  },
  validate(key, r) {
    if (key.inode !== 0) return 'indirect extent outside inode 0';
    if (r.refcount === 0) return 'indirect extent with refcount 0';
    return validateExtentBody(r.body);
  },
  toText: (r) => `refcount ${r.refcount}, ${extentOps.toText(r.body)}`,
};

const stripeOps: KeyOps<Stripe> = {
  name: 'stripe',
  decode(value) {
    need(value, StripeValue.size, 'stripe');
    const v = StripeValue.decode(value);
    const blocks = v.data_blocks + v.parity_blocks;
    // Bounds: k 1..16, m 1..4, granularity 2^9..2^26, <= 4096 checksum chunks a block, and the
    // value holds exactly the pointers and checksums they imply (<= 65535 bytes: value_size is u16).
    if (v.data_blocks < 1 || v.data_blocks > 16 || v.parity_blocks < 1 || v.parity_blocks > 4) throw new BadValueError(`stripe shape ${v.data_blocks}+${v.parity_blocks}`);
    if (v.checksum_granularity_bits < 9 || v.checksum_granularity_bits > 26 || v.block_size === 0 || v.block_size % (1 << v.checksum_granularity_bits) !== 0) {
      throw new BadValueError(`stripe block size ${v.block_size} with granularity 2^${v.checksum_granularity_bits}`);
    }
    const chunks = v.block_size >> v.checksum_granularity_bits;
    if (chunks > 4096) throw new BadValueError(`stripe has ${chunks} checksum chunks per block`);
    const ptrEnd = StripeValue.size + blocks * Pointer.size;
    if (value.length !== ptrEnd + blocks * chunks * 8) throw new BadValueError(`stripe value is ${value.length} bytes, expected ${ptrEnd + blocks * chunks * 8}`);
    const pointers: Ptr[] = [];
    for (let i = 0; i < blocks; i++) {
      const p = Pointer.decode(value, StripeValue.size + i * Pointer.size);
      pointers.push({ member: p.member, generation: p.generation, offset: p.offset });
    }
    const checksums: bigint[][] = [];
    for (let b = 0; b < blocks; b++) {
      const row: bigint[] = [];
      for (let c = 0; c < chunks; c++) row.push(value.readBigUInt64LE(ptrEnd + (b * chunks + c) * 8));
      checksums.push(row);
    }
    return {
      algorithm: v.algorithm, dataBlocks: v.data_blocks, parityBlocks: v.parity_blocks, checksumType: v.checksum_type,
      checksumGranularityBits: v.checksum_granularity_bits, blockSize: v.block_size, pointers, checksums,
    };
  },
  encode(s) {
    const blocks = s.dataBlocks + s.parityBlocks;
    const chunks = s.blockSize >> s.checksumGranularityBits;
    const ptrEnd = StripeValue.size + blocks * Pointer.size;
    const out = Buffer.alloc(ptrEnd + blocks * chunks * 8);
    StripeValue.encode({
      algorithm: s.algorithm, data_blocks: s.dataBlocks, parity_blocks: s.parityBlocks, checksum_type: s.checksumType,
      checksum_granularity_bits: s.checksumGranularityBits, reserved: Buffer.alloc(0), block_size: s.blockSize, reserved1: 0,
    }, out);
    encodePointers(s.pointers, out, StripeValue.size);
    s.checksums.forEach((row, b) => row.forEach((c, i) => out.writeBigUInt64LE(c, ptrEnd + (b * chunks + i) * 8)));
    return out;
  },
  validate(key, s) {
    if (key.inode !== 0 || key.offset === 0) return 'stripe key outside (0, id >= 1)';
    if (s.algorithm !== 1) return `unknown stripe algorithm ${s.algorithm}`;
    if (new Set(s.pointers.map((p) => p.member)).size !== s.pointers.length) return 'two blocks of one stripe on one member';
    return undefined;
  },
  toText: (s) => `${s.dataBlocks}+${s.parityBlocks} blocks of ${s.blockSize}: ${s.pointers.map((p) => `m${p.member}@${p.offset}`).join(' ')}`,
};

const allocOps: KeyOps<AllocInfo> = {
  name: 'alloc',
  decode(value) {
    if (value.length !== AllocValue.size) throw new BadValueError(`alloc value is ${value.length} bytes`);
    const v = AllocValue.decode(value);
    return { generation: v.generation, dataType: v.data_type, usedBytes: v.used_bytes, stripeId: v.stripe_id };
  },
  encode: (a) => AllocValue.encode({ generation: a.generation, data_type: a.dataType, reserved: Buffer.alloc(0), used_bytes: a.usedBytes, reserved1: 0, stripe_id: a.stripeId }),
  validate(_key, a) {
    if (!(a.dataType in BUCKET_DATA_NAMES)) return `unknown bucket data type ${a.dataType}`;
    return undefined;
  },
  toText: (a) => `gen ${a.generation} ${BUCKET_DATA_NAMES[a.dataType] ?? a.dataType} used ${a.usedBytes}${a.stripeId ? ` stripe ${a.stripeId}` : ''}`,
};

export function decodeBtreePointer(value: Buffer): BtreePointer {
  need(value, BtreePointerValue.size, 'btree pointer');
  const v = BtreePointerValue.decode(value);
  return {
    level: v.level, checksum: v.checksum, seq: v.seq,
    min: { inode: v.min_inode, offset: v.min_offset, snapshot: v.min_snapshot },
    pointers: decodePointers(value, BtreePointerValue.size, v.pointer_count, 'btree pointer'),
  };
}

export function encodeBtreePointer(b: BtreePointer): Buffer {
  const out = Buffer.alloc(BtreePointerValue.size + b.pointers.length * Pointer.size);
  BtreePointerValue.encode({
    level: b.level, pointer_count: b.pointers.length, reserved: Buffer.alloc(0), checksum: b.checksum, seq: b.seq,
    min_inode: b.min.inode, min_offset: b.min.offset, min_snapshot: b.min.snapshot, reserved1: 0,
  }, out);
  encodePointers(b.pointers, out, BtreePointerValue.size);
  return out;
}

const btreePointerOps: KeyOps<BtreePointer> = {
  name: 'btreePointer',
  decode: decodeBtreePointer,
  encode: encodeBtreePointer,
  validate(key, b) {
    if (comparePos(b.min, key) > 0) return `child min ${posToText(b.min)} above its max ${posToText(key)}`;
    return undefined;
  },
  toText: (b) => `level ${b.level} min ${posToText(b.min)} seq ${b.seq} csum ${b.checksum.toString(16)} ${b.pointers.map((p) => `m${p.member}@${p.offset}g${p.generation}`).join(' ')}`,
};

const deletedOps: KeyOps<Buffer> = {
  name: 'deleted',
  decode: (value) => value,
  encode: (value) => value,
  validate: (_key, value) => (value.length ? 'deletion key with a value' : undefined),
  toText: () => 'deleted',
};

/** Every key type's operations, indexed by persistent type id; the compiler checks each row is complete. */
export const KEY_OPS: { [K in KeyType]: KeyOps<unknown> } = {
  [KEY_TYPE.deleted]: deletedOps as KeyOps<unknown>,
  [KEY_TYPE.inode]: inodeOps as KeyOps<unknown>,
  [KEY_TYPE.dirent]: direntOps as KeyOps<unknown>,
  [KEY_TYPE.xattr]: xattrOps as KeyOps<unknown>,
  [KEY_TYPE.extent]: extentOps as KeyOps<unknown>,
  [KEY_TYPE.inlineData]: inlineOps as KeyOps<unknown>,
  [KEY_TYPE.reflinkPointer]: reflinkPointerOps as KeyOps<unknown>,
  [KEY_TYPE.indirectExtent]: indirectExtentOps as KeyOps<unknown>,
  [KEY_TYPE.stripe]: stripeOps as KeyOps<unknown>,
  [KEY_TYPE.alloc]: allocOps as KeyOps<unknown>,
  [KEY_TYPE.btreePointer]: btreePointerOps as KeyOps<unknown>,
};

export const ops = {
  inode: inodeOps,
  dirent: direntOps,
  xattr: xattrOps,
  extent: extentOps,
  inlineData: inlineOps,
  reflinkPointer: reflinkPointerOps,
  indirectExtent: indirectExtentOps,
  stripe: stripeOps,
  alloc: allocOps,
  btreePointer: btreePointerOps,
};

// ---------------------------------------------------------------------------------------------
// Values read in place
//
// For a reader that meets every key once (fsck): the fields its checks need, read from the
// value bytes into one reused object instead of a new object (and buffers, and a bigint) per
// key. `read` accepts exactly the values the key type's decode decodes without an error (the
// size checks, and the range check of each 64-bit field: test/format/in-place.test.ts holds
// them to it); for any other it returns false and the caller decodes with `ops`, which finds
// and names the problem. The offsets come from the field tables.

/**
 * Little-endian fields through a DataView, which a hot loop reads several times faster than
 * through Buffer's readUInt32LE. A reader keeps the view of the buffer it was last given: the
 * keys of one node share one.
 */
export class InPlaceReader {
  private buffer: Buffer | undefined;
  private dataView: DataView | undefined;

  protected view(bytes: Buffer): DataView {
    if (bytes !== this.buffer) {
      this.buffer = bytes;
      this.dataView = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
    }
    return this.dataView!;
  }
}

/** codec's readU64 through a DataView: the u64 at `at` as a number, -1 when above 2^53 - 1. */
export function viewU64(view: DataView, at: number): number {
  const hi = view.getUint32(at + 4, true);
  return hi > 0x1fffff ? -1 : hi * 0x100000000 + view.getUint32(at, true);
}

/** codec's i64 range check through a DataView: the i64 at `at` lies within +-(2^53 - 1). */
function i64InRange(view: DataView, at: number): boolean {
  const hi = view.getInt32(at + 4, true);
  return hi <= 0x1fffff && (hi > -0x200000 || (hi === -0x200000 && view.getUint32(at, true) !== 0));
}

const inodeAt = (name: string) => InodeValue.field(name).offset;
const INODE_AT = {
  mode: inodeAt('mode'), nlink: inodeAt('nlink'), size: inodeAt('size'), parent: inodeAt('parent'), flags: inodeAt('flags'),
  atime_nsec: inodeAt('atime_nsec'), mtime_nsec: inodeAt('mtime_nsec'), ctime_nsec: inodeAt('ctime_nsec'), rdev_major: inodeAt('rdev_major'), rdev_minor: inodeAt('rdev_minor'),
};
const INODE_TIMES = { atime: inodeAt('atime_sec'), mtime: inodeAt('mtime_sec'), ctime: inodeAt('ctime_sec') };

/** The inode fields fsck keeps or looks at on loading, as ops.inode.decode gives them. */
export class InodeFields extends InPlaceReader implements Pick<DecodedInode, keyof typeof INODE_AT> {
  mode = 0;
  nlink = 0;
  size = 0;
  parent = 0;
  flags = 0;
  atime_nsec = 0;
  mtime_nsec = 0;
  ctime_nsec = 0;
  rdev_major = 0;
  rdev_minor = 0;

  /**
   * Read the inode value bytes[at, end); false when ops.inode.decode would throw for it: a
   * wrong size, or one of its 64-bit fields (size, parent, the three times) out of range.
   */
  read(bytes: Buffer, at: number, end: number): boolean {
    const v = this.view(bytes);
    if (end - at !== InodeValue.size) return false;
    this.size = viewU64(v, at + INODE_AT.size);
    this.parent = viewU64(v, at + INODE_AT.parent);
    if (this.size < 0 || this.parent < 0 || !i64InRange(v, at + INODE_TIMES.atime) || !i64InRange(v, at + INODE_TIMES.mtime) || !i64InRange(v, at + INODE_TIMES.ctime)) return false;
    this.mode = v.getUint32(at + INODE_AT.mode, true);
    this.nlink = v.getUint32(at + INODE_AT.nlink, true);
    this.flags = v.getUint32(at + INODE_AT.flags, true);
    this.atime_nsec = v.getUint32(at + INODE_AT.atime_nsec, true);
    this.mtime_nsec = v.getUint32(at + INODE_AT.mtime_nsec, true);
    this.ctime_nsec = v.getUint32(at + INODE_AT.ctime_nsec, true);
    this.rdev_major = v.getUint32(at + INODE_AT.rdev_major, true);
    this.rdev_minor = v.getUint32(at + INODE_AT.rdev_minor, true);
    return true;
  }
}

const extentAt = (name: string) => ExtentValue.field(name).offset;
const EXTENT_AT = {
  liveSize: extentAt('live_size'), chunkOffset: extentAt('chunk_offset'), uncompressedSize: extentAt('uncompressed_size'), storedSize: extentAt('stored_size'),
  checksumType: extentAt('checksum_type'), compression: extentAt('compression'), pointerCount: extentAt('pointer_count'), stripeBlock: extentAt('stripe_block'), stripeId: extentAt('stripe_id'),
};
const POINTER_AT = { member: Pointer.field('member').offset, generation: Pointer.field('generation').offset, offset: Pointer.field('offset').offset };

/** An extent body as decodeExtentBody gives it, less the checksum; pointers as columns. */
export class ExtentFields extends InPlaceReader implements Omit<ExtentBody, 'checksum' | 'pointers'> {
  liveSize = 0;
  chunkOffset = 0;
  uncompressedSize = 0;
  storedSize = 0;
  checksumType = 0;
  compression = 0;
  stripeId = 0;
  stripeBlock = 0;
  pointerCount = 0;
  readonly member = new Uint8Array(MAX_REPLICAS);
  readonly generation = new Uint32Array(MAX_REPLICAS);
  readonly offset = new Float64Array(MAX_REPLICAS);

  /**
   * Read the extent value bytes[at, end); false when decodeExtentBody would throw for it: too
   * short, sizes above MAX_EXTENT_SIZE, a pointer count outside 1..MAX_REPLICAS or not what the
   * value holds, or a 64-bit field (stripe_id, a pointer's offset) out of range.
   */
  read(bytes: Buffer, at: number, end: number): boolean {
    if (end - at < ExtentValue.size) return false;
    const v = this.view(bytes);
    const count = bytes[at + EXTENT_AT.pointerCount]!;
    this.storedSize = v.getUint32(at + EXTENT_AT.storedSize, true);
    this.uncompressedSize = v.getUint32(at + EXTENT_AT.uncompressedSize, true);
    this.stripeId = viewU64(v, at + EXTENT_AT.stripeId);
    if (this.storedSize > MAX_EXTENT_SIZE || this.uncompressedSize > MAX_EXTENT_SIZE || this.stripeId < 0) return false;
    if (count < 1 || count > MAX_REPLICAS || end - at !== ExtentValue.size + count * Pointer.size) return false;
    for (let i = 0, p = at + ExtentValue.size; i < count; i++, p += Pointer.size) {
      const offset = viewU64(v, p + POINTER_AT.offset);
      if (offset < 0) return false;
      this.offset[i] = offset;
      this.member[i] = bytes[p + POINTER_AT.member]!;
      this.generation[i] = v.getUint32(p + POINTER_AT.generation, true);
    }
    this.pointerCount = count;
    this.liveSize = v.getUint32(at + EXTENT_AT.liveSize, true);
    this.chunkOffset = v.getUint32(at + EXTENT_AT.chunkOffset, true);
    this.checksumType = bytes[at + EXTENT_AT.checksumType]!;
    this.compression = bytes[at + EXTENT_AT.compression]!;
    this.stripeBlock = bytes[at + EXTENT_AT.stripeBlock]!;
    return true;
  }

  /** No two pointers on one member. */
  membersDistinct(): boolean {
    for (let i = 1; i < this.pointerCount; i++) for (let j = 0; j < i; j++) if (this.member[i] === this.member[j]) return false;
    return true;
  }
}

const DIRENT_AT = { target: DirentValue.field('target').offset, dType: DirentValue.field('d_type').offset, nameLength: DirentValue.field('name_length').offset };

/** A dirent as ops.dirent.decode gives it, its name left in place at bytes[nameAt, nameEnd). */
export class DirentFields extends InPlaceReader {
  target = 0;
  dType = 0;
  nameAt = 0;
  nameEnd = 0;

  /** Read the dirent value bytes[at, end); false when ops.dirent.decode would throw for it: a size that is not the name's, an empty name, a target out of range. */
  read(bytes: Buffer, at: number, end: number): boolean {
    if (end - at < DirentValue.size) return false;
    const nameLength = bytes[at + DIRENT_AT.nameLength]!;
    if (nameLength === 0 || end - at !== DirentValue.size + nameLength) return false;
    this.target = viewU64(this.view(bytes), at + DIRENT_AT.target);
    if (this.target < 0) return false;
    this.dType = bytes[at + DIRENT_AT.dType]!;
    this.nameAt = at + DirentValue.size;
    this.nameEnd = end;
    return true;
  }
}

/** Offsets of an alloc value's fields, for reading them in place once allocValueDecodes said yes. */
export const ALLOC_AT = {
  generation: AllocValue.field('generation').offset,
  dataType: AllocValue.field('data_type').offset,
  usedBytes: AllocValue.field('used_bytes').offset,
  stripeId: AllocValue.field('stripe_id').offset,
} as const;

/** ops.alloc.decode decodes the alloc value bytes[at, end): its size, and stripe_id in range. */
export function allocValueDecodes(bytes: Buffer, at: number, end: number): boolean {
  return end - at === AllocValue.size && bytes.readUInt32LE(at + ALLOC_AT.stripeId + 4) <= 0x1fffff;
}

/** Decode and validate a key's value; returns the problem text instead of throwing. */
export function checkKey(key: Key): string | undefined {
  const table = KEY_OPS[key.type];
  if (!table) return `unknown key type ${key.type}`;
  try {
    return table.validate(key, table.decode(key.value));
  } catch (err) {
    if (err instanceof BadValueError || err instanceof FieldRangeError || err instanceof RangeError) return err.message;
    throw err;
  }
}

/** A name printable on one line: printable ASCII kept, every other byte as \xNN. */
export function escapeName(name: Buffer): string {
  let out = '';
  for (const b of name) out += b >= 0x21 && b <= 0x7e && b !== 0x5c ? String.fromCharCode(b) : b === 0x20 ? ' ' : `\\x${b.toString(16).padStart(2, '0')}`;
  return out;
}

/**
 * 52-bit hash of a name for dirent and xattr positions. Two independent 32-bit lanes of
 * FNV-1a style mixing with a murmur finalizer; 0 and 1 are never returned so positions
 * 0 and 1 stay free. Collisions are resolved by the writer taking the next free offset.
 */
export function nameHash(name: Buffer): number {
  return nameHashOf(name, 0, name.length);
}

/** nameHash of the name bytes[start, end), read in place. */
export function nameHashOf(bytes: Buffer, start: number, end: number): number {
  let a = 0x811c9dc5;
  let b = 0x9747b28c;
  for (let i = start; i < end; i++) {
    a = Math.imul(a ^ bytes[i]!, 0x01000193);
    b = Math.imul(b ^ bytes[i]!, 0x5bd1e995);
    b ^= b >>> 15;
  }
  a = fmix32(a);
  b = fmix32(b ^ (end - start));
  const h = (a >>> 0) * 2 ** 20 + (b >>> 12);
  return h < 2 ? h + 2 : h;
}

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

export { formatUuid };
