/** DenseOperator: products with a batch and with one vector equal the brute-force matrix products; bad shapes are named. */
import { cpu } from '@backpack-ts/backend-cpu';
import { tensor } from '@backpack-ts/core';
import { DenseOperator, denseOperator } from '@backpack-ts/curvmatprod';
import { describe, expect, it } from 'vitest';
import { product, randomSymmetric, toTensor } from './helpers/symmetric-matrices.js';

describe('DenseOperator', () => {
  const a = randomSymmetric(5, 1);
  const operator = denseOperator(toTensor(a));

  it('has the matrix shape, dtype and backend, and multiplies batches and vectors', () => {
    expect(operator).toBeInstanceOf(DenseOperator);
    expect([operator.shape, operator.dtype, operator.backend]).toEqual([[5, 5], 'float64', cpu]);
    const x = [[1, 0], [2, -1], [0, 3], [-1, 1], [0.5, 2]];
    const batch = Array.from(operator.matmat(tensor(x.flat(), [5, 2], { backend: cpu })).toArray());
    product(a, x).flat().forEach((v, i) => expect(batch[i]).toBeCloseTo(v, 13));
    const one = operator.matmat(tensor(x.map(([v]) => v!), [5], { backend: cpu }));
    expect(one.shape).toEqual([5]);
    Array.from(one.toArray()).forEach((v, i) => expect(v).toBeCloseTo(batch[2 * i]!, 13));
  });

  it('refuses a non-square matrix and vectors of the wrong size or dtype', () => {
    expect(() => denseOperator(tensor([1, 2, 3, 4, 5, 6], [2, 3], { backend: cpu }))).toThrow('DenseOperator: the matrix must be square [n, n], got shape [2, 3]');
    expect(() => operator.matmat(tensor([1, 2], [2], { backend: cpu }))).toThrow('DenseOperator.matmat: x must be [5, K] or [5], got shape [2]');
    expect(() => operator.matmat(tensor([1, 2, 3, 4, 5], [5], { backend: cpu, dtype: 'float32' }))).toThrow(
      "DenseOperator.matmat: x is float32 on 'cpu', the matrix float64 on 'cpu'",
    );
  });
});
