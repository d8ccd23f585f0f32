// Hash-probed runs (dirents and xattrs of one owner): an entry at `offset` is found by a lookup
// that starts at its name hash `home` and walks forward to the first gap, so it is reachable
// when home <= offset and every offset in [home, offset) is taken. This plans where entries
// must move so that every survivor is reachable again: to the first free offset at or after
// its home. Moving an entry can open a gap in another one's run, so it repeats until stable.

export interface ProbedEntry {
  offset: number;
  home: number;
}

/** Reachability of each entry in a run where exactly `taken` offsets are occupied. */
export function unreachable(entries: readonly ProbedEntry[], taken: readonly number[]): boolean[] {
  // An entry at its hash is reachable whatever else is taken: the usual case needs no sort.
  if (entries.every((e) => e.offset === e.home)) return entries.map(() => false);
  const sorted = Float64Array.from(taken).sort();
  return entries.map((e) => e.home > e.offset || countIn(sorted, e.home, e.offset) !== e.offset - e.home);
}

/**
 * New offsets (by entry index) for `entries`, the entries that stay, so each is reachable.
 * `fixed` offsets stay taken by entries that cannot move (damaged ones left in place).
 */
export function planMoves(entries: readonly ProbedEntry[], fixed: readonly number[] = []): Map<number, number> {
  const at = entries.map((e) => e.offset);
  const moves = new Map<number, number>();
  for (let round = 0; round < 64; round++) {
    const current = entries.map((e, i) => ({ offset: at[i]!, home: e.home }));
    const lost = unreachable(current, [...at, ...fixed]).map((u, i) => (u ? i : -1)).filter((i) => i >= 0);
    if (lost.length === 0) break;
    const taken = new Set([...at, ...fixed]);
    for (const i of lost) taken.delete(at[i]!);
    lost.sort((a, b) => entries[a]!.home - entries[b]!.home);
    for (const i of lost) {
      let to = entries[i]!.home;
      while (taken.has(to)) to++;
      taken.add(to);
      at[i] = to;
      moves.set(i, to);
    }
  }
  for (const [i, to] of moves) if (entries[i]!.offset === to) moves.delete(i);
  return moves;
}

/** Count of values v in sorted `a` with from <= v < to. */
function countIn(a: Float64Array, from: number, to: number): number {
  return lowerBound(a, to) - lowerBound(a, from);
}

function lowerBound(a: Float64Array, v: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid]! < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Keys grouped by owner (the inode field), in btree order. */
export function* groupsByOwner<K extends { inode: number }>(keys: Iterable<K>): Generator<K[]> {
  let group: K[] = [];
  for (const k of keys) {
    if (group.length && group[0]!.inode !== k.inode) {
      yield group;
      group = [];
    }
    group.push(k);
  }
  if (group.length) yield group;
}
