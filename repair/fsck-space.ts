// Where things may live on a member, shared by the btree, alloc, extents and stripes passes so
// that they agree on which pointers are valid: inside the member's buckets, block-aligned, not
// in bucket 0 (superblock) nor in the journal ring, and not straddling a bucket boundary.
import type { FsInfo } from '../format/superblock.js';
import type { Ptr } from '../format/keys.js';
import { FIRST_USABLE_BUCKET } from '../format/layout.js';

/** Why `bytes` at pointer `p` cannot be a stored thing, or undefined when the place is valid. */
export function placeProblem(fs: FsInfo, p: Ptr, bytes: number): string | undefined {
  return placeProblemAt(fs, p.member, p.offset, bytes);
}

/** placeProblem of a pointer given by its member and offset (read in place, no Ptr object). */
export function placeProblemAt(fs: FsInfo, member: number, offset: number, bytes: number): string | undefined {
  const m = fs.members[member];
  if (!m) return `member ${member} does not exist (the image has ${fs.members.length})`;
  if (offset % fs.blockSize !== 0) return `offset not aligned to the ${fs.blockSize}-byte block`;
  const bucket = Math.floor(offset / fs.bucketSize);
  if (bucket < FIRST_USABLE_BUCKET) return 'inside bucket 0, which holds the superblock';
  if (offset + bytes > m.bucketCount * fs.bucketSize) return `past the last bucket (${m.bucketCount} buckets)`;
  if (Math.floor((offset + bytes - 1) / fs.bucketSize) !== bucket) return `straddles the end of bucket ${bucket}`;
  if (m.journalBuckets > 0 && bucket >= m.journalBucket && bucket < m.journalBucket + m.journalBuckets) return `inside the journal ring (bucket ${bucket})`;
  return undefined;
}

export function bucketOf(fs: FsInfo, offset: number): number {
  return Math.floor(offset / fs.bucketSize);
}

/**
 * The generation a bucket has, from the one the alloc btree records and those its live pointers
 * carry. Generations never go down. When some pointer agrees with the record, the record
 * stands and a pointer ahead of it is the damaged one; when every pointer is ahead, the record
 * is what fell behind (a reuse whose alloc key was lost), and it moves up to the newest.
 */
export class GenerationVote {
  private readonly agree: Uint8Array[];
  private readonly ahead: Uint32Array[];

  constructor(private readonly fs: FsInfo, private readonly recorded: (member: number, bucket: number) => number) {
    this.agree = fs.members.map((m) => new Uint8Array(m.bucketCount));
    this.ahead = fs.members.map((m) => new Uint32Array(m.bucketCount));
  }

  vote(member: number, offset: number, generation: number): void {
    const b = Math.floor(offset / this.fs.bucketSize);
    const agree = this.agree[member];
    if (!agree || b >= agree.length) return;
    const recorded = this.recorded(member, b);
    if (generation === recorded) agree[b] = 1;
    else if (generation > recorded && generation > this.ahead[member]![b]!) this.ahead[member]![b] = generation;
  }

  /** The bucket's generation after the vote. */
  generation(member: number, bucket: number): number {
    const recorded = this.recorded(member, bucket);
    if (!this.agree[member] || bucket >= this.agree[member]!.length) return recorded;
    return this.agree[member]![bucket] ? recorded : Math.max(recorded, this.ahead[member]![bucket]!);
  }
}
