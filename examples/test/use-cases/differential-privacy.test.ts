import { cpu } from '@backpack-ts/backend-cpu';
import { CrossEntropyLoss, backpack, extend, tensor } from '@backpack-ts/core';
import { BatchGrad, BatchL2Grad } from '@backpack-ts/first-order';
import { describe, expect, it } from 'vitest';
import { accuracy, clipPerSampleGradients, main, smallCnn } from '../../use-cases/differential-privacy.js';
import { mnistBatch } from '../../shared/report.js';
import { expectClose, numbers, oneAtATimeGradients } from './brute-force.js';

describe('use case: differential-privacy', () => {
  it('clips every per-sample gradient to norm C: C·g/‖g‖ for the larger ones, g for the others, as one sample at a time gives them', () => {
    const n = 6;
    const { images, labels } = mnistBatch(n, cpu, 'float64');
    const model = extend(smallCnn(cpu, 'float64', [3, 4], 8));
    const lossFunction = extend(new CrossEntropyLoss('sum'));
    const perSample = oneAtATimeGradients(model, (o, t) => lossFunction.forward(o, t), images, labels);
    const norms = Array.from({ length: n }, (_, s) => Math.sqrt(perSample.reduce((a, g) => a + g[s]!.reduce((b, v) => b + v * v, 0), 0)));
    // C between the norms: some gradients are clipped, some are not.
    const maxNorm = [...norms].sort((a, b) => a - b)[n / 2]! * 0.999;

    const loss = lossFunction.forward(model.forward(images), labels);
    backpack([new BatchGrad(), new BatchL2Grad()], () => loss.backward());
    const { norms: fromBatchL2, clipped } = clipPerSampleGradients(model.parameters(), maxNorm);
    expectClose(numbers(fromBatchL2), norms, 1e-10, 'norms');

    const factors = norms.map((norm) => Math.min(1, maxNorm / norm));
    expect(factors.filter((f) => f < 1)).toHaveLength(n / 2);
    clipped.forEach((c, i) => expectClose(numbers(c), perSample[i]!.flatMap((g, s) => g.map((v) => v * factors[s]!)), 1e-10, `parameter ${i}`));
    const clippedNorms = Array.from({ length: n }, (_, s) =>
      Math.sqrt(clipped.reduce((a, c) => a + numbers(c).slice((s * c.size) / n, ((s + 1) * c.size) / n).reduce((b, v) => b + v * v, 0), 0)),
    );
    clippedNorms.forEach((norm, s) => {
      expect(norm).toBeLessThanOrEqual(maxNorm * (1 + 1e-12));
      if (factors[s]! < 1) expect(Math.abs(norm - maxNorm)).toBeLessThanOrEqual(1e-12 * maxNorm);
    });
  });

  it('counts the samples whose largest logit is their label', () => {
    const logits = tensor([0.1, 2, -1, 3, 0, 0.5, -2, -1, -3, 1, 1.5, 0.2], [4, 3], { backend: cpu, dtype: 'float64' });
    // Argmax per row: 1, 0, 1, 1.
    const labels = tensor([1, 2, 1, 0], [4], { backend: cpu, dtype: 'int32' });
    expect(accuracy(logits, labels)).toBe(0.5);
  });

  it('lowers the loss of held-out digits in a few noisy steps', () => {
    const lines: string[] = [];
    const { losses, heldOutLoss } = main(['--backend', 'cpu', '--batch-size', '32', '--steps', '12'], (l) => lines.push(l));
    expect(losses).toHaveLength(12);
    expect(heldOutLoss.after).toBeLessThan(heldOutLoss.before - 0.05);
    expect(lines.at(-1)).toMatch(/^held-out loss: 2\.\d+ before training, 2\.\d+ after$/);
  });
});
