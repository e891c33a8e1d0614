import { cpu } from '@backpack-ts/backend-cpu';
import { softmax } from '@backpack-ts/core';
import { describe, expect, it } from 'vitest';
import { mnistBatch } from '../../shared/report.js';
import { main } from '../../use-cases/rnn.js';
import { crossEntropyGgnDiagonal, expectClose, jacobianRows, numbers, oneAtATimeGradients, trainable } from './brute-force.js';

describe('use case: rnn', () => {
  it('gives per-sample gradients (one sample at a time) and the exact GGN diagonal (Jacobian rows and the loss Hessian) of the stacked LSTM', () => {
    const [n, steps, classes] = [2, 4, 10];
    const lines: string[] = [];
    const result = main(['--backend', 'cpu', '--batch-size', String(n), '--rows', String(steps), '--hidden', '4'], (l) => lines.push(l));
    const { model, lossFunction, sequences, targets } = result;
    expect(sequences.shape).toEqual([n, steps, 28]);
    // Every row of a digit is labelled with the digit.
    const labels = numbers(mnistBatch(n, cpu, 'float64').labels);
    expect(numbers(targets)).toEqual(labels.flatMap((label) => new Array<number>(steps).fill(label)));
    expect(lines.filter((l) => l.endsWith(': frozen'))).toEqual(['0.bias_ih_l0 [16]: frozen', '3.bias_ih_l0 [16]: frozen']);

    const perSample = oneAtATimeGradients(model, (o, t) => lossFunction.forward(o, t), sequences, targets);
    trainable(model).forEach((p, i) => expectClose(numbers(p.gradBatch!), perSample[i]!.flat().map((g) => g / n), 1e-10, `gradBatch ${i}`));

    // Logits [N, C, T]: position (n, t) has its C logits at n·C·T + c·T + t; a mean over the N·T positions.
    const logits = model.forward(sequences);
    const rows = jacobianRows(model, logits);
    const p = numbers(softmax(logits, 1));
    const positions = Array.from({ length: n * steps }, (_, k) => [Math.floor(k / steps), k % steps] as const);
    const at = (s: number, c: number, t: number) => s * classes * steps + c * steps + t;
    const jacobian = positions.flatMap(([s, t]) => Array.from({ length: classes }, (_, c) => rows[at(s, c, t)]!));
    const probabilities = positions.map(([s, t]) => Array.from({ length: classes }, (_, c) => p[at(s, c, t)]!));
    const expected = crossEntropyGgnDiagonal(jacobian, probabilities, 1 / (n * steps));
    expectClose(trainable(model).flatMap((q) => numbers(q.diagGgnExact!)), expected, 1e-10, 'diagGgnExact');
    // The example's own check, by GGN-vector products, agrees with the Jacobian rows on its entries.
    const { diagonalCheck } = result;
    expect(diagonalCheck).toHaveLength(10);
    expectClose(diagonalCheck.map((e) => e.autograd), diagonalCheck.map((e) => expected[e.index]!), 1e-10, 'autograd entries');
    expect(lines.filter((l) => l.startsWith('Diagonal entry'))).toEqual(diagonalCheck.map((e) => `Diagonal entry ${String(e.index).padStart(6)}: true`));
  });
});
