/**
 * SGD against a plain reimplementation of torch.optim.SGD's documented rule
 * on number arrays, over several steps of a nonlinear gradient field, and
 * against trajectories worked out by hand on f(θ) = θ² (gradient 2θ).
 */
import { tensor } from '@backpack-ts/core';
import { describe, it } from 'vitest';
import { SGD, type SGDOptions } from '../src/index.js';
import { F64, expectClose, setGrad, smallLayer, syntheticGradient, valuesOf } from './helpers/arrays.js';

/** torch.optim.SGD's rule, written out on arrays: one step from θ with gradient `grad` and buffer `buffer` (undefined before the first step). */
function referenceSGD(theta: number[], grad: number[], buffer: number[] | undefined, o: Required<SGDOptions>) {
  const g = grad.map((gi, i) => (o.maximize ? -gi : gi) + o.weightDecay * theta[i]!);
  if (o.momentum === 0) return { theta: theta.map((t, i) => t - o.lr * g[i]!), buffer };
  const b = buffer === undefined ? [...g] : buffer.map((bi, i) => o.momentum * bi + (1 - o.dampening) * g[i]!);
  const d = o.nesterov ? g.map((gi, i) => gi + o.momentum * b[i]!) : b;
  return { theta: theta.map((t, i) => t - o.lr * d[i]!), buffer: b };
}

const DEFAULTS: Required<SGDOptions> = { lr: 1e-3, momentum: 0, dampening: 0, weightDecay: 0, nesterov: false, maximize: false };

const CASES: SGDOptions[] = [
  { lr: 0.1 },
  { lr: 0.1, momentum: 0.9 },
  { lr: 0.05, momentum: 0.8, dampening: 0.3, weightDecay: 0.01 },
  { lr: 0.05, momentum: 0.9, nesterov: true, weightDecay: 0.1 },
  { lr: 0.2, momentum: 0.5, maximize: true },
  { lr: 0.2, weightDecay: 0.3, maximize: true },
];

describe('SGD', () => {
  for (const options of CASES) {
    it(`follows torch.optim.SGD's rule over 6 steps: ${JSON.stringify(options)}`, () => {
      const layer = smallLayer();
      const parameters = layer.parameters();
      const optimizer = new SGD(layer.namedParameters(), options);
      let expected = parameters.map((p) => ({ theta: valuesOf(p), buffer: undefined as number[] | undefined }));
      for (let step = 0; step < 6; step++) {
        parameters.forEach((p) => setGrad(p, syntheticGradient(valuesOf(p))));
        expected = expected.map((e) => referenceSGD(e.theta, syntheticGradient(e.theta), e.buffer, { ...DEFAULTS, ...options }));
        optimizer.step();
        parameters.forEach((p, i) => expectClose(valuesOf(p), expected[i]!.theta, 1e-12));
      }
    });
  }

  it('matches the trajectories worked out by hand on f(θ) = θ², θ₀ = 1, lr 0.1', () => {
    const trajectory = (options: SGDOptions): number[] => {
      const bias = smallLayer().parameter('bias');
      bias.data = tensor([1, 0], [2], F64);
      const optimizer = new SGD([bias], { lr: 0.1, ...options });
      const thetas: number[] = [];
      for (let step = 0; step < 2; step++) {
        setGrad(bias, valuesOf(bias).map((t) => 2 * t));
        optimizer.step();
        thetas.push(valuesOf(bias)[0]!);
      }
      return thetas;
    };
    // Plain: θ₁ = 1 − 0.1·2 = 0.8, θ₂ = 0.8 − 0.1·1.6 = 0.64.
    expectClose(trajectory({}), [0.8, 0.64], 1e-15);
    // Momentum 0.9: b₁ = 2, θ₁ = 0.8; b₂ = 0.9·2 + 1.6 = 3.4, θ₂ = 0.8 − 0.34 = 0.46.
    expectClose(trajectory({ momentum: 0.9 }), [0.8, 0.46], 1e-15);
    // Nesterov: b₁ = 2, d₁ = 2 + 0.9·2 = 3.8, θ₁ = 0.62; g₂ = 1.24, b₂ = 1.8 + 1.24 = 3.04,
    // d₂ = 1.24 + 0.9·3.04 = 3.976, θ₂ = 0.62 − 0.3976 = 0.2224.
    expectClose(trajectory({ momentum: 0.9, nesterov: true }), [0.62, 0.2224], 1e-15);
    // Dampening 0.5: b₂ = 0.9·2 + 0.5·1.6 = 2.6, θ₂ = 0.8 − 0.26 = 0.54 (the first buffer is undampened, as in PyTorch).
    expectClose(trajectory({ momentum: 0.9, dampening: 0.5 }), [0.8, 0.54], 1e-15);
  });
});
