/**
 * The curvature operators on data sets of unequal batches against dense
 * matrices of the whole data set taken as one batch, built in the test:
 *
 * - Hessian: rows by double backward of each gradient entry (the helpers'
 *   reference, itself checked against finite differences in
 *   hessianfree.test.ts);
 * - GGN: `Jᵀ H J` with J row by row from one backward pass per output entry
 *   and H the loss Hessian written out by hand;
 * - empirical Fisher: `c Σ_n ∇ℓ_n ∇ℓ_nᵀ` from per-sample gradients, each of a
 *   forward and backward pass on that sample alone;
 * - Monte-Carlo Fisher: `Σ_b w_b Σ_m J_bᵀ s s ᵀ J_b` from the loss's samples
 *   drawn with a generator of the same seed, and, independently of the
 *   sampler, its mean over seeds against the GGN within standard errors;
 * - Jacobian and transposed Jacobian: J row by row.
 *
 * Each operator is applied to the identity (all columns at once), to one
 * vector, and over a chosen block of parameters.
 */
import { describe, expect, it } from 'vitest';
import {
  BCEWithLogitsLoss,
  CrossEntropyLoss,
  Generator,
  Linear,
  MSELoss,
  Sequential,
  Tanh,
  extend,
  concat,
  eye,
  grad,
  slice,
  type LossModule,
  type Parameter,
  type Tensor,
} from '@backpack-ts/core';
import {
  EmpiricalFisherOperator,
  GGNOperator,
  HessianOperator,
  JacobianOperator,
  MonteCarloFisherOperator,
  TransposedJacobianOperator,
  flattenTensors,
  unflattenVector,
  type LinearOperator,
} from '@backpack-ts/curvmatprod';
import {
  addMatrices,
  expectMatrixClose,
  flatValues,
  hessianByRows,
  jacobianByRows,
  matMul,
  matVec,
  scaleMatrix,
  toMatrix,
  transposeMatrix,
  zerosMatrix,
  type Matrix,
} from './helpers/dense.js';
import { denseHessian } from './helpers/dense-curvature.js';
import { lossHessian } from './helpers/loss-hessian.js';
import { float64, problems, trainable, type Problem } from './helpers/problems.js';

const EXACT = 1e-10;

/** The operator applied to the identity: its dense matrix. */
function denseOf(operator: LinearOperator): Matrix {
  return toMatrix(operator.matmat(eye(operator.shape[1], float64)));
}

/** The whole data set as one batch. */
function wholeBatch(problem: Problem): [Tensor, Tensor] {
  return [concat(problem.data.map(([x]) => x), 0), concat(problem.data.map(([, y]) => y), 0)];
}

/** The same loss with reduction 'sum'. */
function summed(lossFunction: LossModule): LossModule {
  return lossFunction instanceof CrossEntropyLoss ? new CrossEntropyLoss('sum') : new MSELoss('sum');
}

function ggnOfWholeBatch(problem: Problem, parameters: readonly Parameter[]): Matrix {
  const [x] = wholeBatch(problem);
  const jacobian = jacobianByRows(() => problem.model.forward(x), parameters);
  return matMul(transposeMatrix(jacobian), matMul(lossHessian(problem.lossFunction, problem.model.forward(x)), jacobian));
}

/** Applies to one random vector too, against the dense matrix. */
function expectVectorProduct(operator: LinearOperator, dense: Matrix, seed: number): void {
  const v = new Generator(seed).normal([operator.shape[1]], float64);
  const product = operator.matmat(v);
  expect(product.shape).toEqual([operator.shape[0]]);
  expectMatrixClose(flatValues([product]), matVec(dense, flatValues([v])), EXACT);
}

describe.each(problems())('$name, batches of 3, 1 and 2', (problem) => {
  const parameters = trainable(problem);
  const chosen = [parameters[parameters.length - 1]!, parameters[0]!];

  it('HessianOperator equals the Hessian of the whole data set', () => {
    const [x, y] = wholeBatch(problem);
    const dense = hessianByRows(() => problem.lossFunction.forward(problem.model.forward(x), y), parameters);
    const operator = new HessianOperator(problem.model, problem.lossFunction, problem.data);
    expect(operator.shape).toEqual([dense.length, dense.length]);
    expectMatrixClose(denseOf(operator), dense, EXACT);
    expectVectorProduct(operator, dense, 1);
    const block = hessianByRows(() => problem.lossFunction.forward(problem.model.forward(x), y), chosen);
    expectMatrixClose(denseOf(new HessianOperator(problem.model, problem.lossFunction, problem.data, { parameters: chosen })), block, EXACT);
  });

  it('GGNOperator equals Jᵀ H J of the whole data set', () => {
    const dense = ggnOfWholeBatch(problem, parameters);
    const operator = new GGNOperator(problem.model, problem.lossFunction, problem.data);
    expectMatrixClose(denseOf(operator), dense, EXACT);
    expectVectorProduct(operator, dense, 2);
    expectMatrixClose(denseOf(new GGNOperator(problem.model, problem.lossFunction, problem.data, { parameters: chosen })), ggnOfWholeBatch(problem, chosen), EXACT);
  });

  it('EmpiricalFisherOperator equals c Σ_n ∇ℓ_n ∇ℓ_nᵀ from per-sample gradients', () => {
    const [x, y] = wholeBatch(problem);
    const n = x.shape[0]!;
    const sumLoss = summed(problem.lossFunction);
    const outputs = problem.model.forward(x).shape[1]!;
    const c = problem.lossFunction.reduction === 'sum' ? 1 : problem.lossFunction instanceof CrossEntropyLoss ? 1 / n : 1 / (n * outputs);
    let dense = zerosMatrix(0, 0);
    for (let i = 0; i < n; i++) {
      const g = flatValues(grad(sumLoss.forward(problem.model.forward(sampleOf(x, i)), sampleOf(y, i)), parameters.map((p) => p.data)) as Tensor[]);
      const outer = g.map((a) => g.map((b) => c * a * b));
      dense = i === 0 ? outer : addMatrices(dense, outer);
    }
    const operator = new EmpiricalFisherOperator(problem.model, problem.lossFunction, problem.data);
    expectMatrixClose(denseOf(operator), dense, EXACT);
    expectVectorProduct(operator, dense, 3);
  });

  it('MonteCarloFisherOperator equals Σ_b w_b J_bᵀ S Sᵀ J_b with the same draws, and is one fixed matrix', () => {
    const mcSamples = 3;
    const generator = new Generator(5);
    const samples = problem.data.reduce((s, [x]) => s + x.shape[0]!, 0);
    let dense = zerosMatrix(0, 0);
    problem.data.forEach(([x, y], b) => {
      const jacobian = jacobianByRows(() => problem.model.forward(x), parameters);
      const loss = problem.lossFunction.forward(problem.model.forward(x), y);
      const sqrt = toMatrix(problem.lossFunction.sqrtHessianSampled(loss.producer!, mcSamples, generator));
      // sqrt rows: one per (m, n), the outputs as columns. Each (m, n) adds J_nᵀ s s ᵀ J_n (samples do not mix).
      const perSample = x.shape[0]!;
      const outputs = sqrt[0]!.length;
      const weight = problem.lossFunction.reduction === 'mean' ? perSample / samples : 1;
      const batch = sqrt.reduce((acc, s, row) => {
        const n = row % perSample;
        const jacobianOfSample = jacobian.slice(n * outputs, (n + 1) * outputs);
        const u = matVec(transposeMatrix(jacobianOfSample), s);
        return addMatrices(acc, u.map((a) => u.map((c) => a * c)));
      }, zerosMatrix(jacobian[0]!.length, jacobian[0]!.length));
      dense = b === 0 ? scaleMatrix(batch, weight) : addMatrices(dense, batch, weight);
    });
    const operator = new MonteCarloFisherOperator(problem.model, problem.lossFunction, problem.data, { mcSamples, seed: 5 });
    expectMatrixClose(denseOf(operator), dense, EXACT);
    expectVectorProduct(operator, dense, 4);
  });

  it('JacobianOperator and TransposedJacobianOperator stack the model output over the batches', () => {
    const [x] = wholeBatch(problem);
    const dense = jacobianByRows(() => problem.model.forward(x), parameters);
    const jacobian = new JacobianOperator(problem.model, problem.data);
    expect(jacobian.shape).toEqual([dense.length, dense[0]!.length]);
    expectMatrixClose(denseOf(jacobian), dense, EXACT);
    expectVectorProduct(jacobian, dense, 5);
    const transposed = new TransposedJacobianOperator(problem.model, problem.data);
    expect(transposed.shape).toEqual([dense[0]!.length, dense.length]);
    expectMatrixClose(denseOf(transposed), transposeMatrix(dense), EXACT);
    expectVectorProduct(transposed, transposeMatrix(dense), 6);
    const block = jacobianByRows(() => problem.model.forward(x), chosen);
    expectMatrixClose(denseOf(new JacobianOperator(problem.model, problem.data, { parameters: chosen })), block, EXACT);
  });
});

describe.each(['mean', 'sum'] as const)("BCEWithLogitsLoss('%s') on batches of 2 and 1", (reduction) => {
  const generator = new Generator(41);
  const model = extend(new Sequential(new Linear(3, 3, { ...float64, generator }), new Tanh(), new Linear(3, 2, { ...float64, generator })));
  const lossFunction = extend(new BCEWithLogitsLoss(reduction));
  const data: [Tensor, Tensor][] = [2, 1].map((n) => [generator.normal([n, 3], float64), generator.uniform([n, 2], { ...float64, low: 0, high: 1 })]);
  const problem: Problem = { name: 'bce', model, lossFunction, data };
  const parameters = trainable(problem);
  const [x, y] = wholeBatch(problem);

  it('HessianOperator, GGNOperator and EmpiricalFisherOperator equal the dense matrices of the whole data set', () => {
    expectMatrixClose(denseOf(new HessianOperator(model, lossFunction, data)), hessianByRows(() => lossFunction.forward(model.forward(x), y), parameters), EXACT);
    const output = model.forward(x);
    const jacobian = jacobianByRows(() => model.forward(x), parameters);
    const ggn = matMul(transposeMatrix(jacobian), matMul(denseHessian(lossFunction.forward(output, y), output), jacobian));
    expectMatrixClose(denseOf(new GGNOperator(model, lossFunction, data)), ggn, EXACT);
    // c Σ_n ∇ℓ_n ∇ℓ_nᵀ, the mean over every element: c = 1 / (N · 2).
    const c = reduction === 'sum' ? 1 : 1 / (x.shape[0]! * 2);
    const sumLoss = new BCEWithLogitsLoss('sum');
    let fisher = zerosMatrix(0, 0);
    for (let i = 0; i < x.shape[0]!; i++) {
      const g = flatValues(grad(sumLoss.forward(model.forward(sampleOf(x, i)), sampleOf(y, i)), parameters.map((p) => p.data)) as Tensor[]);
      const outer = g.map((a) => g.map((b) => c * a * b));
      fisher = i === 0 ? outer : addMatrices(fisher, outer);
    }
    expectMatrixClose(denseOf(new EmpiricalFisherOperator(model, lossFunction, data)), fisher, EXACT);
  });
});

describe.each(problems().slice(0, 2))('$name: MonteCarloFisherOperator converges to the GGN', (problem) => {
  it('vᵀ F v averaged over independent seeds is within 4 standard errors of vᵀ G v, and a GGN off by 20% is not', () => {
    const ggn = new GGNOperator(problem.model, problem.lossFunction, problem.data);
    const probes = [7, 8, 9].map((seed) => new Generator(seed).normal([ggn.shape[1]], float64));
    const quadratic = (operator: LinearOperator, v: Tensor) => {
      const product = flatValues([operator.matmat(v)]);
      return flatValues([v]).reduce((s, x, i) => s + x * product[i]!, 0);
    };
    const seeds = 20;
    for (const v of probes) {
      const exact = quadratic(ggn, v);
      const draws = Array.from({ length: seeds }, (_, seed) => quadratic(new MonteCarloFisherOperator(problem.model, problem.lossFunction, problem.data, { mcSamples: 50, seed }), v));
      const mean = draws.reduce((a, b) => a + b, 0) / seeds;
      const standardError = Math.sqrt(draws.reduce((s, x) => s + (x - mean) ** 2, 0) / (seeds - 1) / seeds);
      expect(Math.abs(mean - exact)).toBeLessThanOrEqual(4 * standardError);
      expect(Math.abs(mean - 1.2 * exact)).toBeGreaterThan(4 * standardError);
    }
  });
});

/** Sample i of a batch, `[1, ...]`. */
function sampleOf(t: Tensor, i: number): Tensor {
  return slice(t, [i, ...t.shape.slice(1).map(() => 0)], [1, ...t.shape.slice(1)]);
}

describe('flat vectors and errors', () => {
  const problem = problems()[0]!;
  const parameters = trainable(problem);

  it('flattenTensors and unflattenVector are inverse, in parameter order', () => {
    const values = parameters.map((p) => p.data);
    const flat = flattenTensors(values);
    expect(flat.shape).toEqual([values.reduce((s, t) => s + t.size, 0)]);
    expect(Array.from(flat.toArray())).toEqual(flatValues(values));
    const back = unflattenVector(flat, parameters);
    back.forEach((t, i) => {
      expect(t.shape).toEqual(values[i]!.shape);
      expect(Array.from(t.toArray())).toEqual(Array.from(values[i]!.toArray()));
    });
    expect(() => unflattenVector(flat, parameters.slice(1))).toThrow(/unflattenVector: expected a vector of \d+ entries/);
  });

  it('unknown options, wrong shapes, a data set that runs once', () => {
    const { model, lossFunction, data } = problem;
    expect(() => new GGNOperator(model, lossFunction, data, { parameter: [] } as never)).toThrow(/GGNOperator: unknown option 'parameter'/);
    expect(() => new MonteCarloFisherOperator(model, lossFunction, data, { mcSamples: 0 })).toThrow(/mcSamples must be a positive integer, got 0/);
    const operator = new HessianOperator(model, lossFunction, data);
    expect(() => operator.matmat(eye(3, float64))).toThrow(/HessianOperator.matmat: expected a matrix \[\d+, K\] or a vector \[\d+\], got shape \[3, 3\]/);
    function* once() {
      yield* data;
    }
    const generated = once();
    expect(() => new GGNOperator(model, lossFunction, generated).matmat(eye(operator.shape[0], float64))).toThrow(/the data set gave 0 batches, but 3/);
    expect(() => new HessianOperator(model, new CrossEntropyLoss('none'), data)).toThrow(/HessianOperator cannot run/);
  });

  it('an empty data set, a model with nothing to act on, batches that change between passes', () => {
    const { model, lossFunction, data } = problem;
    expect(() => new GGNOperator(model, lossFunction, [])).toThrow('GGNOperator: the data set has no batches');
    for (const p of parameters) p.requiresGrad = false;
    try {
      expect(() => new JacobianOperator(model, data)).toThrow('JacobianOperator: no parameters to act on (the model has none that requires gradients)');
    } finally {
      for (const p of parameters) p.requiresGrad = true;
    }
    let passes = 0;
    const changing = { *[Symbol.iterator]() { yield* passes++ === 0 ? data : data.slice(1); } };
    const operator = new HessianOperator(model, lossFunction, changing);
    expect(() => operator.matmat(eye(operator.shape[1], float64))).toThrow(
      /^HessianOperator.matmat: batch 0 of the data set has 1 samples, but had 3 when the operator was built; the data set must give the same batches on every pass/,
    );
  });

  it("a vector of another dtype than the parameters': refused, naming the operator", () => {
    const { model, lossFunction, data } = problem;
    const size = new GGNOperator(model, lossFunction, data).shape[1];
    const wrong = eye(size, { ...float64, dtype: 'float32' });
    expect(() => new GGNOperator(model, lossFunction, data).matmat(wrong)).toThrow("GGNOperator.matmat: x is float32 on 'cpu', the parameters float64 on 'cpu'");
    expect(() => new JacobianOperator(model, data).matmat(wrong)).toThrow("JacobianOperator.matmat: x is float32 on 'cpu', the parameters float64 on 'cpu'");
    const rows = new TransposedJacobianOperator(model, data).shape[1];
    expect(() => new TransposedJacobianOperator(model, data).matmat(eye(rows, { ...float64, dtype: 'float32' }))).toThrow(
      "TransposedJacobianOperator.matmat: x is float32 on 'cpu', the parameters float64 on 'cpu'",
    );
  });

  it('parameters not of the model, frozen or listed twice; a model in training mode', () => {
    const { model, lossFunction, data } = problem;
    const other = problems()[1]!.model.parameters()[0]!;
    expect(() => new GGNOperator(model, lossFunction, data, { parameters: [parameters[0]!, other] })).toThrow(/GGNOperator: parameter 1 \(shape \[2, 1, 3, 3\]\) is not a parameter of the model/);
    expect(() => new JacobianOperator(model, data, { parameters: [parameters[1]!, parameters[1]!] })).toThrow(/JacobianOperator: parameter 1 is listed twice/);
    parameters[0]!.requiresGrad = false;
    try {
      expect(() => new HessianOperator(model, lossFunction, data, { parameters: [parameters[0]!] })).toThrow(/parameter 0 \(shape \[2, 1, 3, 3\]\) is frozen/);
    } finally {
      parameters[0]!.requiresGrad = true;
    }
    model.train();
    try {
      expect(() => new EmpiricalFisherOperator(model, lossFunction, data)).toThrow(/EmpiricalFisherOperator: BatchNorm2d '3' is in training mode.*call model.eval\(\)/);
    } finally {
      model.eval();
    }
  });
});
