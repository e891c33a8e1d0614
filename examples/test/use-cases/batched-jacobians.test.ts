import { noGrad, tensor } from '@backpack-ts/core';
import { describe, expect, it } from 'vitest';
import { OUTPUTS, main } from '../../use-cases/batched-jacobians.js';
import { expectClose, numbers } from './brute-force.js';

describe('use case: batched-jacobians', () => {
  it('gives the Jacobian [N, C, ...param] three ways, each equal to central finite differences', () => {
    const n = 3;
    const { model, images, autograd, batchGrad, sqrtGgn } = main(['--backend', 'cpu', '--batch-size', String(n)], () => undefined);
    const forward = () => noGrad(() => numbers(model.forward(images)));
    // The output is piecewise linear in every parameter (Linear, ReLU, Linear): central
    // differences are exact but for rounding, unless a ReLU input crosses zero within ±h.
    const h = 1e-6;
    model.parameters().forEach((parameter, k) => {
      const original = numbers(parameter.data);
      // Every entry of the small layers, every 13th of the first weight.
      const checked = original.map((_, e) => e).filter((e) => original.length < 100 || e % 13 === 0);
      const expected: number[][] = checked.map((e) => {
        const at = (delta: number) => {
          parameter.data = tensor(original.map((v, i) => (i === e ? v + delta : v)), parameter.data.shape, { backend: parameter.data.backend });
          return forward();
        };
        const [plus, minus] = [at(h), at(-h)];
        return plus.map((v, i) => (v - minus[i]!) / (2 * h));
      });
      parameter.data = tensor(original, parameter.data.shape, { backend: parameter.data.backend });
      // Entry [s, c, e] of the Jacobian is d fs[s, c] / d θ_e.
      const pick = (jacobian: number[]) => checked.flatMap((e) => Array.from({ length: n * OUTPUTS }, (_, sc) => jacobian[sc * original.length + e]!));
      const differences = checked.flatMap((_, i) => expected[i]!);
      for (const [what, jacobians] of [['autograd', autograd], ['BatchGrad', batchGrad], ['SqrtGGNExact', sqrtGgn]] as const) {
        expect(jacobians[k]!.shape).toEqual([n, OUTPUTS, ...parameter.data.shape]);
        expectClose(pick(numbers(jacobians[k]!)), differences, 1e-8, `${what}, parameter ${k}`);
      }
    });
  });
});
