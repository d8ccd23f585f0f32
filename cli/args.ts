// Parsing of option values shared by commands. Each parser throws UsageError with the option
// named, so a bad value exits 16 with one line.
import { UsageError } from '../format/errors.js';

const SIZE_UNITS: Record<string, number> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };

/** "512", "64K", "1.5G" -> bytes. */
export function parseSize(text: string, option: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?$/i.exec(text.trim());
  if (!m) throw new UsageError(`${option}: "${text}" is not a size (examples: 4096, 64K, 10M, 2G)`);
  const bytes = Math.floor(Number(m[1]) * SIZE_UNITS[m[2]!.toUpperCase()]!);
  if (!Number.isSafeInteger(bytes) || bytes <= 0) throw new UsageError(`${option}: size ${text} out of range`);
  return bytes;
}

export function parsePowerOfTwo(text: string, option: string, min: number, max: number): number {
  const n = parseSize(text, option);
  if ((n & (n - 1)) !== 0 || n < min || n > max) throw new UsageError(`${option}: ${n} must be a power of two between ${min} and ${max}`);
  return n;
}

export function parseCount(text: string, option: string, min: number, max: number): number {
  if (!/^\d+$/.test(text)) throw new UsageError(`${option}: "${text}" is not a whole number`);
  const n = Number(text);
  if (n < min || n > max) throw new UsageError(`${option}: ${n} must be between ${min} and ${max}`);
  return n;
}

/** SOURCE_DATE_EPOCH when set (validated), else now, in whole seconds. */
export function sourceDateEpoch(env: NodeJS.ProcessEnv = process.env): number {
  const v = env.SOURCE_DATE_EPOCH;
  if (v === undefined || v === '') return Math.floor(Date.now() / 1000);
  if (!/^\d+$/.test(v)) throw new UsageError(`SOURCE_DATE_EPOCH="${v}" is not a whole number of seconds`);
  return Number(v);
}
