import { cpu } from '@backpack-ts/backend-cpu';
import { CrossEntropyLoss, backpack, extend, grad, softmax } from '@backpack-ts/core';
import { describe, expect, it } from 'vitest';
import { mnistBatch } from '../../shared/report.js';
import { sigmoidMlp } from '../../shared/training.js';
import { DIAG_GGN, contenders, main } from '../../use-cases/diag-ggn-optimizer.js';
import { crossEntropyGgnDiagonal, expectClose, jacobianRows, numbers } from './brute-force.js';

describe('use case: diag-ggn-optimizer', () => {
  it('steps θ − γ g / (diag(G) + λ), with the GGN diagonal from Jacobian rows and the loss Hessian and g from autograd', () => {
    const n = 3;
    const { images, labels } = mnistBatch(n, cpu, 'float64');
    const model = extend(sigmoidMlp(cpu, 'float64', 4));
    const lossFunction = extend(new CrossEntropyLoss());
    const logits = model.forward(images);
    const p = numbers(softmax(logits, -1));
    const diagonal = crossEntropyGgnDiagonal(jacobianRows(model, logits), Array.from({ length: n }, (_, s) => p.slice(s * 10, (s + 1) * 10)), 1 / n);
    const g = grad(lossFunction.forward(model.forward(images), labels), model.parameters().map((q) => q.data)).flatMap((t) => numbers(t!));
    const theta = model.parameters().flatMap((q) => numbers(q.data));

    const exact = contenders()[0]!;
    expect(exact.label).toBe('DiagGGN (exact)');
    const optimizer = exact.makeOptimizer(model);
    const loss = lossFunction.forward(model.forward(images), labels);
    backpack(exact.extension!(), () => loss.backward());
    optimizer.step();
    const expected = theta.map((t, i) => t - (DIAG_GGN.lr * g[i]!) / (diagonal[i]! + DIAG_GGN.damping));
    expectClose(
      model.parameters().flatMap((q) => numbers(q.data)),
      expected,
      1e-12,
      'parameters after one step',
    );
    // The step is not SGD's in disguise: the preconditioner rescales the entries by orders of magnitude.
    const scales = diagonal.map((d) => 1 / (d + DIAG_GGN.damping));
    expect(Math.max(...scales) / Math.min(...scales)).toBeGreaterThan(10);
  });

  it('lowers the held-out loss faster than SGD at its best learning rate, with the exact and the Monte-Carlo diagonal', () => {
    const lines: string[] = [];
    const { runs } = main(['--backend', 'cpu', '--batch-size', '64', '--steps', '20', '--hidden', '16'], (l) => lines.push(l));
    expect(runs.map((r) => r.label)).toEqual(['DiagGGN (exact)', 'DiagGGN (MC)', 'SGD, lr=10', 'SGD, lr=1', 'SGD, lr=0.1', 'SGD, lr=0.01']);
    for (const run of runs) expect(run.losses).toHaveLength(20);
    const bestSgd = Math.min(...runs.slice(2).map((r) => r.heldOutLoss));
    expect(runs[0]!.heldOutLoss).toBeLessThan(bestSgd - 0.3);
    expect(runs[1]!.heldOutLoss).toBeLessThan(bestSgd - 0.2);
    expect(lines).toHaveLength(2 + runs.length);
  });
});
