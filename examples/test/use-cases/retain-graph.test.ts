import { DiagGGNExact } from '@backpack-ts/diag-ggn';
import { MSELoss, Slicing, backpack, extend, flatten, noGrad, slice, tensor } from '@backpack-ts/core';
import { describe, expect, it } from 'vitest';
import { CHUNKS, diagGgnMultiplePasses, main } from '../../use-cases/retain-graph.js';
import { expectClose, numbers } from './brute-force.js';

describe('use case: retain-graph', () => {
  it('gives per chunk what an independent pass gives, and averaged the one-pass GGN diagonal, equal to finite differences', () => {
    const n = 1;
    const lines: string[] = [];
    const { model, images, onePass, chunked } = main(['--backend', 'cpu', '--batch-size', String(n), '--hidden', '2', '--max-chunks', '4'], (l) => lines.push(l));
    expect(CHUNKS).toEqual([1, 4, 16, 49]);
    expect([...chunked.keys()]).toEqual([1, 4]);
    for (const diagonals of chunked.values()) diagonals.forEach((d, i) => expectClose(numbers(d), numbers(onePass[i]!), 1e-12, `chunked, parameter ${i}`));

    // Each pass through the retained graph equals a pass of its own (a fresh forward pass, no retainGraph).
    const perChunk: number[][][] = [];
    diagGgnMultiplePasses(model, images, 4, (_, diagonals) => perChunk.push(diagonals.map(numbers)));
    for (let chunk = 0; chunk < 4; chunk++) {
      const error = extend(new MSELoss()).forward(
        extend(new Slicing([{}, { start: chunk * 196, stop: (chunk + 1) * 196 }])).forward(model.forward(images)),
        slice(flatten(images, 1), [0, chunk * 196], [n, 196]),
      );
      backpack([new DiagGGNExact()], () => error.backward());
      model.parameters().forEach((p, i) => expectClose(perChunk[chunk]![i]!, numbers(p.diagGgnExact!), 1e-12, `chunk ${chunk}, parameter ${i}`));
    }

    // The mean squared error's Hessian is 2/(N·M) I: GGN_pp = 2/(N·M) Σ (∂f/∂θ_p)², the derivatives by central differences.
    const h = 1e-5;
    model.parameters().forEach((parameter, i) => {
      const original = numbers(parameter.data);
      const output = (e: number, delta: number): number[] => {
        parameter.data = tensor(original.map((v, k) => (k === e ? v + delta : v)), parameter.data.shape, { backend: parameter.data.backend });
        return noGrad(() => numbers(model.forward(images)));
      };
      const expected = original.map((_, e) => {
        const [plus, minus] = [output(e, h), output(e, -h)];
        return (2 / (n * 784)) * plus.reduce((a, v, k) => a + ((v - minus[k]!) / (2 * h)) ** 2, 0);
      });
      parameter.data = tensor(original, parameter.data.shape, { backend: parameter.data.backend });
      expectClose(numbers(onePass[i]!), expected, 1e-8, `one pass against finite differences, parameter ${i}`);
    });
  });
});
