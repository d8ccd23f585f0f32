// A small seeded PRNG for property tests, so any failure can be replayed exactly.
//
// Each test draws its seed from STRATA_EC_SEED when set (to replay a failure), otherwise a fresh
// one, and `withSeed` puts the seed into the message of any assertion that fails.

import { randomInt } from 'node:crypto';

export class SeededRandom {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(readonly seed: number) {
    // splitmix32 expands the seed so that nearby seeds give unrelated streams.
    let state = seed >>> 0;
    const next = () => {
      state = (state + 0x9e3779b9) >>> 0;
      let z = state;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = next();
    this.b = next();
    this.c = next();
    this.d = next() | 1; // xoshiro's state must not be all zero
  }

  /** xoshiro128**: a uniformly distributed u32. */
  nextU32(): number {
    const result = Math.imul(rotateLeft(Math.imul(this.b, 5), 7), 9) >>> 0;
    const t = this.b << 9;
    this.c ^= this.a;
    this.d ^= this.b;
    this.b ^= this.c;
    this.a ^= this.d;
    this.c ^= t;
    this.d = rotateLeft(this.d, 11);
    return result;
  }

  /** An integer in min..max inclusive. */
  int(min: number, max: number): number {
    return min + Math.floor((this.nextU32() / 0x1_0000_0000) * (max - min + 1));
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(0, items.length - 1)]!;
  }

  bytes(length: number): Uint8Array {
    const bytes = new Uint8Array(length);
    for (let i = 0; i < length; i += 4) {
      const word = this.nextU32();
      for (let j = 0; j < 4 && i + j < length; j++) bytes[i + j] = word >>> (8 * j);
    }
    return bytes;
  }

  /** `count` distinct integers from 0..n-1, ascending. */
  subset(n: number, count: number): number[] {
    const pool = Array.from({ length: n }, (_, index) => index);
    for (let i = 0; i < count; i++) {
      const j = this.int(i, n - 1);
      [pool[i], pool[j]] = [pool[j]!, pool[i]!];
    }
    return pool.slice(0, count).sort((x, y) => x - y);
  }
}

function rotateLeft(value: number, bits: number): number {
  return (value << bits) | (value >>> (32 - bits));
}

function chooseSeed(): number {
  const fromEnvironment = process.env.STRATA_EC_SEED;
  if (fromEnvironment !== undefined && fromEnvironment !== '') {
    const seed = Number(fromEnvironment);
    if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new Error(`STRATA_EC_SEED must be a u32, got ${fromEnvironment}`);
    return seed;
  }
  return randomInt(0, 0xffffffff);
}

/**
 * Wraps a property test body: runs it with a SeededRandom and, if it throws, adds the seed and
 * the command to replay it to the error's message (the original error, so assert's diff stays).
 */
export function withSeed(body: (random: SeededRandom) => void | Promise<void>): () => Promise<void> {
  return async () => {
    const seed = chooseSeed();
    try {
      await body(new SeededRandom(seed));
    } catch (error) {
      if (error instanceof Error) {
        error.message = `${error.message}\n    [seed ${seed}; replay with STRATA_EC_SEED=${seed}]`;
      }
      throw error;
    }
  };
}
