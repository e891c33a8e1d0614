import { softmax } from '@backpack-ts/core';
import { describe, expect, it } from 'vitest';
import { main } from '../../use-cases/resnet-all-in-one.js';
import { crossEntropyGgnDiagonal, expectClose, jacobianRows, numbers, oneAtATimeGradients, trainable } from './brute-force.js';

describe('use case: resnet-all-in-one', () => {
  it('gives per-sample gradients (one sample at a time) and the exact GGN diagonal (Jacobian rows and the loss Hessian) of the Parallel ResNet', () => {
    const n = 2;
    const lines: string[] = [];
    const { model, lossFunction, images, labels, diagonalCheck } = main(['--backend', 'cpu', '--batch-size', String(n)], (l) => lines.push(l));
    expect(model.namedParameters().map(([name]) => name)).toEqual(['0.weight', '0.bias', '2.branch.1.0.weight', '2.branch.1.0.bias', '4.weight', '4.bias']);

    const perSample = oneAtATimeGradients(model, (o, t) => lossFunction.forward(o, t), images, labels);
    model.parameters().forEach((p, i) => expectClose(numbers(p.gradBatch!), perSample[i]!.flat().map((g) => g / n), 1e-10, `gradBatch ${i}`));

    // GGN = Σ_n J_nᵀ (diag(p_n) - p_n p_nᵀ) J_n / N, J the Jacobian of the logits.
    const logits = model.forward(images);
    const jacobian = jacobianRows(model, logits);
    const p = numbers(softmax(logits, -1));
    const probabilities = Array.from({ length: n }, (_, s) => p.slice(s * 10, (s + 1) * 10));
    const expected = crossEntropyGgnDiagonal(jacobian, probabilities, 1 / n);
    const actual = trainable(model).flatMap((p) => numbers(p.diagGgnExact!));
    expectClose(actual, expected, 1e-10, 'diagGgnExact');
    // The example's own check, by GGN-vector products, agrees with the Jacobian rows on its entries.
    expect(diagonalCheck).toHaveLength(10);
    expectClose(diagonalCheck.map((e) => e.autograd), diagonalCheck.map((e) => expected[e.index]!), 1e-10, 'autograd entries');
    expect(lines.filter((l) => l.startsWith('Diagonal entry'))).toEqual(diagonalCheck.map((e) => `Diagonal entry ${String(e.index).padStart(6)}: true`));
  });
});
