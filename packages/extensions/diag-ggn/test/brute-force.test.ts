/**
 * Brute-force check of the exact GGN extensions: the same networks are
 * written by hand with forward-mode AD (independent of core's derivatives),
 * which gives every sample's Jacobian J_n of the output w.r.t. every
 * parameter; with the loss Hessians H_n written out by hand, the GGN block of
 * a parameter is `Σ_n J_nᵀ H_n J_n`. Compared:
 * - DiagGGNExact with the diagonal of the block,
 * - BatchDiagGGNExact with the diagonals of the per-sample blocks,
 * - SqrtGGNExact's outer products `Σ_c P[c, n] P[c, n]ᵀ` with the per-sample
 *   blocks (and their sum with the block).
 *
 * Covers a branch point (a tensor feeding two modules merged by Add), MSE on
 * outputs of rank 3 (Linear on inputs with an extra dimension), BCE with
 * several outputs, weight sharing, and a third-party module supported
 * through its traits alone.
 */
import { backpack, tidy } from '@backpack-ts/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { BatchDiagGGNExact, DiagGGNExact, SqrtGGNExact } from '../src/index.js';
import { diagonal, expectClose, ggnBlock, outerProducts, type GgnBlocks } from './helpers/ggn.js';
import {
  binaryCrossEntropy3,
  branchingCrossEntropy,
  sharedWeights,
  squaredErrorRank3,
  thirdPartyModule,
  type Problem,
} from './helpers/problems.js';

/** Both sides are exact up to float64 rounding. */
const TOLERANCE = 1e-12;

const problems: readonly (() => Problem)[] = [
  branchingCrossEntropy,
  () => squaredErrorRank3('mean'),
  () => squaredErrorRank3('sum'),
  binaryCrossEntropy3,
  sharedWeights,
  thirdPartyModule,
];

for (const makeProblem of problems) {
  const problem = makeProblem();
  describe(problem.name, () => {
    const n = problem.input.shape[0]!;
    let blocks: Map<string, GgnBlocks>;
    let outputsPerSample: number;

    beforeAll(() => {
      const outputs = problem.outputs();
      outputsPerSample = outputs[0]!.length;
      // The hand-written network must be the core model.
      const forward = tidy(() => Array.from(problem.model.forward(problem.input).toArray()));
      expectClose(outputs.flat().map((o) => o.v), forward, TOLERANCE, 'hand-written forward pass');
      const hessians = problem.hessians(outputs.map((o) => o.map((d) => d.v)));
      blocks = new Map(problem.model.namedParameters().map(([name]) => [name, ggnBlock(problem.index, name, outputs, hessians)]));
    });

    it('DiagGGNExact, BatchDiagGGNExact and SqrtGGNExact equal the GGN by its definition', () => {
      tidy(() => {
        const loss = problem.loss.forward(problem.model.forward(problem.input), problem.target);
        backpack([new DiagGGNExact(), new BatchDiagGGNExact(), new SqrtGGNExact()], () => loss.backward());
        for (const [name, parameter] of problem.model.namedParameters()) {
          const block = blocks.get(name)!;
          const k = parameter.data.size;
          const shape = parameter.data.shape;

          expect(parameter.diagGgnExact?.shape).toEqual(shape);
          expectClose(parameter.diagGgnExact!.toArray(), diagonal(block.total), TOLERANCE, `${name} DiagGGNExact`);

          expect(parameter.diagGgnExactBatch?.shape).toEqual([n, ...shape]);
          const batch = parameter.diagGgnExactBatch!.toArray();
          block.perSample.forEach((perSample, i) => {
            expectClose(batch.slice(i * k, (i + 1) * k), diagonal(perSample), TOLERANCE, `${name} BatchDiagGGNExact[${i}]`);
          });

          expect(parameter.sqrtGgnExact?.shape).toEqual([outputsPerSample, n, ...shape]);
          const outer = outerProducts(parameter.sqrtGgnExact!.toArray(), outputsPerSample, n, k);
          outer.forEach((m, i) => {
            expectClose(m.data, block.perSample[i]!.data, TOLERANCE, `${name} SqrtGGNExact outer product [${i}]`);
          });
          const summed = outer.reduce((total, m) => total.map((v, j) => v + m.data[j]!), new Float64Array(k * k));
          expectClose(summed, block.total.data, TOLERANCE, `${name} SqrtGGNExact outer product summed`);
        }
      });
    });
  });
}
