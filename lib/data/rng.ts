/**
 * A small seeded pseudo-random number generator: xoshiro128** (Blackman and
 * Vigna), its 128-bit state filled from the seed by splitmix32. The same seed
 * gives the same stream on every platform and Node version (only 32-bit
 * integer arithmetic and Math.imul are used), so shuffling, augmentation and
 * parameter initialisation are reproducible.
 */
import { describe, rangeError, typeError } from '../errors';

const TWO_32 = 4294967296;
const INV_TWO_32 = 1 / TWO_32;
const TWO_PI = 2 * Math.PI;

/** One round of splitmix32's output function (a good 32-bit integer hash). */
function hash32(x: number): number {
  x = (x + 0x9e3779b9) | 0;
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

function checkSeed(value: unknown, argument: string): number {
  if (typeof value !== 'number') throw typeError(argument, 'a safe integer', value);
  if (!Number.isSafeInteger(value)) throw rangeError('ERR_ADDERNET_OPTION', argument, 'a safe integer', describe(value));
  return value;
}

/** The 32 low and 32 high bits of a safe integer, hashed together. */
function seedWord(seed: number): number {
  const lo = seed >>> 0; // ToUint32: two's complement for negatives
  const hi = Math.floor(seed / TWO_32) >>> 0;
  return (lo ^ hash32(hi)) >>> 0;
}

/**
 * Combines several integers (a seed, an epoch, a stream number, ...) into one
 * 32-bit seed, so that independent streams can be derived from one user seed.
 */
export function mixSeed(...values: number[]): number {
  let h = 0x2545f491;
  values.forEach((v, i) => {
    h = hash32((h ^ seedWord(checkSeed(v, `values[${i}]`))) >>> 0);
  });
  return h;
}

export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;
  /** Second Box–Muller deviate, NaN when none is pending. */
  private spare = NaN;

  /** `seed`: any safe integer (negative allowed); the default is 0. */
  constructor(seed = 0) {
    let x = seedWord(checkSeed(seed, 'seed'));
    const next = (): number => {
      x = (x + 0x9e3779b9) | 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.s0 = next();
    this.s1 = next();
    this.s2 = next();
    this.s3 = next();
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1; // all-zero state is a fixed point
  }

  /** Next 32-bit unsigned integer. */
  nextUint32(): number {
    const s1 = this.s1;
    const r = Math.imul(s1, 5);
    const result = Math.imul((r << 7) | (r >>> 25), 9) >>> 0;
    const t = s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = (this.s3 << 11) | (this.s3 >>> 21);
    return result;
  }

  /** Uniform in [0, 1), with 32 bits of resolution. */
  next(): number {
    return this.nextUint32() * INV_TWO_32;
  }

  /** Uniform in [lo, hi). */
  uniform(lo = 0, hi = 1): number {
    return lo + (hi - lo) * this.next();
  }

  /** Normal deviate (Box–Muller; the second deviate of each pair is kept for the next call). */
  normal(mean = 0, std = 1): number {
    let z: number;
    if (!Number.isNaN(this.spare)) {
      z = this.spare;
      this.spare = NaN;
    } else {
      const u1 = 1 - this.next(); // (0, 1]: log is finite
      const u2 = this.next();
      const r = Math.sqrt(-2 * Math.log(u1));
      z = r * Math.cos(TWO_PI * u2);
      this.spare = r * Math.sin(TWO_PI * u2);
    }
    return mean + std * z;
  }

  /** Uniform integer in [0, n), without modulo bias; n an integer in [1, 2^32]. */
  int(n: number): number {
    if (typeof n !== 'number') throw typeError('n', 'an integer in [1, 2^32]', n);
    if (!Number.isInteger(n) || n < 1 || n > TWO_32) {
      throw rangeError('ERR_ADDERNET_OPTION', 'n', 'an integer in [1, 2^32]', describe(n));
    }
    const limit = TWO_32 - (TWO_32 % n); // largest multiple of n that fits
    for (;;) {
      const x = this.nextUint32();
      if (x < limit) return x % n;
    }
  }

  /** Fisher–Yates shuffle in place; returns the same array. */
  shuffle<T extends { length: number; [index: number]: unknown }>(arr: T): T {
    for (let i = arr.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = arr[i];
      arr[i] = arr[j];
      arr[j] = tmp;
    }
    return arr;
  }

  /** A random permutation of 0..n-1. */
  permutation(n: number): Int32Array {
    const p = new Int32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    return this.shuffle(p);
  }

  /** Fills `out` with uniform values in [lo, hi); returns it. */
  fillUniform<A extends Float32Array | Float64Array>(out: A, lo = 0, hi = 1): A {
    const scale = (hi - lo) * INV_TWO_32;
    for (let i = 0; i < out.length; i++) out[i] = lo + scale * this.nextUint32();
    return out;
  }

  /** Fills `out` with normal deviates N(mean, std^2); returns it. */
  fillNormal<A extends Float32Array | Float64Array>(out: A, mean = 0, std = 1): A {
    for (let i = 0; i < out.length; i++) out[i] = this.normal(mean, std);
    return out;
  }
}
