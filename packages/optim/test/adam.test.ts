/**
 * Adam against a plain reimplementation of torch.optim.Adam's documented rule
 * on number arrays, over several steps of a nonlinear gradient field, and its
 * bias correction checked by hand: with eps = 0 every step under a constant
 * gradient moves each entry by exactly lr·sign(g).
 */
import { describe, it } from 'vitest';
import { Adam, type AdamOptions } from '../src/index.js';
import { expectClose, setGrad, smallLayer, syntheticGradient, valuesOf } from './helpers/arrays.js';

interface Moments {
  theta: number[];
  m: number[];
  v: number[];
  vMax: number[];
  step: number;
}

/** torch.optim.Adam's rule, written out on arrays: one step. */
function referenceAdam(s: Moments, grad: number[], o: Required<AdamOptions>): Moments {
  const [b1, b2] = o.betas;
  const step = s.step + 1;
  const g = grad.map((gi, i) => (o.maximize ? -gi : gi) + o.weightDecay * s.theta[i]!);
  const m = s.m.map((mi, i) => b1 * mi + (1 - b1) * g[i]!);
  const v = s.v.map((vi, i) => b2 * vi + (1 - b2) * g[i]! * g[i]!);
  const vMax = s.vMax.map((vi, i) => Math.max(vi, v[i]!));
  const denominatorOf = o.amsgrad ? vMax : v;
  const theta = s.theta.map(
    (t, i) => t - (o.lr / (1 - b1 ** step)) * (m[i]! / (Math.sqrt(denominatorOf[i]!) / Math.sqrt(1 - b2 ** step) + o.eps)),
  );
  return { theta, m, v, vMax, step };
}

const DEFAULTS: Required<AdamOptions> = { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, amsgrad: false, maximize: false };

const CASES: AdamOptions[] = [
  {},
  { lr: 0.1, betas: [0.8, 0.9] },
  { lr: 0.05, weightDecay: 0.1, eps: 1e-3 },
  { lr: 0.3, amsgrad: true, betas: [0.5, 0.6] },
  { lr: 0.1, maximize: true, amsgrad: true, weightDecay: 0.02 },
];

describe('Adam', () => {
  for (const options of CASES) {
    it(`follows torch.optim.Adam's rule over 8 steps: ${JSON.stringify(options)}`, () => {
      const layer = smallLayer(1);
      const parameters = layer.parameters();
      const optimizer = new Adam(layer, options);
      let expected = parameters.map((p): Moments => {
        const zeros = valuesOf(p).map(() => 0);
        return { theta: valuesOf(p), m: zeros, v: zeros, vMax: zeros, step: 0 };
      });
      for (let step = 0; step < 8; step++) {
        parameters.forEach((p) => setGrad(p, syntheticGradient(valuesOf(p))));
        expected = expected.map((e) => referenceAdam(e, syntheticGradient(e.theta), { ...DEFAULTS, ...options }));
        optimizer.step();
        parameters.forEach((p, i) => expectClose(valuesOf(p), expected[i]!.theta, 1e-12));
      }
    });
  }

  it("divides by the running maximum of v with amsgrad, worked out by hand where v falls", () => {
    // lr 1, β = (0, 0.5), eps 0, gradients 2 then 1. Step 1: m = 2, v = 2, √(v / (1 − 0.5)) = 2, θ moves by 1.
    // Step 2: m = 1, v = 0.5·2 + 0.5·1 = 1.5 < 2. AMSGrad divides by √(2 / 0.75) and moves by √0.375;
    // without it, by √(1.5 / 0.75) = √2 and moves by √0.5.
    for (const [amsgrad, secondMove] of [[true, Math.sqrt(0.375)], [false, Math.sqrt(0.5)]] as const) {
      const bias = smallLayer(3).parameter('bias');
      const start = valuesOf(bias);
      const optimizer = new Adam([bias], { lr: 1, betas: [0, 0.5], eps: 0, amsgrad });
      setGrad(bias, [2, 2]);
      optimizer.step();
      expectClose(valuesOf(bias), start.map((t) => t - 1), 1e-15);
      setGrad(bias, [1, 1]);
      optimizer.step();
      expectClose(valuesOf(bias), start.map((t) => t - 1 - secondMove), 1e-15);
    }
  });

  it('moves by exactly lr·sign(g) per step under a constant gradient when eps = 0 (bias correction)', () => {
    const weight = smallLayer(2).parameter('weight');
    const start = valuesOf(weight);
    const g = [3, -0.5, 1e-3, -7, 0.25, 2];
    const optimizer = new Adam([weight], { lr: 0.01, eps: 0 });
    for (let step = 1; step <= 3; step++) {
      setGrad(weight, g);
      optimizer.step();
      expectClose(valuesOf(weight), start.map((t, i) => t - step * 0.01 * Math.sign(g[i]!)), 1e-14);
    }
  });
});
