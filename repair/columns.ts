// Typed-array columns that grow: the tables fsck and scrub keep per key, per extent or per
// copy (one array per field) instead of an object per row.

type Column = Float64Array | Uint32Array | Uint16Array | Uint8Array;

/** `column` with room for at least `length` entries: itself, or a copy at least twice as long. */
export function grown<T extends Column>(column: T, length: number): T {
  if (column.length >= length) return column;
  const next = new (column.constructor as new (n: number) => T)(Math.max(length, column.length * 2));
  next.set(column);
  return next;
}
