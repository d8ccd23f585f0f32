// GNU sparse files. An archive stores only the data regions of a file with holes, plus a map
// of where each region sits in the full ("real") file. Four encodings exist:
//   old GNU  typeflag 'S': map in the header (4 entries) and in extension blocks (21 each)
//   pax 0.0  GNU.sparse.offset / GNU.sparse.numbytes record pairs, repeated in order
//   pax 0.1  GNU.sparse.map = "offset,size,offset,size,..."
//   pax 1.0  the map as decimal lines at the start of the member data, padded to a block
// All of them end up as a validated SparseRegion list; the content is then re-expanded with
// zeros in the holes. The map is bounded by the same limit as a pax header.

import { BLOCK_SIZE, GNU_SPARSE_ENTRY_FIELDS, GNU_SPARSE_ENTRY_SIZE, decodeFields } from './header.js';

/** A region of the real file whose bytes are stored in the archive; the rest reads as zeros. */
export interface SparseRegion {
  offset: number;
  length: number;
}

/** Raised for a malformed or inconsistent map; the reader re-raises it naming the entry. */
export class SparseMapError extends Error {}

/**
 * Old-GNU map entries from a header's or extension block's sparse area. An entry whose
 * numbytes field starts with NUL ends this area's list (GNU tar's own rule); whether another
 * extension block follows is the separate isExtended flag.
 */
export function parseGnuSparseEntries(area: Buffer): SparseRegion[] {
  const regions: SparseRegion[] = [];
  for (let start = 0; start + GNU_SPARSE_ENTRY_SIZE <= area.length; start += GNU_SPARSE_ENTRY_SIZE) {
    const raw = area.subarray(start, start + GNU_SPARSE_ENTRY_SIZE);
    if (raw[GNU_SPARSE_ENTRY_FIELDS[1].offset] === 0) break;
    const { offset, numBytes } = decodeFields(GNU_SPARSE_ENTRY_FIELDS, raw);
    regions.push({ offset, length: numBytes });
  }
  return regions;
}

/** pax 0.1: "offset,size,offset,size,...". */
export function parseSparseMap01(text: string): SparseRegion[] {
  if (text === '') return [];
  const numbers = text.split(',').map((part) => parseMapNumber(part));
  if (numbers.length % 2 !== 0) throw new SparseMapError('GNU.sparse.map has an odd number of values');
  const regions: SparseRegion[] = [];
  for (let index = 0; index < numbers.length; index += 2) regions.push({ offset: numbers[index]!, length: numbers[index + 1]! });
  return regions;
}

/**
 * pax 1.0: reads the map at the start of the member data, block by block, through `nextBlock`
 * (which returns exactly one block or throws). Returns the regions and how many bytes of member
 * data the map occupied (a multiple of the block size).
 */
export async function readSparseMap10(
  nextBlock: () => Promise<Buffer>,
  maxMapBytes: number,
): Promise<{ regions: SparseRegion[]; mapBytes: number }> {
  let partialLine = '';
  let mapBytes = 0;
  const numbers: number[] = [];
  // Every complete line is a number: the region count, then offset/size pairs. Lines are parsed
  // as they complete, so a large map costs linear time; what follows the last one is padding.
  while (numbers.length === 0 || numbers.length < 1 + 2 * numbers[0]!) {
    if (mapBytes + BLOCK_SIZE > maxMapBytes) throw new SparseMapError(`sparse map is larger than ${maxMapBytes} bytes`);
    const lines = (partialLine + (await nextBlock()).toString('latin1')).split('\n');
    mapBytes += BLOCK_SIZE;
    partialLine = lines.pop()!;
    for (const line of lines) {
      if (numbers.length > 0 && numbers.length >= 1 + 2 * numbers[0]!) break;
      numbers.push(parseMapNumber(line));
    }
    const complete = numbers.length > 0 && numbers.length >= 1 + 2 * numbers[0]!;
    if (!complete && partialLine.length > 32) throw new SparseMapError('sparse map line is too long to be a number');
  }
  const count = numbers[0]!;
  const regions: SparseRegion[] = [];
  for (let index = 0; index < count; index++) regions.push({ offset: numbers[1 + 2 * index]!, length: numbers[2 + 2 * index]! });
  return { regions, mapBytes };
}

/**
 * Checks the invariants the content expansion relies on: regions in order, not overlapping,
 * inside the real size, and their lengths adding up to exactly the stored data.
 */
export function validateSparseMap(regions: readonly SparseRegion[], realSize: number, storedSize: number): void {
  let end = 0;
  let stored = 0;
  for (const region of regions) {
    if (region.offset < end) throw new SparseMapError(`sparse region at ${region.offset} overlaps or precedes the previous one`);
    if (region.length < 0 || region.offset + region.length > realSize) {
      throw new SparseMapError(`sparse region ${region.offset}+${region.length} lies beyond the file size ${realSize}`);
    }
    end = region.offset + region.length;
    stored += region.length;
  }
  if (stored !== storedSize) {
    throw new SparseMapError(`sparse map describes ${stored} stored bytes but the member holds ${storedSize}`);
  }
}

/** Zero-filled chunks of this size make up a hole; each is a fresh Buffer the consumer may keep. */
const HOLE_CHUNK = 256 * 1024;

/**
 * The real file's bytes: zeros for holes, stored bytes (pulled through `readStored`, which
 * returns 1..max bytes or throws) for regions. Yields `realSize` bytes in total.
 */
export async function* expandSparse(
  regions: readonly SparseRegion[],
  realSize: number,
  readStored: (maxLength: number) => Promise<Buffer>,
): AsyncGenerator<Buffer, void, undefined> {
  let position = 0;
  for (const region of regions) {
    yield* zeros(region.offset - position);
    let remaining = region.length;
    while (remaining > 0) {
      const chunk = await readStored(remaining);
      remaining -= chunk.length;
      yield chunk;
    }
    position = region.offset + region.length;
  }
  yield* zeros(realSize - position);
}

function* zeros(length: number): Generator<Buffer, void, undefined> {
  for (let remaining = length; remaining > 0; remaining -= HOLE_CHUNK) yield Buffer.alloc(Math.min(remaining, HOLE_CHUNK));
}

function parseMapNumber(text: string): number {
  if (!/^[0-9]{1,16}$/.test(text)) throw new SparseMapError(`sparse map value ${JSON.stringify(text.slice(0, 32))} is not a number`);
  const value = Number(text);
  if (!Number.isSafeInteger(value)) throw new SparseMapError(`sparse map value ${text} is larger than 2^53-1`);
  return value;
}
