/**
 * DiagHessian and BatchDiagHessian against the exact Hessian diagonal by
 * finite differences of core's `.grad` (central differences, step 1e-5,
 * tolerance 1e-7 relative to the largest entry): curved MLPs with every
 * loss, inputs with extra dimensions, a residual network whose branches
 * merge with `Add` (where factors of one origin must be summed), and
 * networks with LSTM and RNN layers (whose residuals are not diagonal).
 */
import { backpack, sum } from '@backpack-ts/core';
import { compareArrays, type CompareReport } from '@backpack-ts/conformance';
import { afterAll, describe, expect, it } from 'vitest';
import { BatchDiagHessian, DiagHessian } from '../src/index.js';
import { FD_TOLERANCE, hessianDiagonalByFD, perSampleHessianDiagonalByFD } from './helpers/brute-force.js';
import { bceMlp, curvedMlp, extraDimsMlp, reluMlp, residualNet, type Problem } from './helpers/models.js';
import { lstmNet, reluRnnNet, stackedRnnNet } from './helpers/recurrent-models.js';

/** Worst relative error vs finite differences per model and quantity, printed at the end. */
const worst = new Map<string, number>();

function expectOk(reports: readonly CompareReport[], key?: string): void {
  if (key !== undefined) for (const r of reports) worst.set(key, Math.max(worst.get(key) ?? 0, r.relError));
  expect(reports.filter((r) => !r.ok).map((r) => r.message)).toEqual([]);
}

const problems: readonly (() => Problem)[] = [
  curvedMlp,
  bceMlp,
  extraDimsMlp,
  reluMlp,
  () => residualNet(true),
  () => residualNet(false),
  lstmNet,
  stackedRnnNet,
  reluRnnNet,
];

describe.each(problems.map((make) => [make().name, make] as const))('%s', (_name, make) => {
  it('DiagHessian equals the finite-difference Hessian diagonal', () => {
    const problem = make();
    backpack([new DiagHessian()], () => problem.loss().backward());
    const computed = problem.parameters.map(([, p]) => p.diagH!);
    const fd = hessianDiagonalByFD(problem.parameters.map(([, p]) => p), () => problem.loss());
    expectOk(
      problem.parameters.map(([name, p], k) =>
        compareArrays({ shape: computed[k]!.shape, data: computed[k]!.toArray() }, { shape: p.data.shape, data: fd[k]! }, {
          tolerance: FD_TOLERANCE,
          label: `${problem.name} ${name} DiagHessian`,
        }),
      ),
      `${problem.name} DiagHessian`,
    );
  });

  it('BatchDiagHessian equals the per-sample finite-difference Hessian diagonals and sums to DiagHessian', () => {
    const problem = make();
    backpack([new DiagHessian(), new BatchDiagHessian()], () => problem.loss().backward());
    const batch = problem.parameters.map(([, p]) => p.diagHBatch!);
    const summed = problem.parameters.map(([, p]) => p.diagH!);
    const reports = problem.parameters.map(([name, p], k) =>
      compareArrays({ shape: p.data.shape, data: sum(batch[k]!, 0).toArray() }, { shape: summed[k]!.shape, data: summed[k]!.toArray() }, {
        tolerance: 1e-12,
        label: `${problem.name} ${name} Σ_n BatchDiagHessian vs DiagHessian`,
      }),
    );
    expectOk(reports);

    // Per-sample losses run one sample at a time; a dropout mask drawn for a batch of one is another mask.
    if (problem.name.includes('dropout training')) return;
    const fd = perSampleHessianDiagonalByFD(problem.parameters.map(([, p]) => p), problem.batch, (n) => problem.sampleLoss(n));
    expectOk(
      problem.parameters.map(([name, p], k) =>
        compareArrays(
          { shape: batch[k]!.shape, data: batch[k]!.toArray() },
          { shape: [problem.batch, ...p.data.shape], data: Array.from(fd[k]!, (v) => v * problem.sampleScale) },
          { tolerance: FD_TOLERANCE, label: `${problem.name} ${name} BatchDiagHessian` },
        ),
      ),
      `${problem.name} BatchDiagHessian`,
    );
  });
});

afterAll(() => {
  const lines = [...worst].map(([key, error]) => `  ${key}: max rel error ${error.toExponential(2)}`);
  console.log(`vs finite differences of .grad:\n${lines.join('\n')}`);
});
