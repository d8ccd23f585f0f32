// Every on-disk structure of format version 1, declared once. docs/FORMAT.md embeds the
// tables generated from these declarations (`npm run docs:format`); a test keeps them equal.
//
// Registries (format versions, features, btree ids, key types, bucket data types) carry
// persistent ids: an id that reached a released image is never renumbered or reused
// (test/format/registry.test.ts pins them).
import { struct } from './codec.js';

// ---------------------------------------------------------------------------------------------
// Versions and features

export const FORMAT_VERSION = 1;
/** Every format version this code reads; golden-images/v<N>/ exists for each. */
export const READABLE_VERSIONS = [1] as const;

/** Incompatible features: code that does not know a set bit must refuse to open the image. */
export const INCOMPAT = {
  /** some extent is zstd-compressed */
  zstd: 1 << 0,
  /** some checksum is xxhash64 */
  xxhash64: 1 << 1,
  /** the reflink btree holds indirect extents */
  reflink: 1 << 2,
  /** data is erasure-coded in stripes */
  erasureCoding: 1 << 3,
} as const;
export const INCOMPAT_KNOWN = Object.values(INCOMPAT).reduce((a, b) => a | b, 0);
/** Read-only compatible features: unknown bits allow reading but not writing. */
export const RO_COMPAT = {} as const;
export const RO_COMPAT_KNOWN = 0;
export const COMPAT_KNOWN = 0;

// ---------------------------------------------------------------------------------------------
// Fixed geometry

/** Superblock copy 0 starts here in every member; bytes [0, 4096) are left for boot loaders. */
export const SB_OFFSET = 4096;
/** Space reserved for one superblock copy (header + tables). */
export const SB_MAX_SIZE = 60 * 1024;
/** Superblock copy 1 occupies the last SB_TAIL bytes of the member, outside every bucket. */
export const SB_TAIL = 64 * 1024;
export const SB_MAGIC = Buffer.from('STRATAsb', 'latin1');
export const NODE_MAGIC = 0x4e544253; // "SBTN" read as a little-endian u32
export const JOURNAL_MAGIC = 0x4c4e4a53; // "SJNL"
/** Bucket 0 of every member holds superblock copy 0 and is never allocated. */
export const FIRST_USABLE_BUCKET = 1;
export const MAX_MEMBERS = 64;
export const MAX_REPLICAS = 4;
/** Btrees are never deeper than this; a deeper claim is corruption (bounds recursion). */
export const MAX_BTREE_DEPTH = 8;
/** Largest uncompressed extent: random reads never decompress more than this. */
export const MAX_EXTENT_SIZE = 128 * 1024;

/** Chunk size writers use: an extent's stored bytes must fit in one bucket. */
export function extentChunkSize(bucketSize: number): number {
  return Math.min(MAX_EXTENT_SIZE, bucketSize);
}
export const ROOT_INODE = 1;
export const NAME_MAX = 255;
/** Longest symlink target (PATH_MAX less the terminating NUL). */
export const SYMLINK_MAX = 4095;

export const DEFAULTS = {
  blockSize: 4096,
  bucketSize: 256 * 1024,
  nodeSize: 64 * 1024,
} as const;

export const LIMITS = {
  blockSize: { min: 512, max: 65536 },
  bucketSize: { min: 64 * 1024, max: 64 * 1024 * 1024 },
  nodeSize: { min: 4096, max: 1024 * 1024 },
} as const;

// ---------------------------------------------------------------------------------------------
// Registries

export const BTREE = {
  inodes: 0,
  dirents: 1,
  xattrs: 2,
  extents: 3,
  reflink: 4,
  stripes: 5,
  alloc: 6,
} as const;
export type BtreeId = (typeof BTREE)[keyof typeof BTREE];
export const BTREE_COUNT = 7;
export const BTREE_NAMES: readonly string[] = Object.keys(BTREE);

export const KEY_TYPE = {
  /** a deletion: in journal entries, removes the key at this position */
  deleted: 0,
  inode: 1,
  dirent: 2,
  xattr: 3,
  extent: 4,
  inlineData: 5,
  reflinkPointer: 6,
  indirectExtent: 7,
  stripe: 8,
  alloc: 9,
  btreePointer: 10,
} as const;
export type KeyType = (typeof KEY_TYPE)[keyof typeof KEY_TYPE];
export const KEY_TYPE_NAMES: Record<number, string> = Object.fromEntries(Object.entries(KEY_TYPE).map(([k, v]) => [v, k]));

/** Which key types may appear in the leaves of which btree (interior nodes hold btreePointer). */
export const LEAF_KEY_TYPES: Record<BtreeId, readonly KeyType[]> = {
  [BTREE.inodes]: [KEY_TYPE.inode],
  [BTREE.dirents]: [KEY_TYPE.dirent],
  [BTREE.xattrs]: [KEY_TYPE.xattr],
  [BTREE.extents]: [KEY_TYPE.extent, KEY_TYPE.inlineData, KEY_TYPE.reflinkPointer],
  [BTREE.reflink]: [KEY_TYPE.indirectExtent],
  [BTREE.stripes]: [KEY_TYPE.stripe],
  [BTREE.alloc]: [KEY_TYPE.alloc],
};

export const BUCKET_DATA = {
  free: 0,
  superblock: 1,
  journal: 2,
  btree: 3,
  user: 4,
  parity: 5,
} as const;
export const BUCKET_DATA_NAMES: Record<number, string> = Object.fromEntries(Object.entries(BUCKET_DATA).map(([k, v]) => [v, k]));

export const MEMBER_STATE = { active: 0, failed: 1 } as const;

/** Superblock `flags` bits. */
export const SB_FLAG = {
  /** set by a checkpoint that left an empty journal; cleared by the first journaled write */
  clean: 1 << 0,
} as const;

/** d_type values, as in <dirent.h>. */
export const DT = { unknown: 0, fifo: 1, char: 2, dir: 4, block: 6, file: 8, symlink: 10, socket: 12 } as const;

// ---------------------------------------------------------------------------------------------
// Superblock

export const Superblock = struct('superblock', 'Header of one superblock copy; followed by the member table and the btree roots.', [
  { name: 'magic', kind: 'bytes:8', doc: '"STRATAsb"' },
  { name: 'checksum', kind: 'csum64', doc: 'crc32c of bytes [16, total_size) of this copy, zero-extended' },
  { name: 'total_size', kind: 'u32', doc: 'size of this copy: header + member table + roots', unit: 'bytes' },
  { name: 'version', kind: 'u16', doc: 'format version that wrote the image' },
  { name: 'header_size', kind: 'u16', doc: 'size of this header; tables start here', unit: 'bytes' },
  { name: 'features_incompat', kind: 'u64', doc: 'INCOMPAT bits: unknown ones forbid opening' },
  { name: 'features_ro_compat', kind: 'u64', doc: 'RO_COMPAT bits: unknown ones forbid writing' },
  { name: 'features_compat', kind: 'u64', doc: 'COMPAT bits: informational' },
  { name: 'fs_uuid', kind: 'uuid', doc: 'identity of the filesystem, equal in every member' },
  { name: 'member_uuid', kind: 'uuid', doc: 'identity of this member' },
  { name: 'member_index', kind: 'u16', doc: 'index of this member in the member table' },
  { name: 'member_count', kind: 'u16', doc: 'entries in the member table' },
  { name: 'root_count', kind: 'u16', doc: 'entries in the btree root table' },
  { name: 'reserved0', kind: 'u16', doc: 'zero' },
  { name: 'block_size', kind: 'u32', doc: 'allocation granularity inside a bucket', unit: 'bytes' },
  { name: 'bucket_size', kind: 'u32', doc: 'allocation unit of member space', unit: 'bytes' },
  { name: 'node_size', kind: 'u32', doc: 'size of every btree node', unit: 'bytes' },
  { name: 'flags', kind: 'u32', doc: 'SB_FLAG bits (bit 0: clean)' },
  { name: 'seq', kind: 'u64', doc: 'checkpoint sequence: among valid copies the highest wins' },
  { name: 'journal_seq', kind: 'u64', doc: 'first journal sequence number not contained in the roots; replay starts here' },
  { name: 'created', kind: 'i64', doc: 'creation time', unit: 's since epoch' },
  { name: 'next_inode', kind: 'u64', doc: 'lowest inode number never used' },
  { name: 'next_reflink', kind: 'u64', doc: 'end of the used reflink address space', unit: 'bytes' },
  { name: 'next_stripe', kind: 'u64', doc: 'lowest stripe id never used' },
  { name: 'data_checksum', kind: 'u8', doc: 'checksum type of new extents (0 none, 1 crc32c, 2 xxhash64)' },
  { name: 'metadata_checksum', kind: 'u8', doc: 'checksum type of btree nodes and journal entries (1 or 2)' },
  { name: 'compression', kind: 'u8', doc: 'compression of new extents (0 none, 1 zstd)' },
  { name: 'compression_level', kind: 'i8', doc: 'zstd level' },
  { name: 'data_replicas', kind: 'u8', doc: 'copies of each extent on distinct members' },
  { name: 'metadata_replicas', kind: 'u8', doc: 'copies of each btree node and journal entry on distinct members' },
  { name: 'ec_data', kind: 'u8', doc: 'k of k+m erasure coding; 0 when data is replicated instead' },
  { name: 'ec_parity', kind: 'u8', doc: 'm of k+m erasure coding' },
  { name: 'label', kind: 'bytes:64', doc: 'label, UTF-8, zero-padded' },
  { name: 'reserved1', kind: 'bytes:32', doc: 'zero' },
] as const);

export const MemberEntry = struct('member_entry', 'One row of the member table, identical in every member.', [
  { name: 'uuid', kind: 'uuid', doc: 'member identity, equal to that member\'s member_uuid' },
  { name: 'size', kind: 'u64', doc: 'size of the member file; superblock copy 1 is at size - 65536', unit: 'bytes' },
  { name: 'bucket_count', kind: 'u32', doc: 'buckets: floor((size - 65536) / bucket_size)', unit: 'buckets' },
  { name: 'journal_bucket', kind: 'u32', doc: 'first bucket of this member\'s journal ring' },
  { name: 'journal_buckets', kind: 'u32', doc: 'length of the journal ring (0: no journal on this member)', unit: 'buckets' },
  { name: 'state', kind: 'u8', doc: 'MEMBER_STATE: 0 active, 1 failed' },
  { name: 'reserved0', kind: 'bytes:3', doc: 'zero' },
  { name: 'reserved1', kind: 'bytes:24', doc: 'zero' },
] as const);

export const Pointer = struct('pointer', 'Location of one copy of an extent, node or stripe block.', [
  { name: 'member', kind: 'u8', doc: 'member index' },
  { name: 'flags', kind: 'u8', doc: 'zero (reserved for cached copies)' },
  { name: 'reserved', kind: 'u16', doc: 'zero' },
  { name: 'generation', kind: 'u32', doc: 'bucket generation the pointer expects; older means stale' },
  { name: 'offset', kind: 'u64', doc: 'byte offset in the member, block-aligned', unit: 'bytes' },
] as const);

export const BtreeRoot = struct('btree_root', 'One row of the superblock root table: where a btree\'s root node is.', [
  { name: 'btree_id', kind: 'u8', doc: 'BTREE id' },
  { name: 'level', kind: 'u8', doc: 'level of the root node (0: the root is a leaf)' },
  { name: 'pointer_count', kind: 'u8', doc: 'valid entries in the four pointer slots' },
  { name: 'reserved', kind: 'bytes:5', doc: 'zero' },
  { name: 'checksum', kind: 'csum64', doc: 'checksum of the root node, as in its header' },
  { name: 'seq', kind: 'u64', doc: 'node write sequence, as in its header' },
  { name: 'ptr0', kind: 'bytes:16', doc: 'pointer to copy 0 (a `pointer`)' },
  { name: 'ptr1', kind: 'bytes:16', doc: 'pointer to copy 1' },
  { name: 'ptr2', kind: 'bytes:16', doc: 'pointer to copy 2' },
  { name: 'ptr3', kind: 'bytes:16', doc: 'pointer to copy 3' },
] as const);

// ---------------------------------------------------------------------------------------------
// Btree nodes and keys

export const NodeHeader = struct('node_header', 'Start of every btree node; sorted keys follow.', [
  { name: 'magic', kind: 'u32', doc: '0x4e544253 ("SBTN")' },
  { name: 'checksum_type', kind: 'u8', doc: 'type of `checksum` (1 crc32c, 2 xxhash64)' },
  { name: 'btree_id', kind: 'u8', doc: 'BTREE id this node belongs to' },
  { name: 'level', kind: 'u8', doc: '0 for leaves; interior nodes hold btree_pointer keys' },
  { name: 'flags', kind: 'u8', doc: 'zero' },
  { name: 'checksum', kind: 'csum64', doc: 'checksum of bytes [16, used_bytes)' },
  { name: 'fs_magic', kind: 'bytes:8', doc: 'first 8 bytes of fs_uuid: a node of another filesystem fails here' },
  { name: 'seq', kind: 'u64', doc: 'write sequence of this node (the checkpoint seq that wrote it)' },
  { name: 'min_inode', kind: 'u64', doc: 'smallest key position this node may hold: inode' },
  { name: 'min_offset', kind: 'u64', doc: 'smallest key position: offset' },
  { name: 'min_snapshot', kind: 'u32', doc: 'smallest key position: snapshot' },
  { name: 'max_snapshot', kind: 'u32', doc: 'largest key position: snapshot' },
  { name: 'max_inode', kind: 'u64', doc: 'largest key position this node may hold: inode' },
  { name: 'max_offset', kind: 'u64', doc: 'largest key position: offset' },
  { name: 'key_count', kind: 'u32', doc: 'keys in this node' },
  { name: 'used_bytes', kind: 'u32', doc: 'bytes of the node in use: header + keys; the rest is zero', unit: 'bytes' },
] as const);

export const KeyHeader = struct('key_header', 'Start of every key in a node or journal entry; the value follows, padded to 8 bytes.', [
  { name: 'inode', kind: 'u64', doc: 'position, most significant part' },
  { name: 'offset', kind: 'u64', doc: 'position, middle part' },
  { name: 'snapshot', kind: 'u32', doc: 'position, least significant part (always 0 in v1)' },
  { name: 'type', kind: 'u8', doc: 'KEY_TYPE id' },
  { name: 'flags', kind: 'u8', doc: 'zero' },
  { name: 'value_size', kind: 'u16', doc: 'bytes of value following this header', unit: 'bytes' },
] as const);

export const BtreePointerValue = struct('btree_pointer', 'Value of a key in an interior node: the child whose max key is the key position.', [
  { name: 'level', kind: 'u8', doc: 'level of the child node' },
  { name: 'pointer_count', kind: 'u8', doc: 'pointers following the fixed part (1..4)' },
  { name: 'reserved', kind: 'bytes:6', doc: 'zero' },
  { name: 'checksum', kind: 'csum64', doc: 'checksum of the child, as in its header' },
  { name: 'seq', kind: 'u64', doc: 'write sequence of the child, as in its header' },
  { name: 'min_inode', kind: 'u64', doc: 'child min key: inode' },
  { name: 'min_offset', kind: 'u64', doc: 'child min key: offset' },
  { name: 'min_snapshot', kind: 'u32', doc: 'child min key: snapshot' },
  { name: 'reserved1', kind: 'u32', doc: 'zero' },
] as const);

export const InodeValue = struct('inode', 'Value of an inode key at position (inode number, 0, 0).', [
  { name: 'mode', kind: 'u32', doc: 'file type and permission bits, as st_mode' },
  { name: 'uid', kind: 'u32', doc: 'owner' },
  { name: 'gid', kind: 'u32', doc: 'group' },
  { name: 'nlink', kind: 'u32', doc: 'link count: dirents naming it (+1 for ".", +1 per subdirectory, for directories)' },
  { name: 'size', kind: 'u64', doc: 'file size (symlink: target length)', unit: 'bytes' },
  { name: 'atime_sec', kind: 'i64', doc: 'access time', unit: 's' },
  { name: 'mtime_sec', kind: 'i64', doc: 'modification time', unit: 's' },
  { name: 'ctime_sec', kind: 'i64', doc: 'change time', unit: 's' },
  { name: 'atime_nsec', kind: 'u32', doc: 'access time fraction', unit: 'ns' },
  { name: 'mtime_nsec', kind: 'u32', doc: 'modification time fraction', unit: 'ns' },
  { name: 'ctime_nsec', kind: 'u32', doc: 'change time fraction', unit: 'ns' },
  { name: 'flags', kind: 'u32', doc: 'zero in v1' },
  { name: 'rdev_major', kind: 'u32', doc: 'device major number (char and block devices)' },
  { name: 'rdev_minor', kind: 'u32', doc: 'device minor number' },
  { name: 'parent', kind: 'u64', doc: 'directories: inode of the directory holding its one dirent (root: itself); others: 0' },
  { name: 'generation', kind: 'u32', doc: 'bumped when the inode number is reused' },
  { name: 'reserved', kind: 'u32', doc: 'zero' },
] as const);

export const DirentValue = struct('dirent', 'Value of a dirent key at position (directory inode, name hash, 0); the name follows.', [
  { name: 'target', kind: 'u64', doc: 'inode number named' },
  { name: 'd_type', kind: 'u8', doc: 'DT_* type of the target, as in <dirent.h>' },
  { name: 'name_length', kind: 'u8', doc: 'bytes of name following (1..255)', unit: 'bytes' },
  { name: 'reserved', kind: 'bytes:6', doc: 'zero' },
] as const);

export const XattrValue = struct('xattr', 'Value of an xattr key at position (inode, name hash, 0); name then value follow.', [
  { name: 'name_length', kind: 'u8', doc: 'bytes of the full name, prefix included ("user.x")', unit: 'bytes' },
  { name: 'reserved', kind: 'u8', doc: 'zero' },
  { name: 'value_length', kind: 'u16', doc: 'bytes of value following the name', unit: 'bytes' },
  { name: 'reserved1', kind: 'u32', doc: 'zero' },
] as const);

export const ExtentValue = struct('extent', 'Value of an extent key at position (inode, end offset, 0), and body of an indirect extent; pointers follow.', [
  { name: 'live_size', kind: 'u32', doc: 'file bytes this extent maps: [key.offset - live_size, key.offset)', unit: 'bytes' },
  { name: 'chunk_offset', kind: 'u32', doc: 'where the mapped range starts inside the uncompressed chunk', unit: 'bytes' },
  { name: 'uncompressed_size', kind: 'u32', doc: 'size of the whole chunk before compression (<= 131072)', unit: 'bytes' },
  { name: 'stored_size', kind: 'u32', doc: 'bytes of the chunk as stored (after compression)', unit: 'bytes' },
  { name: 'checksum', kind: 'csum64', doc: 'checksum of the stored_size stored bytes' },
  { name: 'checksum_type', kind: 'u8', doc: '0 none, 1 crc32c, 2 xxhash64' },
  { name: 'compression', kind: 'u8', doc: '0 none, 1 zstd' },
  { name: 'pointer_count', kind: 'u8', doc: 'pointers following (1..4): one per replica' },
  { name: 'stripe_block', kind: 'u8', doc: 'with stripe_id: index of the stripe block that pointer 0 lies in' },
  { name: 'reserved', kind: 'u32', doc: 'zero' },
  { name: 'stripe_id', kind: 'u64', doc: 'stripe holding pointer 0\'s copy (0: not erasure-coded)' },
] as const);

export const ReflinkPointerValue = struct('reflink_pointer', 'Value of an extent-btree key pointing into the reflink btree.', [
  { name: 'live_size', kind: 'u32', doc: 'file bytes mapped: [key.offset - live_size, key.offset)', unit: 'bytes' },
  { name: 'reserved', kind: 'u32', doc: 'zero' },
  { name: 'index', kind: 'u64', doc: 'reflink address where the mapped range starts', unit: 'bytes' },
] as const);

export const IndirectExtentValue = struct('indirect_extent', 'Value of a reflink-btree key at (0, end reflink address, 0); an `extent` body follows.', [
  { name: 'refcount', kind: 'u64', doc: 'reflink pointers referencing any part of this extent' },
] as const);

export const StripeValue = struct('stripe', 'Value of a stripe key at (0, stripe id, 0); k+m pointers, then (k+m) x chunks checksums of 8 bytes follow.', [
  { name: 'algorithm', kind: 'u8', doc: '1: Reed-Solomon over GF(2^8), Cauchy generator (docs/EC.md)' },
  { name: 'data_blocks', kind: 'u8', doc: 'k (1..16)' },
  { name: 'parity_blocks', kind: 'u8', doc: 'm (1..4)' },
  { name: 'checksum_type', kind: 'u8', doc: 'type of the block checksums' },
  { name: 'checksum_granularity_bits', kind: 'u8', doc: 'log2 of the bytes covered by one block checksum' },
  { name: 'reserved', kind: 'bytes:3', doc: 'zero' },
  { name: 'block_size', kind: 'u32', doc: 'size of each block (a bucket)', unit: 'bytes' },
  { name: 'reserved1', kind: 'u32', doc: 'zero' },
] as const);

export const AllocValue = struct('alloc', 'Value of an alloc key at (member index, bucket index, 0). Absent key: free, generation 0.', [
  { name: 'generation', kind: 'u32', doc: 'bucket generation; bumped when the bucket is reused' },
  { name: 'data_type', kind: 'u8', doc: 'BUCKET_DATA: 0 free, 1 superblock, 2 journal, 3 btree, 4 user, 5 parity' },
  { name: 'reserved', kind: 'bytes:3', doc: 'zero' },
  { name: 'used_bytes', kind: 'u32', doc: 'bytes referenced by live pointers (block-rounded)', unit: 'bytes' },
  { name: 'reserved1', kind: 'u32', doc: 'zero' },
  { name: 'stripe_id', kind: 'u64', doc: 'stripe this bucket is a block of (0: none)' },
] as const);

// ---------------------------------------------------------------------------------------------
// Journal

export const JournalEntryHeader = struct('journal_entry', 'Start of one journal entry in a member\'s journal ring; items follow.', [
  { name: 'magic', kind: 'u32', doc: '0x4c4e4a53 ("SJNL")' },
  { name: 'checksum_type', kind: 'u8', doc: 'type of `checksum`' },
  { name: 'reserved', kind: 'bytes:3', doc: 'zero' },
  { name: 'checksum', kind: 'csum64', doc: 'checksum of bytes [16, length)' },
  { name: 'fs_magic', kind: 'bytes:8', doc: 'first 8 bytes of fs_uuid' },
  { name: 'seq', kind: 'u64', doc: 'sequence number: consecutive, one per transaction' },
  { name: 'last_seq', kind: 'u64', doc: 'oldest sequence still needed at write time (entries below it are checkpointed)' },
  { name: 'length', kind: 'u32', doc: 'bytes of this entry, header included, a multiple of block_size', unit: 'bytes' },
  { name: 'item_count', kind: 'u32', doc: 'items following' },
  { name: 'next_inode', kind: 'u64', doc: 'superblock next_inode after this transaction' },
  { name: 'next_reflink', kind: 'u64', doc: 'superblock next_reflink after this transaction' },
  { name: 'next_stripe', kind: 'u64', doc: 'superblock next_stripe after this transaction' },
] as const);

export const JournalItemHeader = struct('journal_item', 'One key update inside a journal entry: a key_header and its value follow.', [
  { name: 'btree_id', kind: 'u8', doc: 'btree the key goes into' },
  { name: 'reserved', kind: 'bytes:7', doc: 'zero' },
] as const);

export const ALL_STRUCTS = [
  Superblock, MemberEntry, BtreeRoot, Pointer, NodeHeader, KeyHeader, BtreePointerValue, InodeValue, DirentValue,
  XattrValue, ExtentValue, ReflinkPointerValue, IndirectExtentValue, StripeValue, AllocValue, JournalEntryHeader, JournalItemHeader,
] as const;
