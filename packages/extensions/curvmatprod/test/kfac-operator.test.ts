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
import {
  Conv2d,
  ConvTranspose2d,
  CrossEntropyLoss,
  Embedding,
  Flatten,
  Generator,
  Linear,
  Sequential,
  Tanh,
  backpack,
  concat,
  extend,
  eye,
  linalg,
  matmul,
  tensor,
  type Parameter,
  type Reduction,
  type Tensor,
} from '@backpack-ts/core';
import { KFAC, KFLR } from '@backpack-ts/kronecker';
import { KFACOperator, KroneckerProductOperator, type LinearOperator } from '@backpack-ts/curvmatprod';
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
    const fields = parameters.map((p) => p.kflr);
    const operator = new KFACOperator(problem.model, problem.lossFunction, problem.data, { fisherType: 'exact' });
    expectMatrixClose(denseOf(operator), expected, EXACT);
    expect(parameters.every((p, i) => p.grad === undefined && p.kflr === fields[i])).toBe(true);
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

describe.each(['mean', 'sum'] as const)("an Embedding (factors [A, G], the input side first), CrossEntropyLoss('%s')", (reduction: Reduction) => {
  it("'exact' on batches of 3 and 1 equals KFLR of the whole data set", () => {
    const generator = new Generator(21);
    const model = extend(new Sequential(new Embedding(5, 2, { ...float64, generator }), new Tanh(), new Flatten(), new Linear(4, 3, { ...float64, generator })));
    const lossFunction = extend(new CrossEntropyLoss(reduction));
    const indices = (data: number[], n: number) => tensor(data, [n, 2], { backend: float64.backend, dtype: 'int32' });
    const labels = (data: number[]) => tensor(data, [data.length], { backend: float64.backend, dtype: 'int32' });
    const data: [Tensor, Tensor][] = [
      [indices([0, 1, 2, 2, 4, 1], 3), labels([0, 2, 1])],
      [indices([3, 0], 1), labels([2])],
    ];
    const problem: Problem = { name: 'embedding', model, lossFunction, data };
    const whole: [Tensor, Tensor] = [concat(data.map(([x]) => x), 0), concat(data.map(([, y]) => y), 0)];
    const expected = kroneckerBlocks(factorsOf(problem, whole, new KFLR()));
    expectMatrixClose(denseOf(new KFACOperator(model, lossFunction, data, { fisherType: 'exact' })), expected, EXACT);
  });
});

describe("the model's state", () => {
  it(".grad, kfac and kflr are left as they were, alive, whatever they held", () => {
    const problem = problems()[0]!;
    const parameters = trainable(problem);
    const [x, y] = problem.data[0]!;
    backpack([new KFLR()], () => problem.lossFunction.forward(problem.model.forward(x), y).backward());
    const before = parameters.map((p) => [p.grad!, ...p.kflr!]);
    const values = before.map((list) => list.map((t) => Array.from(t.toArray())));
    for (const fisherType of ['exact', 'mc'] as const) new KFACOperator(problem.model, problem.lossFunction, problem.data, { fisherType });
    parameters.forEach((p, i) => {
      const now = [p.grad!, ...p.kflr!];
      expect(now).toEqual(before[i]);
      expect(now.map((t) => Array.from(t.toArray()))).toEqual(values[i]);
      expect(p.kfac).toBeUndefined();
    });
    problem.model.zeroGrad();
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

  it('a transposed convolution, before any pass; a grouped convolution, leaving the model as it was', () => {
    const generator = new Generator(31);
    const images = (model: ConstructorParameters<typeof Sequential>) => {
      const net = extend(new Sequential(...model));
      const batch: [Tensor, Tensor] = [generator.normal([2, 2, 3, 3], float64), tensor([0, 1], [2], { backend: float64.backend, dtype: 'int32' })];
      return { net, batch };
    };
    const transposed = images([new ConvTranspose2d(2, 2, 2, { ...float64, generator }), new Flatten(), new Linear(32, 2, { ...float64, generator })]);
    expect(() => new KFACOperator(transposed.net, new CrossEntropyLoss(), [transposed.batch])).toThrow(
      /^KFACOperator: parameter 0 belongs to ConvTranspose2d '0', whose Kronecker factors describe the weight with its first two axes swapped; KFACOperator does not support transposed convolutions/,
    );
    const grouped = images([new Conv2d(2, 2, 2, { ...float64, generator, groups: 2 }), new Flatten(), new Linear(8, 2, { ...float64, generator })]);
    expect(() => new KFACOperator(grouped.net, new CrossEntropyLoss(), [grouped.batch], { fisherType: 'exact' })).toThrow(
      /^KFACOperator: parameter 0 \(Conv2d '0'\) has Kronecker factors of rank .*; KFACOperator needs matrices \(convolutions with groups > 1 are not supported\)/,
    );
    expect(grouped.net.parameters().every((p) => p.grad === undefined && p.kflr === undefined)).toBe(true);
  });

  it("a vector of another dtype than the factors': refused, naming the operator", () => {
    const operator = new KFACOperator(model, lossFunction, data, { fisherType: 'exact' });
    expect(() => operator.matmat(eye(operator.shape[1], { ...float64, dtype: 'float32' }))).toThrow(
      "KFACOperator.matmat: x is float32 on 'cpu', the factors float64 on 'cpu'",
    );
  });
});

describe('dispose()', () => {
  const { model, lossFunction, data } = problems()[0]!;
  it('frees the factors; a disposed operator refuses products and inverse(), naming itself; an inverse lives on its own', () => {
    const operator = new KFACOperator(model, lossFunction, data, { fisherType: 'exact', damping: 0.1 });
    const dense = denseOf(operator);
    const inverse = operator.inverse();
    const factors = operator.factors.flat();
    operator.dispose();
    expect(operator.isDisposed).toBe(true);
    expect(factors.every((f) => f.isDisposed)).toBe(true);
    const x = eye(operator.shape[1], float64);
    expect(() => operator.matmat(x)).toThrow('KFACOperator.matmat: the operator was disposed (dispose() freed its factors); build a new one');
    expect(() => operator.inverse()).toThrow('KFACOperator.inverse: the operator was disposed');
    operator.dispose(); // a second call changes nothing
    // The inverse still inverts the (now disposed) operator's dense matrix.
    expectMatrixClose(matMul(denseOf(inverse), dense), toMatrix(eye(dense.length, float64)), EXACT);
    inverse.dispose();
    expect(() => inverse.matmat(x)).toThrow('KFACOperator inverse.matmat: the operator was disposed');
  });

  it('a KroneckerProductOperator built by hand owns the factors given: dispose() frees them', () => {
    const factors = [[eye(2, float64), eye(3, float64)], [eye(4, float64)]];
    const operator = new KroneckerProductOperator('blocks', factors);
    expect(factors.flat().some((f) => f.isDisposed)).toBe(false);
    operator.dispose();
    expect(factors.flat().every((f) => f.isDisposed)).toBe(true);
    expect(() => factors[0]![0]!.toArray()).toThrow(/blocks\.dispose\(\)/);
    expect(() => operator.matmat(eye(10, float64))).toThrow('blocks.matmat: the operator was disposed');
  });
});

describe('KroneckerProductOperator', () => {
  /** A random symmetric `[n, n]` matrix `G Gᵀ`. */
  const symmetric = (n: number, seed: number) => {
    const g = new Generator(seed).normal([n, n], float64);
    return matmul(g, g, false, true);
  };

  it('multiplies by the block diagonal of F (one factor) and F₁ ⊗ F₂ (two), for a batch and for one vector', () => {
    const factors = [[symmetric(2, 1), symmetric(3, 2)], [symmetric(4, 3)]];
    const operator = new KroneckerProductOperator('blocks', factors);
    const expected = kroneckerBlocks(factors.map((list) => list.map(toMatrix)));
    expect(operator.shape).toEqual([10, 10]);
    expectMatrixClose(denseOf(operator), expected, EXACT);
    const v = new Generator(4).normal([10], float64);
    const product = operator.matmat(v);
    expect(product.shape).toEqual([10]);
    expectMatrixClose(Array.from(product.toArray()), matMul(expected, Array.from(v.toArray(), (x) => [x])).flat(), EXACT);
  });

  it('refuses, naming the parameter and the factor, no factors, three factors, a non-square or integer factor and mixed dtypes', () => {
    const square = symmetric(2, 5);
    expect(() => new KroneckerProductOperator('blocks', [])).toThrow('blocks: no factors given (one list of one or two factors per parameter)');
    expect(() => new KroneckerProductOperator('blocks', [[square], [square, square, square]])).toThrow('blocks: parameter 1 has 3 factors; give one or two');
    expect(() => new KroneckerProductOperator('blocks', [[square, tensor([1, 2, 3, 4, 5, 6], [2, 3], float64)]])).toThrow(
      'blocks: factor 1 of parameter 0 must be a square matrix, got shape [2, 3]',
    );
    expect(() => new KroneckerProductOperator('blocks', [[tensor([1], [1, 1], { ...float64, dtype: 'int32' })]])).toThrow(
      'blocks (factor 0 of parameter 0): expects a float32 or float64 tensor, got int32',
    );
    expect(() => new KroneckerProductOperator('blocks', [[square], [tensor([1], [1, 1], { ...float64, dtype: 'float32' })]])).toThrow(
      "blocks: factor 0 of parameter 1 is float32 on 'cpu', factor 0 of parameter 0 float64 on 'cpu'",
    );
  });
});
