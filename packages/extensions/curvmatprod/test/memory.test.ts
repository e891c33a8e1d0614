/**
 * Repeated products allocate nothing that outlives them: every operator's
 * matmat, the inverse of KFAC, the stored HMP/GGNMP/PCHMP products and the
 * algorithms that loop over products keep the count of live backend handles
 * flat once the result is disposed; KFACOperator and its inverse, disposed,
 * leave it where it was before they were built.
 */
import { describe, expect, it } from 'vitest';
import { CrossEntropyLoss, Generator, Linear, Sequential, Tanh, backpack, extend, tensor, type Backend, type Tensor } from '@backpack-ts/core';
import {
  EmpiricalFisherOperator,
  GGNMP,
  GGNOperator,
  HMP,
  HessianOperator,
  JacobianOperator,
  KFACOperator,
  MonteCarloFisherOperator,
  PCHMP,
  TransposedJacobianOperator,
  blockProductOperator,
  conjugateGradient,
  hutchPlusPlusTrace,
  hutchinsonDiagonal,
  hutchinsonTrace,
  lanczosEigenvalues,
  stochasticLanczosQuadrature,
  type LinearOperator,
} from '../src/index.js';
import { countingCpu } from '@backpack-ts/conformance';

function setup() {
  const { backend, live } = countingCpu();
  const on = (seed: number) => ({ backend, dtype: 'float64' as const, generator: new Generator(seed) });
  const model = extend(new Sequential(new Linear(3, 4, on(1)), new Tanh(), new Linear(4, 2, on(2))));
  const lossFunction = extend(new CrossEntropyLoss());
  const generator = new Generator(3);
  const labels = (n: number) => tensor(Array.from({ length: n }, (_, i) => i % 2), [n], { backend, dtype: 'int32' });
  const data: [Tensor, Tensor][] = [3, 1].map((n) => [generator.normal([n, 3], { backend, dtype: 'float64' }), labels(n)]);
  return { backend, live, model, lossFunction, data };
}

/** Runs `product` (which returns tensors to dispose) once to warm up, then `repeats` times, expecting the live count unchanged. */
function expectFlat(live: () => number, product: () => Tensor[], what: string, repeats = 3): void {
  product().forEach((t) => t.dispose());
  const before = live();
  for (let i = 0; i < repeats; i++) product().forEach((t) => t.dispose());
  expect(live(), `${what}: live handles after ${repeats} more products`).toBe(before);
}

function columns(backend: Backend, n: number, k: number): Tensor {
  return new Generator(7).normal([n, k], { backend, dtype: 'float64' });
}

describe('repeated products keep backend allocation flat', () => {
  it('the count sees a product whose result is not disposed', () => {
    const { backend, live, model, lossFunction, data } = setup();
    const ggn = new GGNOperator(model, lossFunction, data);
    const x = columns(backend, ggn.shape[1], 2);
    expect(() => expectFlat(live, () => (ggn.matmat(x), []), 'leaky')).toThrow(/leaky: live handles after 3 more products/);
  });

  it('every operator, and the inverse of KFAC', () => {
    const { backend, live, model, lossFunction, data } = setup();
    const operators: [string, LinearOperator][] = [
      ['HessianOperator', new HessianOperator(model, lossFunction, data)],
      ['GGNOperator', new GGNOperator(model, lossFunction, data)],
      ['EmpiricalFisherOperator', new EmpiricalFisherOperator(model, lossFunction, data)],
      ['MonteCarloFisherOperator', new MonteCarloFisherOperator(model, lossFunction, data)],
      ['JacobianOperator', new JacobianOperator(model, data)],
      ['TransposedJacobianOperator', new TransposedJacobianOperator(model, data)],
    ];
    const kfac = new KFACOperator(model, lossFunction, data, { damping: 0.1 });
    operators.push(['KFACOperator', kfac], ['KFACOperator inverse', kfac.inverse()]);
    for (const [name, operator] of operators) {
      const x = columns(backend, operator.shape[1], 2);
      expectFlat(live, () => [operator.matmat(x)], `${name}.matmat`);
      x.dispose();
    }
  });

  it("building KFACOperator leaves only its factors alive (the passes' quantities and gradients released)", () => {
    const { live, model, lossFunction, data } = setup();
    for (const options of [{}, { fisherType: 'exact' as const, damping: 0.1 }]) {
      const before = live();
      const operator = new KFACOperator(model, lossFunction, data, options);
      expect(live() - before, JSON.stringify(options)).toBe(operator.factors.flat().length);
      expect(model.parameters().every((p) => p.grad === undefined && p.kfac === undefined && p.kflr === undefined)).toBe(true);
    }
  });

  it('KFACOperator and its inverse, built and disposed, leave the count where it was', () => {
    const { backend, live, model, lossFunction, data } = setup();
    for (const options of [{}, { fisherType: 'exact' as const, damping: 0.1 }]) {
      const before = live();
      const operator = new KFACOperator(model, lossFunction, data, options);
      const inverse = operator.inverse();
      const x = columns(backend, operator.shape[1], 2);
      [operator.matmat(x), inverse.matmat(x), x].forEach((t) => t.dispose());
      expect(live() - before, `${JSON.stringify(options)}: alive before dispose()`).toBe(2 * operator.factors.flat().length);
      operator.dispose();
      inverse.dispose();
      expect(live(), JSON.stringify(options)).toBe(before);
    }
  });

  it('the algorithms looping over an operator', () => {
    const { backend, live, model, lossFunction, data } = setup();
    const ggn = new GGNOperator(model, lossFunction, data);
    const b = columns(backend, ggn.shape[1], 1);
    expectFlat(live, () => [conjugateGradient(ggn, b, { damping: 0.1 }).solution], 'conjugateGradient');
    expectFlat(live, () => (hutchinsonTrace(ggn, { matvecs: 4, seed: 0 }), []), 'hutchinsonTrace');
    expectFlat(live, () => [lanczosEigenvalues(ggn, { k: 2, seed: 0, returnEigenvectors: true }).eigenvectors!], 'lanczosEigenvalues');
    expectFlat(live, () => (hutchPlusPlusTrace(ggn, { matvecs: 6, seed: 0 }), []), 'hutchPlusPlusTrace');
    expectFlat(live, () => {
      const { estimate, standardError } = hutchinsonDiagonal(ggn, { matvecs: 4, seed: 0 });
      return [estimate, standardError];
    }, 'hutchinsonDiagonal');
    expectFlat(live, () => (stochasticLanczosQuadrature(ggn, { probes: 2, steps: 4, seed: 0 }), []), 'stochasticLanczosQuadrature');
  });

  it("the stored HMP, GGNMP and PCHMP products, and a block's operator", () => {
    const { backend, live, model, lossFunction, data } = setup();
    const [input, target] = data[0]!;
    const loss = lossFunction.forward(model.forward(input), target);
    backpack([new HMP(), new GGNMP(), new PCHMP()], () => loss.backward());
    for (const p of model.parameters()) {
      const mat = new Generator(8).normal([2, ...p.data.shape], { backend, dtype: 'float64' });
      expectFlat(live, () => [p.hmp!(mat)], 'hmp');
      expectFlat(live, () => [p.ggnmp!(mat)], 'ggnmp');
      expectFlat(live, () => [p.pchmp!(mat)], 'pchmp');
      const block = blockProductOperator(p.hmp!, p.data);
      const x = columns(backend, block.shape[1], 2);
      expectFlat(live, () => [block.matmat(x)], 'BlockProductOperator.matmat');
      [mat, x].forEach((t) => t.dispose());
    }
  });
});
