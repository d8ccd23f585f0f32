// Number formatting shared by human output and progress displays.

/** Bytes in binary units, as filesystem tools print them: "512 B", "4.00 KiB", "39.1 MiB". */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = n;
  let u = 0;
  while (Math.abs(v) >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(Math.abs(v) < 10 ? 2 : 1)} ${units[u]}`;
}
