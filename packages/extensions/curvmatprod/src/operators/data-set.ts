import type { Tensor } from '@backpack-ts/core';

/**
 * A data set: batches `[input, target]`, iterated once per product. An array
 * or any iterable that can be iterated again (not a generator object, which
 * runs once). Batches may differ in size.
 */
export type DataSet = Iterable<readonly [Tensor, Tensor]>;

/** The batch sizes (leading dimension of each input), one pass over `data`; throws, naming `caller`, on an empty data set. */
export function batchSizes(caller: string, data: DataSet): number[] {
  const sizes = [...data].map(([input]) => input.shape[0] ?? 1);
  if (sizes.length === 0) throw new RangeError(`${caller}: the data set has no batches`);
  return sizes;
}

/**
 * The batches of `data` for one product, checking that they are those the
 * operator was built on (a generator object yields nothing the second time).
 */
export function* batchesOf(caller: string, data: DataSet, sizes: readonly number[]): Generator<{ input: Tensor; target: Tensor; index: number }> {
  let index = 0;
  for (const [input, target] of data) {
    const size = input.shape[0] ?? 1;
    if (sizes[index] !== size) {
      throw new Error(`${caller}: batch ${index} of the data set has ${size} samples, but had ${String(sizes[index])} when the operator was built; the data set must give the same batches on every pass`);
    }
    yield { input, target, index };
    index++;
  }
  if (index !== sizes.length) {
    throw new Error(
      `${caller}: the data set gave ${index} batches, but ${sizes.length} when the operator was built; pass an array or another iterable that can be iterated again (a generator object runs once)`,
    );
  }
}
