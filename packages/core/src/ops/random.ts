import type { Shape } from '../backend/backend.js';
import { tensor, type CreateOptions } from './create.js';
import { sizeOf } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';

/**
 * A seeded pseudo-random generator (xoshiro128**, seeded through splitmix32).
 *
 * Random numbers are drawn in JavaScript and uploaded, so the same seed gives
 * the same numbers on every backend, and Monte-Carlo extensions need no
 * random kernels from a backend.
 */
export class Generator {
  private s0 = 0;
  private s1 = 0;
  private s2 = 0;
  private s3 = 0;
  private spareNormal: number | undefined;

  constructor(seed = 0) {
    this.manualSeed(seed);
  }

  /** Resets the state from a seed (as `torch.manual_seed`). */
  manualSeed(seed: number): this {
    let state = seed >>> 0;
    const next = () => {
      state = (state + 0x9e3779b9) >>> 0;
      let z = state;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.s0 = next();
    this.s1 = next();
    this.s2 = next();
    this.s3 = next();
    this.spareNormal = undefined;
    return this;
  }

  /** A uniform 32-bit unsigned integer. */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** A uniform number in [0, 1) with 53 random bits. */
  nextUniform(): number {
    const high = this.nextUint32() >>> 5;
    const low = this.nextUint32() >>> 6;
    return (high * 67108864 + low) / 9007199254740992;
  }

  /** A standard normal number (Box-Muller, both values used). */
  nextNormal(): number {
    if (this.spareNormal !== undefined) {
      const spare = this.spareNormal;
      this.spareNormal = undefined;
      return spare;
    }
    const u1 = 1 - this.nextUniform(); // (0, 1]: log stays finite
    const u2 = this.nextUniform();
    const radius = Math.sqrt(-2 * Math.log(u1));
    this.spareNormal = radius * Math.sin(2 * Math.PI * u2);
    return radius * Math.cos(2 * Math.PI * u2);
  }

  /** A tensor of uniform numbers in [low, high). */
  uniform(shape: Shape, options: CreateOptions & { low?: number; high?: number } = {}): Tensor {
    const low = options.low ?? 0;
    const high = options.high ?? 1;
    const data = new Float64Array(sizeOf(shape));
    for (let i = 0; i < data.length; i++) data[i] = low + (high - low) * this.nextUniform();
    return tensor(data, shape, options);
  }

  /** A tensor of standard normal numbers. */
  normal(shape: Shape, options: CreateOptions = {}): Tensor {
    const data = new Float64Array(sizeOf(shape));
    for (let i = 0; i < data.length; i++) data[i] = this.nextNormal();
    return tensor(data, shape, options);
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
