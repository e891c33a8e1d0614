/**
 * The argument checks the algorithms share (operator shape, what its matmat
 * returns, seeds, distributions, non-convergence modes, CG's start vector),
 * each naming the algorithm and the numbers, and the operators' own checks
 * no other test reaches (KFAC's singular factors, an integer parameter).
 */
import { cpu } from '@backpack-ts/backend-cpu';
import { CrossEntropyLoss, Linear, Sequential, extend, tensor, zeros, type Tensor } from '@backpack-ts/core';
import {
  BlockProductOperator,
  KFACOperator,
  conjugateGradient,
  hutchinsonDiagonal,
  hutchinsonTrace,
  lanczosEigenvalues,
  stochasticLanczosQuadrature,
  type LinearOperator,
} from '@backpack-ts/curvmatprod';
import { describe, expect, it } from 'vitest';
import { operatorOf, randomSymmetric } from './helpers/symmetric-matrices.js';

const float64 = { backend: cpu, dtype: 'float64' as const };
const square = operatorOf(randomSymmetric(4, 1));

describe('the algorithms refuse, naming themselves and the numbers', () => {
  it('an operator that is not square, or whose matmat returns another shape', () => {
    const wide: LinearOperator = { shape: [3, 4], dtype: 'float64', backend: cpu, matmat: (x: Tensor) => x };
    expect(() => hutchinsonTrace(wide, { matvecs: 2 })).toThrow('hutchinsonTrace: the operator must be square, got shape [3, 4]');
    const wrong: LinearOperator = { shape: [4, 4], dtype: 'float64', backend: cpu, matmat: () => zeros([4, 1], float64) };
    expect(() => hutchinsonDiagonal(wrong, { matvecs: 3, seed: 0 })).toThrow(
      "hutchinsonDiagonal: the operator's matmat returned shape [4, 1] for input [4, 3]; expected [4, 3]",
    );
  });

  it('a seed that is not an integer, an unknown distribution or non-convergence mode', () => {
    expect(() => hutchinsonTrace(square, { matvecs: 2, seed: 0.5 })).toThrow('hutchinsonTrace: seed must be an integer, got 0.5');
    expect(() => stochasticLanczosQuadrature(square, { distribution: 'uniform' as never })).toThrow(
      "stochasticLanczosQuadrature: distribution must be 'rademacher' or 'gaussian', got 'uniform'",
    );
    expect(() => lanczosEigenvalues(square, { onNonConvergence: 'warn' as never })).toThrow("lanczosEigenvalues: onNonConvergence must be 'throw' or 'return', got 'warn'");
  });

  it("CG's start vector of another shape than b", () => {
    const b = tensor([1, 2, 3, 4], [4], float64);
    expect(() => conjugateGradient(square, b, { x0: zeros([4, 1], float64) })).toThrow("conjugateGradient: x0 of shape [4, 1] differs from b's [4]");
  });
});

describe('operator checks', () => {
  it('KFACOperator.inverse names a singular factor and the way out', () => {
    // One sample whose second feature is 0: the input-side factor x xᵀ has a zero row.
    const model = extend(new Sequential(new Linear(3, 2, { ...float64, bias: false })));
    const data = [[tensor([1, 0, 2], [1, 3], float64), tensor([1], [1], { backend: cpu, dtype: 'int32' })] as const];
    const operator = new KFACOperator(model, new CrossEntropyLoss(), data, { fisherType: 'exact' });
    expect(() => operator.inverse()).toThrow(/^KFACOperator.inverse: factor 1 of parameter 0 cannot be inverted \(.*\); pass damping > 0$/);
  });

  it('BlockProductOperator refuses an integer parameter', () => {
    const product = Object.assign((mat: Tensor) => mat, { tensors: [] });
    expect(() => new BlockProductOperator(product, tensor([1, 2], [2], { backend: cpu, dtype: 'int32' }))).toThrow(
      'BlockProductOperator: the parameter must be float32 or float64, got int32',
    );
  });
});
