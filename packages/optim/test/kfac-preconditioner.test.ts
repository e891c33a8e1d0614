/**
 * KFACPreconditioner: each step equals the damped dense solve written out
 * with explicit Kronecker products, `(G ⊗ A + λI)⁻¹ vec g` ('exact') and
 * `((G + π√λ I) ⊗ (A + √λ/π I))⁻¹ vec g` ('factored'), `(F + λI)⁻¹ g` for a
 * single factor: on set factors over several steps with momentum and weight
 * decay, and on the KFLR factors of a network with a grouped convolution,
 * BatchNorm, a transposed convolution (in ≠ out channels, so that its swapped
 * layout matters) and a Linear layer, and on an Embedding's. Refusals change
 * nothing.
 */
import {
  BatchNorm2d,
  Conv2d,
  ConvTranspose2d,
  CrossEntropyLoss,
  Embedding,
  Flatten,
  Generator,
  Linear,
  Sequential,
  Sigmoid,
  backpack,
  extend,
  tensor,
  type Parameter,
} from '@backpack-ts/core';
import { KFLR } from '@backpack-ts/kronecker';
import { describe, expect, it } from 'vitest';
import { KFACPreconditioner, type KFACPreconditionerOptions, type KroneckerDampingRule } from '../src/index.js';
import { F64, expectClose, setGrad, smallLayer, syntheticGradient, valuesOf } from './helpers/arrays.js';
import { blockDiagonal, kron, matrixOf, meanDiagonal, plusIdentity, solveDense, swapFirstAxes, type Matrix } from './helpers/dense.js';

interface Factor {
  readonly shape: readonly number[];
  readonly values: number[];
}

/** The documented damped inverse, written out densely: the direction for gradient `g` of a parameter of shape `shape`. */
function referenceDirection(shape: readonly number[], g: number[], factors: readonly Factor[], transposed: boolean, damping: number, rule: KroneckerDampingRule): number[] {
  if (factors.length === 1) return solveDense(plusIdentity(matrixOf(factors[0]!.values, g.length), damping), g);
  const [gFactor, aFactor] = factors as [Factor, Factor];
  const groups = gFactor.shape.length === 3 ? gFactor.shape[0]! : 1;
  const [o, a] = [gFactor.shape.at(-1)!, aFactor.shape.at(-1)!];
  const blocks = Array.from({ length: groups }, (_, k) => {
    const gk = matrixOf(gFactor.values.slice(k * o * o, (k + 1) * o * o), o);
    const ak = matrixOf(aFactor.values.slice(k * a * a, (k + 1) * a * a), a);
    if (rule === 'exact') return plusIdentity(kron(gk, ak), damping);
    const pi = Math.sqrt(meanDiagonal(gk) / meanDiagonal(ak));
    return kron(plusIdentity(gk, Math.sqrt(damping) * pi), plusIdentity(ak, Math.sqrt(damping) / pi));
  });
  const aligned = transposed ? swapFirstAxes(g, shape[0]!, shape[1]!) : g;
  const d = solveDense(blockDiagonal(blocks), aligned);
  return transposed ? swapFirstAxes(d, shape[1]!, shape[0]!) : d;
}

/** A symmetric positive definite `n x n` matrix that changes with `seed`: `B Bᵀ / n + 0.05 I` with B of cosines. */
function spd(n: number, seed: number): Matrix {
  const b = Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => Math.cos(seed + 1.7 * i + 0.9 * j * j)));
  return b.map((row, i) => b.map((other, j) => row.reduce((s, x, k) => s + x * other[k]!, 0) / n + (i === j ? 0.05 : 0)));
}

const flat = (m: Matrix) => m.flat();

describe('KFACPreconditioner', () => {
  const rules: KroneckerDampingRule[] = ['factored', 'exact'];
  for (const dampingRule of rules) {
    it(`'${dampingRule}': follows the dense damped solve over 5 steps with momentum and weight decay`, () => {
      const layer = smallLayer(6);
      const [weight, bias] = [layer.parameter('weight'), layer.parameter('bias')];
      const options: KFACPreconditionerOptions = { curvature: 'kflr', lr: 0.3, damping: 0.02, dampingRule, momentum: 0.7, weightDecay: 0.05 };
      const optimizer = new KFACPreconditioner(layer, options);
      let expected = [weight, bias].map((p) => ({ theta: valuesOf(p), buffer: undefined as number[] | undefined }));
      for (let step = 0; step < 5; step++) {
        const factors = [[spd(2, step), spd(3, 10 + step)], [spd(2, 20 + step)]];
        [weight, bias].forEach((p, i) => {
          setGrad(p, syntheticGradient(valuesOf(p)));
          p.kflr = factors[i]!.map((m) => tensor(flat(m), [m.length, m.length], F64));
        });
        expected = expected.map((e, i) => {
          const shape = [weight, bias][i]!.data.shape;
          const g = syntheticGradient(e.theta).map((gi, k) => gi + options.weightDecay! * e.theta[k]!);
          const asFactors = factors[i]!.map((m) => ({ shape: [m.length, m.length], values: flat(m) }));
          const d = referenceDirection(shape, g, asFactors, false, options.damping, dampingRule);
          const buffer = e.buffer === undefined ? d : e.buffer.map((b, k) => options.momentum! * b + d[k]!);
          return { theta: e.theta.map((t, k) => t - options.lr * buffer[k]!), buffer };
        });
        optimizer.step();
        [weight, bias].forEach((p, i) => expectClose(valuesOf(p), expected[i]!.theta, 1e-12));
      }
    });

    it(`'${dampingRule}': steps with the KFLR factors of grouped Conv2d, BatchNorm2d, ConvTranspose2d (4 → 3 channels) and Linear`, () => {
      const generator = new Generator(11);
      const options = { ...F64, generator };
      const model = extend(
        new Sequential(
          new Conv2d(2, 4, 3, { ...options, padding: 1, groups: 2 }),
          new BatchNorm2d(4, F64).eval(),
          new Sigmoid(),
          new ConvTranspose2d(4, 3, 2, options),
          new Sigmoid(),
          new Flatten(),
          new Linear(3 * 5 * 5, 3, options),
        ),
      );
      const lossFunction = extend(new CrossEntropyLoss());
      const x = generator.normal([5, 2, 4, 4], F64);
      const y = tensor([0, 1, 2, 1, 0], [5], { ...F64, dtype: 'int32' });
      backpack([new KFLR()], () => lossFunction.forward(model.forward(x), y).backward());

      const transposedKernel = model.namedParameters().find(([name]) => name === '3.weight')![1];
      const before = model.namedParameters().map(([name, p]) => ({
        name,
        parameter: p,
        shape: p.data.shape,
        theta: valuesOf(p),
        g: Array.from(p.grad!.toArray()),
        factors: p.kflr!.map((f): Factor => ({ shape: f.shape, values: Array.from(f.toArray()) })),
      }));
      expect(before.map(({ name, factors }) => [name, factors.map((f) => f.shape)])).toEqual([
        ['0.weight', [[2, 2, 2], [2, 9, 9]]],
        ['0.bias', [[4, 4]]],
        ['1.weight', [[4, 4]]],
        ['1.bias', [[4, 4]]],
        ['3.weight', [[3, 3], [16, 16]]],
        ['3.bias', [[3, 3]]],
        ['6.weight', [[3, 3], [75, 75]]],
        ['6.bias', [[3, 3]]],
      ]);
      const damping = 0.01;
      new KFACPreconditioner(model, { curvature: 'kflr', lr: 0.5, damping, dampingRule }).step();
      for (const { name, parameter, shape, theta, g, factors } of before) {
        const d = referenceDirection(shape, g, factors, parameter === transposedKernel, damping, dampingRule);
        expectClose(valuesOf(parameter), theta.map((t, k) => t - 0.5 * d[k]!), 1e-11);
      }
    });

    it(`'${dampingRule}': steps with the KFLR factors of an Embedding table, the first factor for its rows`, () => {
      const generator = new Generator(12);
      const model = extend(new Sequential(new Embedding(5, 3, { ...F64, generator }), new Flatten(), new Linear(6, 3, { ...F64, generator })));
      const indices = tensor([0, 1, 3, 3, 4, 1, 2, 0], [4, 2], { ...F64, dtype: 'int32' });
      const y = tensor([0, 1, 2, 1], [4], { ...F64, dtype: 'int32' });
      backpack([new KFLR()], () => extend(new CrossEntropyLoss()).forward(model.forward(indices), y).backward());
      const table = model.parameters()[0]!;
      const factors = table.kflr!.map((f): Factor => ({ shape: f.shape, values: Array.from(f.toArray()) }));
      // Index frequencies [num, num] first, then the output factor [dim, dim].
      expect(factors.map((f) => f.shape)).toEqual([[5, 5], [3, 3]]);
      const [theta, g] = [valuesOf(table), Array.from(table.grad!.toArray())];
      const damping = 0.02;
      new KFACPreconditioner(model, { curvature: 'kflr', lr: 0.5, damping, dampingRule }).step();
      const d = referenceDirection([5, 3], g, factors, false, damping, dampingRule);
      expectClose(valuesOf(table), theta.map((t, k) => t - 0.5 * d[k]!), 1e-11);
    });
  }

  describe('refuses before changing any parameter', () => {
    function expectRefused(prepare: (weight: Parameter, bias: Parameter) => void, message: RegExp, options: Partial<KFACPreconditionerOptions> = {}) {
      const model = new Sequential(smallLayer(8));
      const [weight, bias] = model.parameters() as [Parameter, Parameter];
      for (const p of [weight, bias]) setGrad(p, syntheticGradient(valuesOf(p)));
      weight.kfac = [tensor(flat(spd(2, 1)), [2, 2], F64), tensor(flat(spd(3, 2)), [3, 3], F64)];
      prepare(weight, bias);
      const before = model.namedParameters().map(([name, p]) => [name, valuesOf(p), p.version]);
      const optimizer = new KFACPreconditioner(model, { curvature: 'kfac', lr: 0.1, damping: 0.1, ...options });
      expect(() => optimizer.step()).toThrow(message);
      expect(model.namedParameters().map(([name, p]) => [name, valuesOf(p), p.version])).toEqual(before);
    }

    it('when a parameter has no factors, naming the extension to run', () => {
      expectRefused(() => {}, /^KFACPreconditioner: parameter '0\.bias' has no kfac factors; run backward with extensions: \[new KFAC\(\)\]$/);
    });

    it('when the factors do not fit the parameter', () => {
      expectRefused(
        (_, bias) => (bias.kfac = [tensor(flat(spd(3, 1)), [3, 3], F64)]),
        /^KFACPreconditioner: the kfac factor of parameter '0\.bias' has shape \[3, 3\], expected \[2, 2\]$/,
      );
      expectRefused(
        (weight, bias) => {
          bias.kfac = [tensor(flat(spd(2, 1)), [2, 2], F64)];
          weight.kfac = [weight.kfac![1]!, weight.kfac![0]!];
        },
        /KFACPreconditioner: the kfac factor G of parameter '0\.weight' has shape \[3, 3\], expected \[2, 2\]/,
      );
      expectRefused(
        (_, bias) => (bias.kfac = []),
        /KFACPreconditioner: parameter '0\.bias' of shape \[2\] has 0 kfac factors; expected one \[p, p\] factor, or two \(G, A\)/,
      );
    });

    it('when a damped factor is not positive definite, naming the parameter', () => {
      expectRefused(
        (_, bias) => (bias.kfac = [tensor([-1, 0, 0, 1], [2, 2], F64)]),
        /^KFACPreconditioner: parameter '0\.bias': linalg\.cholesky: /,
      );
    });
  });

  it('refuses options it does not know and damping that is not positive', () => {
    const model = new Sequential(smallLayer());
    expect(() => new KFACPreconditioner(model, { curvature: 'kfac', lr: 0.1, damping: 0 })).toThrow(/^KFACPreconditioner: damping must be a finite number > 0, got 0$/);
    expect(() => new KFACPreconditioner(model, { curvature: 'kfac', lr: 0.1, damping: 1, dampingRule: 'pi' } as never)).toThrow(
      /KFACPreconditioner: dampingRule must be one of 'factored', 'exact', got 'pi'/,
    );
    expect(() => new KFACPreconditioner(model, { curvature: 'kfac', lr: 0.1, damping: 1, inverseEvery: 10 } as never)).toThrow(
      /KFACPreconditioner: unknown option 'inverseEvery'/,
    );
    expect(() => new KFACPreconditioner(model, { curvature: 'ekfac', lr: 0.1, damping: 1 } as never)).toThrow(/curvature must be one of 'kfac', 'kflr', 'kfra', got 'ekfac'/);
  });
});
