import { describe, expect, it } from 'vitest';
import { main } from '../../use-cases/custom-module.js';
import { expectClose, numbers, softmax } from './brute-force.js';

describe('use case: custom-module', () => {
  it("gives Scale's per-sample gradients and GGN diagonal, equal to a plain JavaScript computation", () => {
    const n = 6;
    const lines: string[] = [];
    const { model, scale, images, labels, gradBatch, diagGgn, gradBatchAutograd } = main(['--backend', 'cpu', '--batch-size', String(n)], (l) => lines.push(l));

    // Plain JavaScript: z = W x + b, logits w z, summed cross-entropy.
    const [weight, bias] = model.parameters().map((p) => numbers(p.data));
    const w = scale.weight.data.item();
    const pixels = numbers(images);
    const targets = numbers(labels);
    const perSample: number[] = [];
    let ggn = 0;
    for (let s = 0; s < n; s++) {
      const x = pixels.slice(s * 784, (s + 1) * 784);
      const z = Array.from({ length: 10 }, (_, c) => x.reduce((a, xi, i) => a + weight![c * 784 + i]! * xi, bias![c]!));
      const p = softmax(z.map((zc) => w * zc));
      // ∂loss_n/∂w = Σ_c (p_c - [c = y_n]) z_c
      perSample.push(z.reduce((a, zc, c) => a + (p[c]! - (c === targets[s] ? 1 : 0)) * zc, 0));
      const mean = z.reduce((a, zc, c) => a + p[c]! * zc, 0);
      ggn += z.reduce((a, zc, c) => a + p[c]! * zc * zc, 0) - mean * mean;
    }
    expect(gradBatch.shape).toEqual([n, 1]);
    expectClose(numbers(gradBatch), perSample, 1e-10, 'gradBatch of w');
    expectClose(gradBatchAutograd, perSample, 1e-10, "the example's own autograd check");
    expectClose(numbers(diagGgn), [ggn], 1e-10, 'diagGgnExact of w');
    expect(lines).toContain('autograd and BackPACK individual gradients match? true');
    expect(lines).toContain('Do manual and BackPACK GGN match? true');
  });
});
