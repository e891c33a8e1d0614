/**
 * DiagHessian and BatchDiagHessian in one backward pass, and together with
 * core's `.grad`, give exactly what each gives alone: they share no state.
 */
import { backpack, type Extension } from '@backpack-ts/core';
import { describe, expect, it } from 'vitest';
import { BatchDiagHessian, DiagHessian } from '../src/index.js';
import { curvedMlp, extraDimsMlp, residualNet, type Problem } from './helpers/models.js';

interface Results {
  grad: number[][];
  diagH: (number[] | undefined)[];
  diagHBatch: (number[] | undefined)[];
}

function runWith(make: () => Problem, extensions: readonly Extension[]): Results {
  const problem = make();
  backpack(extensions, () => problem.loss().backward());
  const params = problem.parameters.map(([, p]) => p);
  const read = (t: { toArray(): ArrayLike<number> } | undefined) => (t === undefined ? undefined : Array.from(t.toArray()));
  return {
    grad: params.map((p) => Array.from(p.grad!.toArray())),
    diagH: params.map((p) => read(p.diagH)),
    diagHBatch: params.map((p) => read(p.diagHBatch)),
  };
}

describe.each([
  ['Sigmoid/Tanh/ELU MLP', curvedMlp],
  ['Linear with extra dimensions', extraDimsMlp],
  ['residual network with dropout', () => residualNet(true)],
] as const)('%s', (_name, make) => {
  it('both extensions at once equal each alone, and .grad equals a plain backward pass', () => {
    const plain = runWith(make, []);
    const diagOnly = runWith(make, [new DiagHessian()]);
    const batchOnly = runWith(make, [new BatchDiagHessian()]);
    const both = runWith(make, [new DiagHessian(), new BatchDiagHessian()]);
    const bothReversed = runWith(make, [new BatchDiagHessian(), new DiagHessian()]);

    expect(plain.diagH.every((d) => d === undefined)).toBe(true);
    expect(diagOnly.diagHBatch.every((d) => d === undefined)).toBe(true);
    expect(batchOnly.diagH.every((d) => d === undefined)).toBe(true);
    for (const run of [diagOnly, batchOnly, both, bothReversed]) expect(run.grad).toEqual(plain.grad);
    expect(both.diagH).toEqual(diagOnly.diagH);
    expect(both.diagHBatch).toEqual(batchOnly.diagHBatch);
    expect(bothReversed.diagH).toEqual(diagOnly.diagH);
    expect(bothReversed.diagHBatch).toEqual(batchOnly.diagHBatch);
  });

  it('a second backward pass replaces the quantities (and .grad accumulates as in PyTorch)', () => {
    const problem = make();
    const extensions = [new DiagHessian(), new BatchDiagHessian()];
    backpack(extensions, () => problem.loss().backward());
    const first = problem.parameters.map(([, p]) => ({ grad: Array.from(p.grad!.toArray()), diagH: Array.from(p.diagH!.toArray()) }));
    backpack(extensions, () => problem.loss().backward());
    problem.parameters.forEach(([, p], k) => {
      expect(Array.from(p.diagH!.toArray())).toEqual(first[k]!.diagH);
      expect(Array.from(p.grad!.toArray())).toEqual(first[k]!.grad.map((g) => 2 * g));
    });
  });
});
