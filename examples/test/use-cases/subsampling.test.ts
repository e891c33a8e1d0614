import { CrossEntropyLoss } from '@backpack-ts/core';
import { describe, expect, it } from 'vitest';
import { main } from '../../use-cases/subsampling.js';
import { expectClose, numbers, oneAtATimeGradients } from './brute-force.js';

describe('use case: subsampling', () => {
  it("gives the selected samples' gradients, equal to one sample at a time and to the naive rows", () => {
    const batchSize = 48;
    const lines: string[] = [];
    const { model, images, labels, subsampling, naive, efficient } = main(['--backend', 'cpu', '--batch-size', String(batchSize)], (l) => lines.push(l));
    expect(subsampling).toEqual([0, 1, 13, 42]);
    expect(lines[1]).toBe('selected samples: 0, 1, 13, 42');

    const lossFunction = new CrossEntropyLoss();
    const perSample = oneAtATimeGradients(model, (o, t) => lossFunction.forward(o, t), images, labels);
    model.parameters().forEach((p, i) => {
      expect(efficient[i]!.shape).toEqual([4, ...p.data.shape]);
      // A mean loss: each row carries the batch's 1/N.
      const expected = subsampling.flatMap((n) => perSample[i]![n]!.map((g) => g / batchSize));
      expectClose(numbers(efficient[i]!), expected, 1e-10, `parameter ${i}`);
      expectClose(numbers(naive[i]!), expected, 1e-10, `parameter ${i}, naive`);
    });
  });
});
