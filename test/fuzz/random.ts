// The fuzzer's seeded choices, over the PRNG of the property tests (splitmix32 seeding,
// xoshiro128**, test/format/ec/seeded-random.ts). Every input is derived
// from (run seed, input number) alone, so any input can be regenerated from its recipe.
import { SeededRandom } from '../format/ec/seeded-random.js';

export class Rng {
  /** the generator itself, shared with the property tests */
  private readonly source: SeededRandom;

  constructor(readonly seed: number) {
    this.source = new SeededRandom(seed);
  }

  u32(): number {
    return this.source.nextU32();
  }

  /** uniform integer in [0, n) */
  int(n: number): number {
    if (n <= 0) return 0;
    return Math.floor((this.u32() / 4294967296) * n);
  }

  /** true with probability p */
  chance(p: number): boolean {
    return this.u32() / 4294967296 < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  /** pick by weight: [[weight, value], ...] */
  weighted<T>(table: ReadonlyArray<readonly [number, T]>): T {
    const total = table.reduce((n, [w]) => n + w, 0);
    let r = this.int(total);
    for (const [w, v] of table) {
      if (r < w) return v;
      r -= w;
    }
    return table[table.length - 1]![1];
  }

  bytes(n: number): Buffer {
    const out = Buffer.alloc(n);
    for (let i = 0; i < n; i++) out[i] = this.u32() & 0xff;
    return out;
  }
}

/** The seed of input number `index` of a run seeded with `runSeed`: independent streams. */
export function inputSeed(runSeed: number, index: number): number {
  const r = new Rng((runSeed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0);
  return r.u32();
}
