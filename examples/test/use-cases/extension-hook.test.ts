import { describe, expect, it } from 'vitest';
import { main } from '../../use-cases/extension-hook.js';
import { numbers, softmax } from './brute-force.js';

describe('use case: extension-hook', () => {
  it("sums the Hessian trace in the hook, equal to the closed form of a linear classifier's, and leaves no diagonal behind", () => {
    const n = 16;
    const lines: string[] = [];
    const { model, images, labels, traceAfterBackward, traceWhileBackward, leftOver } = main(['--backend', 'cpu', '--batch-size', String(n)], (l) => lines.push(l));

    // Closed form: for logits W x + b and a mean cross-entropy, the Hessian is
    // (1/N) Σ_n (diag(p_n) - p_n p_nᵀ) ⊗ [x_n; 1][x_n; 1]ᵀ, whose trace is
    // (1/N) Σ_n (Σ_c p_nc (1 - p_nc)) (‖x_n‖² + 1).
    const [weight, bias] = model.parameters().map((p) => numbers(p.data));
    const pixels = numbers(images);
    let trace = 0;
    for (let s = 0; s < n; s++) {
      const x = pixels.slice(s * 784, (s + 1) * 784);
      const logits = Array.from({ length: 10 }, (_, c) => x.reduce((z, xi, i) => z + weight![c * 784 + i]! * xi, bias![c]!));
      const p = softmax(logits);
      const squaredNorm = x.reduce((a, xi) => a + xi * xi, 0) + 1;
      trace += (p.reduce((a, pc) => a + pc * (1 - pc), 0) * squaredNorm) / n;
    }
    expect(numbers(labels)).toHaveLength(n);
    expect(Math.abs(traceAfterBackward - trace)).toBeLessThanOrEqual(1e-10 * trace);
    expect(Math.abs(traceWhileBackward - trace)).toBeLessThanOrEqual(1e-10 * trace);
    expect(leftOver).toBe(0);
    expect(lines.at(-1)).toBe('Same Tr(H)? true');
  });
});
