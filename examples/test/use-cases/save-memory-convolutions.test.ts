import { describe, expect, it } from 'vitest';
import { main } from '../../use-cases/save-memory-convolutions.js';
import { expectClose, numbers, oneAtATimeGradients } from './brute-force.js';

describe('use case: save-memory-convolutions', () => {
  it('gives the same per-sample gradients in both memory modes, equal to one sample at a time', () => {
    const n = 3;
    const lines: string[] = [];
    const { model, lossFunction, images, labels, saveMemory, normal } = main(['--backend', 'cpu', '--batch-size', String(n)], (l) => lines.push(l));
    const perSample = oneAtATimeGradients(model, (o, t) => lossFunction.forward(o, t), images, labels);
    model.parameters().forEach((p, i) => {
      const expected = perSample[i]!.flat().map((g) => g / n);
      expect(saveMemory[i]!.shape).toEqual([n, ...p.data.shape]);
      expectClose(numbers(saveMemory[i]!), expected, 1e-10, `save memory, parameter ${i}`);
      expectClose(numbers(normal[i]!), expected, 1e-10, `normal, parameter ${i}`);
    });
    expect(lines.filter((l) => l.endsWith('| true'))).toHaveLength(10);
  });
});
