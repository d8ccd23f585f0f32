// Every problem fsck can report, in one table (the e2fsprogs problem.c / bcachefs fsck error id
// shape). A row is a stable code, a message built from a typed context, a severity, what -y
// does about it, and flags. Codes are persistent: they appear in --json output and in
// golden-images/f_*/expect.*; a code is never renamed, renumbered or reused, only added
// (test/repair/fsck-problems.test.ts pins the set).
//
// Severity: 'info' is not damage (a journal replayed after a crash) and never changes the exit
// code; 'warning' is lost redundancy or leaked space, nothing a reader would notice; 'error' is
// an inconsistency a reader can meet.
// Flags: `preenOk` fixes run under -p (safe without a human: they lose nothing); `autofix` is
// normal recovery, done whenever fsck may write (implies preenOk); `fatal` problems end the
// check (nothing past them can be trusted).

export type Severity = 'info' | 'warning' | 'error';

/** Values a context field may hold: they go into --json as they are. */
export type ContextValue = string | number | boolean;

export interface ProblemDef<C extends Record<string, ContextValue>> {
  code: string;
  severity: Severity;
  /** one line, no trailing period: what is wrong and where */
  message: (c: C) => string;
  /** what fsck -y does, phrased as the question e2fsck would ask ("Rewrite it from the newest copy") */
  fix: (c: C) => string;
  preenOk?: boolean;
  autofix?: boolean;
  fatal?: boolean;
}

/** A problem def with its context type erased, for tables and reports. */
export type AnyProblemDef = ProblemDef<Record<string, ContextValue>>;

function def<C extends Record<string, ContextValue>>(d: ProblemDef<C>): ProblemDef<C> {
  return d;
}

type Where = { btree: string; level: number; range: string };
const node = (c: Where) => `btree ${c.btree} level ${c.level} node ${c.range}`;
type Bucket = { member: number; bucket: number };
const bucket = (c: Bucket) => `bucket ${c.bucket} of member ${c.member}`;
type Ext = { inode: number; start: number; end: number };
/** inode 0 is never a file: it is the reflink address space of indirect extents */
const ext = (c: Ext) => (c.inode === 0 ? `shared extent at reflink ${c.start}..${c.end}` : `inode ${c.inode} bytes ${c.start}..${c.end}`);

export const P = {
  // -------------------------------------------------------------------------------- superblocks
  SB_COPY_BAD: def<{ member: number; copy: number; offset: number; reason: string }>({
    code: 'SB_COPY_BAD', severity: 'warning', preenOk: true,
    message: (c) => `superblock copy ${c.copy} of member ${c.member} at offset ${c.offset} is invalid: ${c.reason}`,
    fix: () => 'Rewrite it from the newest valid copy',
  }),
  SB_COPY_STALE: def<{ member: number; copy: number; offset: number; seq: number; newest: number }>({
    code: 'SB_COPY_STALE', severity: 'warning', preenOk: true, autofix: true,
    message: (c) => `superblock copy ${c.copy} of member ${c.member} at offset ${c.offset} has seq ${c.seq}, the newest is ${c.newest}`,
    fix: () => 'Rewrite it from the newest copy',
  }),
  SB_COPY_DIFFERS: def<{ member: number; copy: number; offset: number; seq: number }>({
    code: 'SB_COPY_DIFFERS', severity: 'warning', preenOk: true,
    message: (c) => `superblock copy ${c.copy} of member ${c.member} at offset ${c.offset} has the newest seq ${c.seq} but differs from the copy in use`,
    fix: () => 'Rewrite it from the copy in use',
  }),
  MEMBER_MISSING: def<{ member: number; uuid: string }>({
    code: 'MEMBER_MISSING', severity: 'error',
    message: (c) => `member ${c.member} (uuid ${c.uuid}) is missing: checked degraded, nothing is written`,
    fix: () => 'Name every member joined with ":" and run again',
  }),
  MEMBER_SIZE_WRONG: def<{ member: number; fileSize: number; size: number }>({
    code: 'MEMBER_SIZE_WRONG', severity: 'warning', preenOk: true,
    message: (c) => `member ${c.member} file is ${c.fileSize} bytes, the member table says ${c.size}`,
    fix: (c) => `Set the file size to ${c.size} bytes`,
  }),
  SB_COUNTER_LOW: def<{ counter: string; value: number; needed: number }>({
    code: 'SB_COUNTER_LOW', severity: 'error', preenOk: true,
    message: (c) => `superblock ${c.counter} is ${c.value}, but what is in use needs at least ${c.needed}`,
    fix: (c) => `Raise ${c.counter} to ${c.needed}`,
  }),
  FEATURE_MISSING: def<{ feature: string; reason: string }>({
    code: 'FEATURE_MISSING', severity: 'error', preenOk: true,
    message: (c) => `incompatible feature ${c.feature} is not set, but ${c.reason}`,
    fix: (c) => `Set feature ${c.feature}`,
  }),

  // ------------------------------------------------------------------------------------ journal
  JOURNAL_REPLAY: def<{ entries: number; from: number; to: number }>({
    code: 'JOURNAL_REPLAY', severity: 'info', preenOk: true, autofix: true,
    message: (c) => `journal holds ${c.entries} transaction${c.entries === 1 ? '' : 's'} not yet checkpointed (seq ${c.from}..${c.to})`,
    fix: () => 'Replay them and checkpoint',
  }),
  JOURNAL_TORN: def<{ member: number; position: number; seq: number; reason: string }>({
    code: 'JOURNAL_TORN', severity: 'info', preenOk: true, autofix: true,
    message: (c) => `journal entry seq ${c.seq} at member ${c.member} ring offset ${c.position} is torn (${c.reason}): it was never acknowledged`,
    fix: () => 'Drop it',
  }),
  JOURNAL_COPY_BAD: def<{ member: number; position: number; seq: number; reason: string }>({
    code: 'JOURNAL_COPY_BAD', severity: 'warning', preenOk: true,
    message: (c) => `the copy of journal entry seq ${c.seq} on member ${c.member} at ring offset ${c.position} is damaged (${c.reason}); another copy was replayed`,
    fix: () => 'Drop the damaged copy',
  }),
  JOURNAL_ENTRY_BAD: def<{ member: number; position: number; seq: number; reason: string }>({
    code: 'JOURNAL_ENTRY_BAD', severity: 'error',
    message: (c) => `journal entry seq ${c.seq} at member ${c.member} ring offset ${c.position} is damaged (${c.reason}): its transaction is lost`,
    fix: () => 'Drop it',
  }),
  JOURNAL_GAP: def<{ missing: number; ignored: number }>({
    code: 'JOURNAL_GAP', severity: 'error',
    message: (c) => `journal entry seq ${c.missing} is missing: ${c.ignored === 1 ? '1 later entry is not replayed, its transaction is lost' : `${c.ignored} later entries are not replayed, their transactions are lost`}`,
    fix: () => 'Drop the entries after the gap',
  }),
  JOURNAL_UNREADABLE: def<{ member: number; reason: string }>({
    code: 'JOURNAL_UNREADABLE', severity: 'error',
    message: (c) => `journal ring of member ${c.member} cannot be read: ${c.reason}`,
    fix: () => 'Checkpoint so the journal is not needed',
  }),

  // ----------------------------------------------------------------------------- btree structure
  NODE_COPY_BAD: def<Where & { member: number; offset: number; reason: string }>({
    code: 'NODE_COPY_BAD', severity: 'warning', preenOk: true,
    message: (c) => `${node(c)}: copy on member ${c.member} at offset ${c.offset} is bad (${c.reason}); another copy is good`,
    fix: () => 'Rewrite the node from the good copy',
  }),
  NODE_PTR_BAD: def<Where & { member: number; offset: number; reason: string }>({
    code: 'NODE_PTR_BAD', severity: 'warning', preenOk: true,
    message: (c) => `${node(c)}: pointer to member ${c.member} offset ${c.offset} is outside the member's buckets (${c.reason}); another copy is good`,
    fix: () => 'Rewrite the node from the good copy',
  }),
  NODE_PTR_STALE: def<Where & { member: number; offset: number; generation: number; bucketGeneration: number }>({
    code: 'NODE_PTR_STALE', severity: 'error',
    message: (c) => `${node(c)}: pointer to member ${c.member} offset ${c.offset} has generation ${c.generation}, the bucket's is ${c.bucketGeneration} (stale), yet the node there is intact`,
    fix: () => 'Rewrite the node to a current bucket',
  }),
  NODE_PTR_GEN_AHEAD: def<Where & { member: number; offset: number; generation: number; bucketGeneration: number }>({
    code: 'NODE_PTR_GEN_AHEAD', severity: 'error',
    message: (c) => `${node(c)}: pointer to member ${c.member} offset ${c.offset} has generation ${c.generation}, ahead of the bucket's ${c.bucketGeneration} (which other pointers into it carry)`,
    fix: () => 'Rewrite the node to a current bucket',
  }),
  NODE_PTR_LEVEL: def<Where & { recorded: number }>({
    code: 'NODE_PTR_LEVEL', severity: 'warning', preenOk: true,
    message: (c) => `${node(c)}: its parent's pointer records level ${c.recorded}`,
    fix: () => 'Rewrite the parent node',
  }),
  NODE_CSUM: def<Where & { reason: string; salvaged: number }>({
    code: 'NODE_CSUM', severity: 'error',
    message: (c) => `${node(c)}: checksum mismatch in every copy (${c.reason}); ${c.salvaged} keys salvaged`,
    fix: (c) => `Rebuild btree ${c.btree} from its readable keys`,
  }),
  NODE_MAGIC: def<Where & { reason: string; salvaged: number }>({
    code: 'NODE_MAGIC', severity: 'error',
    message: (c) => `${node(c)}: no node in any copy (${c.reason}); ${c.salvaged} keys salvaged`,
    fix: (c) => `Rebuild btree ${c.btree} from its readable keys`,
  }),
  NODE_IDENTITY: def<Where & { reason: string; salvaged: number }>({
    code: 'NODE_IDENTITY', severity: 'error',
    message: (c) => `${node(c)}: every copy is some other node (${c.reason}); ${c.salvaged} keys salvaged`,
    fix: (c) => `Rebuild btree ${c.btree} from its readable keys`,
  }),
  NODE_BOUNDS: def<Where & { reason: string; salvaged: number }>({
    code: 'NODE_BOUNDS', severity: 'error',
    message: (c) => `${node(c)}: header or key bounds wrong in every copy (${c.reason}); ${c.salvaged} keys salvaged`,
    fix: (c) => `Rebuild btree ${c.btree} from its readable keys`,
  }),
  KEYS_OUT_OF_ORDER: def<Where & { reason: string; salvaged: number }>({
    code: 'KEYS_OUT_OF_ORDER', severity: 'error',
    message: (c) => `${node(c)}: keys out of order or outside the node's range (${c.reason}); ${c.salvaged} keys salvaged`,
    fix: (c) => `Rebuild btree ${c.btree} with its keys sorted`,
  }),
  NODE_UNREADABLE: def<Where & { reason: string; salvaged: number }>({
    code: 'NODE_UNREADABLE', severity: 'error',
    message: (c) => `${node(c)}: no copy can be read (${c.reason}); its keys are lost`,
    fix: (c) => `Rebuild btree ${c.btree} from its readable keys`,
  }),
  NODE_SHARED: def<Where & { member: number; offset: number; first: string }>({
    code: 'NODE_SHARED', severity: 'error',
    message: (c) => `${node(c)}: its copy on member ${c.member} at offset ${c.offset} is also ${c.first}`,
    fix: (c) => `Rebuild btree ${c.btree} from its readable keys`,
  }),

  // -------------------------------------------------------------------------------------- alloc
  ALLOC_KEY_BAD: def<{ member: number; bucket: number; reason: string }>({
    code: 'ALLOC_KEY_BAD', severity: 'warning', preenOk: true,
    message: (c) => `alloc key for ${bucket(c)} is invalid: ${c.reason}`,
    fix: () => 'Rebuild the alloc btree from the recount',
  }),
  ALLOC_LEAKED: def<Bucket & { type: string; recorded: number }>({
    code: 'ALLOC_LEAKED', severity: 'warning', preenOk: true,
    message: (c) => `${bucket(c)} is marked ${c.type} with ${c.recorded} bytes used, but nothing references it (leaked)`,
    fix: () => 'Mark it free',
  }),
  ALLOC_UNMARKED: def<Bucket & { type: string; counted: number }>({
    code: 'ALLOC_UNMARKED', severity: 'error', preenOk: true,
    message: (c) => `${bucket(c)} holds ${c.counted} bytes of ${c.type}, but the alloc btree says it is free`,
    fix: () => 'Mark it in use',
  }),
  ALLOC_USED_WRONG: def<Bucket & { recorded: number; counted: number }>({
    code: 'ALLOC_USED_WRONG', severity: 'error', preenOk: true,
    message: (c) => `${bucket(c)} records ${c.recorded} bytes used, ${c.counted} are referenced`,
    fix: (c) => `Set it to ${c.counted}`,
  }),
  ALLOC_TYPE_WRONG: def<Bucket & { recorded: string; counted: string }>({
    code: 'ALLOC_TYPE_WRONG', severity: 'error', preenOk: true,
    message: (c) => `${bucket(c)} is marked ${c.recorded} but holds ${c.counted}`,
    fix: (c) => `Mark it ${c.counted}`,
  }),
  ALLOC_GEN_LOW: def<Bucket & { recorded: number; pointer: number }>({
    code: 'ALLOC_GEN_LOW', severity: 'error', preenOk: true,
    message: (c) => `${bucket(c)} has generation ${c.recorded}, but every live pointer into it expects ${c.pointer} or more`,
    fix: (c) => `Raise the generation to ${c.pointer}`,
  }),
  ALLOC_STRIPE_WRONG: def<Bucket & { recorded: number; counted: number }>({
    code: 'ALLOC_STRIPE_WRONG', severity: 'error', preenOk: true,
    message: (c) => `${bucket(c)} records stripe ${c.recorded}, it is a block of stripe ${c.counted}`,
    fix: (c) => `Set its stripe to ${c.counted}`,
  }),
  SPACE_SHARED: def<{ member: number; start: number; end: number; first: string; second: string }>({
    code: 'SPACE_SHARED', severity: 'error',
    message: (c) => `bytes ${c.start}..${c.end} of member ${c.member} are claimed by ${c.first} and by ${c.second}`,
    fix: (c) => `Give ${c.second} its own copy of the data, or drop its pointer when its data is not there`,
  }),

  // ------------------------------------------------------------------------------------ extents
  EXTENT_BAD: def<{ inode: number; offset: number; type: string; reason: string }>({
    code: 'EXTENT_BAD', severity: 'error',
    message: (c) => `extent key of inode ${c.inode} ending at ${c.offset} (${c.type}) is invalid: ${c.reason}`,
    fix: () => 'Delete it (its range becomes a hole)',
  }),
  EXTENT_NO_INODE: def<{ inode: number; extents: number; end: number }>({
    code: 'EXTENT_NO_INODE', severity: 'error',
    message: (c) => `${c.extents} extent${c.extents === 1 ? ' belongs' : 's belong'} to inode ${c.inode}, which does not exist`,
    fix: (c) => `Recreate inode ${c.inode} as a regular file of ${c.end} bytes holding ${c.extents === 1 ? 'it' : 'them'}`,
  }),
  EXTENT_NOT_FILE: def<{ inode: number; kind: string; extents: number }>({
    code: 'EXTENT_NOT_FILE', severity: 'error',
    message: (c) => `inode ${c.inode} is a ${c.kind} but has ${c.extents} extent${c.extents === 1 ? '' : 's'}`,
    fix: (c) => (c.extents === 1 ? 'Delete it' : 'Delete them'),
  }),
  EXTENT_OVERLAP: def<Ext & { previousEnd: number }>({
    code: 'EXTENT_OVERLAP', severity: 'error',
    message: (c) => `${ext(c)} overlaps the extent before it, which ends at ${c.previousEnd}`,
    fix: (c) => (c.previousEnd >= c.end ? 'Delete the later extent' : `Trim the later extent to start at ${c.previousEnd}`),
  }),
  EXTENT_PAST_EOF: def<{ inode: number; size: number; end: number }>({
    code: 'EXTENT_PAST_EOF', severity: 'error',
    message: (c) => `inode ${c.inode} has data up to ${c.end}, beyond its size ${c.size}`,
    fix: (c) => `Set its size to ${c.end}`,
  }),
  EXTENT_PTR_BAD: def<Ext & { member: number; offset: number; reason: string; left: number }>({
    code: 'EXTENT_PTR_BAD', severity: 'error',
    message: (c) => `${ext(c)}: pointer to member ${c.member} offset ${c.offset} is invalid (${c.reason})`,
    fix: (c) => (c.left > 0 ? 'Drop the pointer (other copies remain)' : 'Delete the extent (its range becomes a hole)'),
  }),
  EXTENT_PTR_STALE: def<Ext & { member: number; offset: number; generation: number; bucketGeneration: number; intact: boolean; left: number }>({
    code: 'EXTENT_PTR_STALE', severity: 'error',
    message: (c) => `${ext(c)}: pointer to member ${c.member} offset ${c.offset} has generation ${c.generation}, the bucket's is ${c.bucketGeneration} (stale); the data there ${c.intact ? 'is intact' : 'is not this extent\'s'}`,
    fix: (c) => (c.intact ? `Set the pointer's generation to ${c.bucketGeneration}` : c.left > 0 ? 'Drop the pointer (other copies remain)' : 'Delete the extent (its range becomes a hole)'),
  }),
  EXTENT_PTR_GEN_AHEAD: def<Ext & { member: number; offset: number; generation: number; bucketGeneration: number; intact: boolean; left: number }>({
    code: 'EXTENT_PTR_GEN_AHEAD', severity: 'error',
    message: (c) => `${ext(c)}: pointer to member ${c.member} offset ${c.offset} has generation ${c.generation}, ahead of the bucket's ${c.bucketGeneration} (which other pointers into it carry); the data there ${c.intact ? 'is intact' : 'is not this extent\'s'}`,
    fix: (c) => (c.intact ? `Set the pointer's generation to ${c.bucketGeneration}` : c.left > 0 ? 'Drop the pointer (other copies remain)' : 'Delete the extent (its range becomes a hole)'),
  }),
  EXTENT_REPLICAS_SAME_MEMBER: def<Ext & { member: number }>({
    code: 'EXTENT_REPLICAS_SAME_MEMBER', severity: 'warning', preenOk: true,
    message: (c) => `${ext(c)}: two copies on member ${c.member}`,
    fix: () => 'Drop the duplicate pointer',
  }),
  EXTENT_STRIPE_MISSING: def<Ext & { stripe: number }>({
    code: 'EXTENT_STRIPE_MISSING', severity: 'error',
    message: (c) => `${ext(c)} names stripe ${c.stripe}, which does not exist or is not usable`,
    fix: () => 'Clear its stripe reference',
  }),

  // ------------------------------------------------------------------------------------ reflink
  INDIRECT_BAD: def<{ offset: number; reason: string }>({
    code: 'INDIRECT_BAD', severity: 'error',
    message: (c) => `indirect extent ending at reflink address ${c.offset} is invalid: ${c.reason}`,
    fix: () => 'Delete it (files sharing it get holes there)',
  }),
  INDIRECT_OVERLAP: def<{ start: number; end: number; previousEnd: number }>({
    code: 'INDIRECT_OVERLAP', severity: 'error',
    message: (c) => `indirect extent ${c.start}..${c.end} overlaps the one before it, which ends at ${c.previousEnd}`,
    fix: () => 'Delete the later one',
  }),
  REFLINK_MISSING: def<Ext & { index: number; missing: number }>({
    code: 'REFLINK_MISSING', severity: 'error',
    message: (c) => `${ext(c)} point to reflink ${c.index}..${c.index + c.end - c.start}, ${c.missing} bytes of which have no indirect extent`,
    fix: () => 'Turn the missing part into a hole',
  }),
  REFCOUNT_HIGH: def<{ start: number; end: number; recorded: number; counted: number }>({
    code: 'REFCOUNT_HIGH', severity: 'error', preenOk: true,
    message: (c) => `indirect extent ${c.start}..${c.end} has refcount ${c.recorded}, but ${c.counted} reflink pointer${c.counted === 1 ? '' : 's'} reference it`,
    fix: (c) => `Set the refcount to ${c.counted}`,
  }),
  REFCOUNT_LOW: def<{ start: number; end: number; recorded: number; counted: number }>({
    code: 'REFCOUNT_LOW', severity: 'error',
    message: (c) => `indirect extent ${c.start}..${c.end} has refcount ${c.recorded}, but ${c.counted} reflink pointers reference it`,
    fix: (c) => `Set the refcount to ${c.counted}`,
  }),
  INDIRECT_UNREFERENCED: def<{ start: number; end: number; recorded: number }>({
    code: 'INDIRECT_UNREFERENCED', severity: 'warning', preenOk: true,
    message: (c) => `indirect extent ${c.start}..${c.end} has refcount ${c.recorded}, but no reflink pointer references it`,
    fix: () => 'Delete it and free its space',
  }),

  // ------------------------------------------------------------------------------------ stripes
  STRIPE_BAD: def<{ stripe: number; reason: string }>({
    code: 'STRIPE_BAD', severity: 'error',
    message: (c) => `stripe ${c.stripe} is invalid: ${c.reason}`,
    fix: () => 'Delete it (its data blocks stay readable; their parity is lost)',
  }),
  STRIPE_BLOCK_BAD: def<{ stripe: number; block: number; member: number; offset: number; reason: string }>({
    code: 'STRIPE_BLOCK_BAD', severity: 'error',
    message: (c) => `stripe ${c.stripe} block ${c.block} on member ${c.member} at offset ${c.offset} is not a bucket of its own (${c.reason})`,
    fix: () => 'Delete the stripe (its data blocks stay readable; their parity is lost)',
  }),
  STRIPE_CSUM_MISSING: def<{ stripe: number }>({
    code: 'STRIPE_CSUM_MISSING', severity: 'error',
    message: (c) => `stripe ${c.stripe} has no block checksums (checksum type none)`,
    fix: () => 'Delete the stripe (a damaged block could not be located)',
  }),
  STRIPE_UNREFERENCED: def<{ stripe: number }>({
    code: 'STRIPE_UNREFERENCED', severity: 'warning', preenOk: true,
    message: (c) => `stripe ${c.stripe} holds no extent`,
    fix: () => 'Delete it and free its parity',
  }),

  // ------------------------------------------------------------------------------------- inodes
  INODE_BAD: def<{ inode: number; reason: string }>({
    code: 'INODE_BAD', severity: 'error',
    message: (c) => `inode ${c.inode} is invalid: ${c.reason}`,
    fix: () => 'Clear it (a new inode keeps its data and entries; names of it are removed)',
  }),
  INODE_TYPE_BAD: def<{ inode: number; mode: string; kind: string }>({
    code: 'INODE_TYPE_BAD', severity: 'error',
    message: (c) => `inode ${c.inode} has mode ${c.mode}, which is no file type`,
    fix: (c) => `Make it a ${c.kind}`,
  }),
  INODE_TIME_BAD: def<{ inode: number; field: string; value: number }>({
    code: 'INODE_TIME_BAD', severity: 'error', preenOk: true,
    message: (c) => `inode ${c.inode} ${c.field} is ${c.value}, above 999999999`,
    fix: () => 'Set it to 0',
  }),
  INODE_FLAGS_BAD: def<{ inode: number; flags: number }>({
    code: 'INODE_FLAGS_BAD', severity: 'warning', preenOk: true,
    message: (c) => `inode ${c.inode} has flags 0x${c.flags.toString(16)}; format 1 defines none`,
    fix: () => 'Clear them',
  }),
  INODE_SIZE_BAD: def<{ inode: number; kind: string; size: number }>({
    code: 'INODE_SIZE_BAD', severity: 'error', preenOk: true,
    message: (c) => `inode ${c.inode} is a ${c.kind} with size ${c.size}`,
    fix: () => 'Set the size to 0',
  }),
  INODE_FIELD_BAD: def<{ inode: number; kind: string; field: string; value: number }>({
    code: 'INODE_FIELD_BAD', severity: 'warning', preenOk: true,
    message: (c) => `inode ${c.inode} is a ${c.kind} with ${c.field} ${c.value}`,
    fix: () => 'Set it to 0',
  }),
  SYMLINK_EMPTY: def<{ inode: number; size: number }>({
    code: 'SYMLINK_EMPTY', severity: 'error',
    message: (c) => `symlink ${c.inode} of size ${c.size} has no target`,
    fix: () => 'Clear it',
  }),
  ROOT_MISSING: def<Record<string, never>>({
    code: 'ROOT_MISSING', severity: 'error',
    message: () => 'the root directory (inode 1) does not exist',
    fix: () => 'Create an empty root directory',
  }),
  ROOT_NOT_DIR: def<{ kind: string }>({
    code: 'ROOT_NOT_DIR', severity: 'error',
    message: (c) => `the root (inode 1) is a ${c.kind}, not a directory`,
    fix: () => 'Make it an empty directory',
  }),

  // ------------------------------------------------------------------------------------ dirents
  DIRENT_BAD: def<{ dir: number; offset: number; reason: string }>({
    code: 'DIRENT_BAD', severity: 'error',
    message: (c) => `directory entry in ${c.dir} at ${c.offset} is invalid: ${c.reason}`,
    fix: () => 'Remove it',
  }),
  DIRENT_DIR_MISSING: def<{ dir: number; entries: number }>({
    code: 'DIRENT_DIR_MISSING', severity: 'error',
    message: (c) => `${c.entries} directory entr${c.entries === 1 ? 'y belongs' : 'ies belong'} to inode ${c.dir}, which does not exist`,
    fix: (c) => `Recreate inode ${c.dir} as a directory holding ${c.entries === 1 ? 'it' : 'them'}`,
  }),
  DIRENT_OWNER_NOT_DIR: def<{ dir: number; kind: string; entries: number }>({
    code: 'DIRENT_OWNER_NOT_DIR', severity: 'error',
    message: (c) => `${c.entries} directory entr${c.entries === 1 ? 'y belongs' : 'ies belong'} to inode ${c.dir}, a ${c.kind}`,
    fix: (c) => `Remove ${c.entries === 1 ? 'it' : 'them'} (what ${c.entries === 1 ? 'it names goes' : 'they name go'} to /lost+found)`,
  }),
  DIRENT_TARGET_MISSING: def<{ dir: number; name: string; target: number }>({
    code: 'DIRENT_TARGET_MISSING', severity: 'error',
    message: (c) => `entry '${c.name}' in directory ${c.dir} names inode ${c.target}, which does not exist`,
    fix: () => 'Remove it',
  }),
  DIRENT_TO_ROOT: def<{ dir: number; name: string }>({
    code: 'DIRENT_TO_ROOT', severity: 'error',
    message: (c) => `entry '${c.name}' in directory ${c.dir} names the root directory`,
    fix: () => 'Remove it',
  }),
  DIRENT_TYPE_WRONG: def<{ dir: number; name: string; target: number; recorded: number; actual: number }>({
    code: 'DIRENT_TYPE_WRONG', severity: 'error', preenOk: true,
    message: (c) => `entry '${c.name}' in directory ${c.dir} has type ${c.recorded}, inode ${c.target} is type ${c.actual}`,
    fix: (c) => `Set it to ${c.actual}`,
  }),
  DIRENT_HASH_WRONG: def<{ dir: number; name: string; offset: number; moveTo: number }>({
    code: 'DIRENT_HASH_WRONG', severity: 'error', preenOk: true,
    message: (c) => `entry '${c.name}' in directory ${c.dir} at offset ${c.offset} cannot be found by probing from its name hash`,
    fix: (c) => `Move it to offset ${c.moveTo}`,
  }),
  DIRENT_DUPLICATE: def<{ dir: number; name: string; offset: number; first: number }>({
    code: 'DIRENT_DUPLICATE', severity: 'error',
    message: (c) => `directory ${c.dir} has a second entry '${c.name}' at offset ${c.offset} (the first is at ${c.first})`,
    fix: () => 'Remove the second',
  }),

  // ------------------------------------------------------------------------------------- xattrs
  XATTR_BAD: def<{ inode: number; offset: number; reason: string }>({
    code: 'XATTR_BAD', severity: 'error',
    message: (c) => `extended attribute of inode ${c.inode} at ${c.offset} is invalid: ${c.reason}`,
    fix: () => 'Remove it',
  }),
  XATTR_NO_OWNER: def<{ inode: number; xattrs: number }>({
    code: 'XATTR_NO_OWNER', severity: 'error',
    message: (c) => `${c.xattrs} extended attribute${c.xattrs === 1 ? ' belongs' : 's belong'} to inode ${c.inode}, which does not exist`,
    fix: (c) => (c.xattrs === 1 ? 'Remove it' : 'Remove them'),
  }),
  XATTR_HASH_WRONG: def<{ inode: number; name: string; offset: number; moveTo: number }>({
    code: 'XATTR_HASH_WRONG', severity: 'error', preenOk: true,
    message: (c) => `extended attribute '${c.name}' of inode ${c.inode} at offset ${c.offset} cannot be found by probing from its name hash`,
    fix: (c) => `Move it to offset ${c.moveTo}`,
  }),
  XATTR_DUPLICATE: def<{ inode: number; name: string; offset: number; first: number }>({
    code: 'XATTR_DUPLICATE', severity: 'error',
    message: (c) => `inode ${c.inode} has a second extended attribute '${c.name}' at offset ${c.offset} (the first is at ${c.first})`,
    fix: () => 'Remove the second',
  }),

  // -------------------------------------------------------------------------- directory structure
  DIR_UNREACHABLE: def<{ inode: number; reason: string }>({
    code: 'DIR_UNREACHABLE', severity: 'error',
    message: (c) => `directory ${c.inode} is not reachable from the root (${c.reason})`,
    fix: (c) => `Reconnect it as /lost+found/#${c.inode}`,
  }),
  DIR_LOOP: def<{ inode: number; loop: string }>({
    code: 'DIR_LOOP', severity: 'error',
    message: (c) => `directories ${c.loop} form a loop not reachable from the root`,
    fix: (c) => `Reconnect directory ${c.inode} as /lost+found/#${c.inode}`,
  }),
  DIR_MULTIPLY_NAMED: def<{ inode: number; dir: number; name: string; kept: number }>({
    code: 'DIR_MULTIPLY_NAMED', severity: 'error',
    message: (c) => `directory ${c.inode} is also named '${c.name}' in directory ${c.dir} (it is named in ${c.kept})`,
    fix: () => 'Remove the extra name',
  }),
  DIR_PARENT_WRONG: def<{ inode: number; recorded: number; actual: number }>({
    code: 'DIR_PARENT_WRONG', severity: 'error', preenOk: true,
    message: (c) => `directory ${c.inode} records parent ${c.recorded}, its entry is in ${c.actual}`,
    fix: (c) => `Set its parent to ${c.actual}`,
  }),
  INODE_UNATTACHED: def<{ inode: number; kind: string; size: number }>({
    code: 'INODE_UNATTACHED', severity: 'error',
    message: (c) => `${c.kind} inode ${c.inode} (${c.size} bytes) has no directory entry`,
    fix: (c) => `Reconnect it as /lost+found/#${c.inode}`,
  }),
  INODE_UNATTACHED_EMPTY: def<{ inode: number; kind: string }>({
    code: 'INODE_UNATTACHED_EMPTY', severity: 'warning', preenOk: true,
    message: (c) => `empty ${c.kind} inode ${c.inode} has no directory entry`,
    fix: () => 'Clear it',
  }),
  LOST_FOUND_BAD: def<{ kind: string; inode: number }>({
    code: 'LOST_FOUND_BAD', severity: 'error',
    message: (c) => `/lost+found is a ${c.kind} (inode ${c.inode}), not a directory`,
    fix: (c) => `Rename it to /lost+found/#${c.inode} inside a new /lost+found`,
  }),
  ROOT_PARENT_WRONG: def<{ recorded: number }>({
    code: 'ROOT_PARENT_WRONG', severity: 'error', preenOk: true,
    message: (c) => `the root directory records parent ${c.recorded}, not itself`,
    fix: () => 'Set it to 1',
  }),

  // --------------------------------------------------------------------------------- link counts
  NLINK_WRONG: def<{ inode: number; kind: string; recorded: number; counted: number }>({
    code: 'NLINK_WRONG', severity: 'error', preenOk: true,
    message: (c) => `${c.kind} inode ${c.inode} has link count ${c.recorded}, should be ${c.counted}`,
    fix: (c) => `Set it to ${c.counted}`,
  }),

  // ------------------------------------------------------------------------------------- general
  NO_SPACE: def<{ reason: string }>({
    code: 'NO_SPACE', severity: 'error',
    message: (c) => `no space for the copy-on-write writes the repairs need (${c.reason}): no repair was made durable`,
    fix: () => 'Free space (strata rm) or give the member more room, then run strata fsck -y again',
  }),
  CHECK_INCOMPLETE: def<{ pass: string; reason: string }>({
    code: 'CHECK_INCOMPLETE', severity: 'error',
    message: (c) => `pass ${c.pass} stopped early: ${c.reason}`,
    fix: () => 'Nothing more can be done here; run strata scrub to see what is lost',
  }),
} as const;

export type ProblemCode = keyof typeof P;

/** Every row, for tests and documentation. */
export const PROBLEM_DEFS: readonly AnyProblemDef[] = Object.values(P) as unknown as AnyProblemDef[];
