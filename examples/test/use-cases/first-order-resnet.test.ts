import { crossEntropy } from '@backpack-ts/core';
import { describe, expect, it } from 'vitest';
import { main } from '../../use-cases/first-order-resnet.js';
import { expectClose, numbers, oneAtATimeGradients } from './brute-force.js';

describe('use case: first-order-resnet', () => {
  it('gives every per-sample gradient of the hand-written ResNet, equal to one sample at a time', () => {
    const n = 3;
    const lines: string[] = [];
    const { model, images, labels, gradBatch } = main(['--backend', 'cpu', '--batch-size', String(n)], (l) => lines.push(l));
    const names = model.namedParameters().map(([name]) => name);
    expect(names).toEqual(['conv1.weight', 'conv1.bias', 'conv2.weight', 'conv2.bias', 'linear1.weight', 'linear1.bias', 'shortcut.weight', 'shortcut.bias']);

    const perSample = oneAtATimeGradients(model, (o, t) => crossEntropy(o, t, { reduction: 'sum' }), images, labels);
    model.parameters().forEach((p, i) => {
      expect(gradBatch[i]!.shape).toEqual([n, ...p.data.shape]);
      expectClose(numbers(gradBatch[i]!), perSample[i]!.flat(), 1e-10, names[i]);
    });
    expect(lines.slice(-8).every((line) => line.endsWith(': true'))).toBe(true);
  });
});
