// Where things may live on a member, shared by the btree, alloc, extents and stripes passes so
// that they agree on which pointers are valid: inside the member's buckets, block-aligned, not
// in bucket 0 (superblock) nor in the journal ring, and not straddling a bucket boundary.
import type { FsInfo } from '../format/superblock.js';
import type { Ptr } from '../format/keys.js';
import { FIRST_USABLE_BUCKET } from '../format/layout.js';

/** Why `bytes` at pointer `p` cannot be a stored thing, or undefined when the place is valid. */
export function placeProblem(fs: FsInfo, p: Ptr, bytes: number): string | undefined {
  const m = fs.members[p.member];
  if (!m) return `member ${p.member} does not exist (the image has ${fs.members.length})`;
  if (p.offset % fs.blockSize !== 0) return `offset not aligned to the ${fs.blockSize}-byte block`;
  const bucket = Math.floor(p.offset / fs.bucketSize);
  if (bucket < FIRST_USABLE_BUCKET) return 'inside bucket 0, which holds the superblock';
  if (p.offset + bytes > m.bucketCount * fs.bucketSize) return `past the last bucket (${m.bucketCount} buckets)`;
  if (Math.floor((p.offset + bytes - 1) / fs.bucketSize) !== bucket) return `straddles the end of bucket ${bucket}`;
  if (m.journalBuckets > 0 && bucket >= m.journalBucket && bucket < m.journalBucket + m.journalBuckets) return `inside the journal ring (bucket ${bucket})`;
  return undefined;
}

export function bucketOf(fs: FsInfo, offset: number): number {
  return Math.floor(offset / fs.bucketSize);
}
