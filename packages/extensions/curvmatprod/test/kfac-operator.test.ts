/**
 * KFACOperator against the Kronecker products of @backpack-ts/kronecker's
 * factors, multiplied out densely in the test:
 *
 * - fisherType 'exact' on unequal batches equals KFLR's factors of the whole
 *   data set taken as one batch (the exact averaging over batches);
 * - fisherType 'mc' on one batch equals KFAC's factors drawn with the same seed;
 * - with damping, every factor gets `δI`, and the inverse operator equals
 *   `linalg.inv` of the dense damped matrix.
 */
import { describe, expect, it } from 'vitest';
import { backpack, concat, eye, linalg, tensor, type Parameter, type Tensor } from '@backpack-ts/core';
import { KFAC, KFLR } from '@backpack-ts/kronecker';
import { KFACOperator, type LinearOperator } from '@backpack-ts/curvmatprod';
import { addMatrices, blockDiagonal, expectMatrixClose, kron, matMul, toMatrix, type Matrix } from './helpers/dense.js';
import { float64, problems, trainable, type Problem } from './helpers/problems.js';

const EXACT = 1e-10;

function denseOf(operator: LinearOperator): Matrix {
  return toMatrix(operator.matmat(eye(operator.shape[1], float64)));
}

/** Runs KFLR or KFAC on one batch and returns each parameter's factors as matrices, the parameters' fields cleared. */
function factorsOf(problem: Problem, [x, y]: readonly [Tensor, Tensor], extension: KFAC | KFLR): Matrix[][] {
  const parameters = trainable(problem);
  backpack([extension], () => problem.lossFunction.forward(problem.model.forward(x), y).backward());
  const field = extension instanceof KFAC ? 'kfac' : 'kflr';
  const factors = parameters.map((p: Parameter) => p[field]!.map(toMatrix));
  problem.model.zeroGrad();
  return factors;
}

/** The block-diagonal matrix of Kronecker products, each factor damped by `δI`. */
function kroneckerBlocks(factors: readonly Matrix[][], damping = 0): Matrix {
  const damped = (f: Matrix) => addMatrices(f, toMatrix(eye(f.length, float64)), damping);
  return blockDiagonal(factors.map((list) => (list.length === 1 ? damped(list[0]!) : kron(damped(list[0]!), damped(list[1]!)))));
}

describe.each(problems())('$name', (problem) => {
  const parameters = trainable(problem);
  const whole: [Tensor, Tensor] = [concat(problem.data.map(([x]) => x), 0), concat(problem.data.map(([, y]) => y), 0)];

  it("'exact' on batches of 3, 1 and 2 equals KFLR of the whole data set", () => {
    const expected = kroneckerBlocks(factorsOf(problem, whole, new KFLR()));
    const operator = new KFACOperator(problem.model, problem.lossFunction, problem.data, { fisherType: 'exact' });
    expectMatrixClose(denseOf(operator), expected, EXACT);
    expect(parameters.every((p) => p.grad === undefined && p.kflr === undefined)).toBe(true);
  });

  it("'mc' on one batch equals KFAC's factors with the same seed", () => {
    const batch = problem.data[0]!;
    const expected = kroneckerBlocks(factorsOf(problem, batch, new KFAC({ mcSamples: 2, seed: 3 })));
    const operator = new KFACOperator(problem.model, problem.lossFunction, [batch], { mcSamples: 2, seed: 3 });
    expectMatrixClose(denseOf(operator), expected, EXACT);
  });

  it('damping: (F₁ + δI) ⊗ (F₂ + δI), and inverse() equals linalg.inv of the dense damped matrix', () => {
    const damping = 0.1;
    const expected = kroneckerBlocks(factorsOf(problem, whole, new KFLR()), damping);
    const operator = new KFACOperator(problem.model, problem.lossFunction, problem.data, { fisherType: 'exact', damping });
    expectMatrixClose(denseOf(operator), expected, EXACT);
    const size = expected.length;
    const inverse = toMatrix(linalg.inv(tensor(expected.flat(), [size, size], float64)));
    const applied = denseOf(operator.inverse());
    expectMatrixClose(applied, inverse, EXACT);
    expectMatrixClose(matMul(applied, expected), toMatrix(eye(size, float64)), EXACT);
  });
});

describe('errors', () => {
  const { model, lossFunction, data } = problems()[0]!;
  it('unknown options and options that do not fit', () => {
    expect(() => new KFACOperator(model, lossFunction, data, { dampng: 1 } as never)).toThrow(/KFACOperator: unknown option 'dampng'/);
    expect(() => new KFACOperator(model, lossFunction, data, { fisherType: 'exact', seed: 1 })).toThrow(/mcSamples and seed are for fisherType 'mc'/);
    expect(() => new KFACOperator(model, lossFunction, data, { damping: -1 })).toThrow(/damping must be a finite number >= 0, got -1/);
    expect(() => new KFACOperator(model, lossFunction, data, { fisherType: 'type-2' as never })).toThrow(/fisherType must be 'mc' or 'exact'/);
  });

  it("a vector of another dtype than the factors': refused, naming the operator", () => {
    const operator = new KFACOperator(model, lossFunction, data, { fisherType: 'exact' });
    expect(() => operator.matmat(eye(operator.shape[1], { ...float64, dtype: 'float32' }))).toThrow(
      "KFACOperator.matmat: x is float32 on 'cpu', the factors float64 on 'cpu'",
    );
  });
});
