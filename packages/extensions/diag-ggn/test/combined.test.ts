/**
 * Several extensions in one backward pass: all six GGN extensions together
 * with core's `.grad` give the same numbers as each extension alone (and
 * `.grad` as a pass without extensions). Monte-Carlo ones get one seed each,
 * so alone and together they draw the same samples.
 */
import { backpack, tidy, type Extension, type Parameter, type Tensor } from '@backpack-ts/core';
import { describe, expect, it } from 'vitest';
import {
  BatchDiagGGNExact,
  BatchDiagGGNMC,
  DiagGGNExact,
  DiagGGNMC,
  SqrtGGNExact,
  SqrtGGNMC,
} from '../src/index.js';
import { branchingCrossEntropy, sharedWeights, squaredErrorRank3, type Problem } from './helpers/problems.js';

const makers: readonly (() => Extension)[] = [
  () => new DiagGGNExact(),
  () => new BatchDiagGGNExact(),
  () => new SqrtGGNExact(),
  () => new DiagGGNMC({ mcSamples: 4, seed: 1 }),
  () => new BatchDiagGGNMC({ mcSamples: 3, seed: 2 }),
  () => new SqrtGGNMC({ mcSamples: 2, seed: 3 }),
];

const fields = ['grad', 'diagGgnExact', 'diagGgnExactBatch', 'sqrtGgnExact', 'diagGgnMc', 'diagGgnMcBatch', 'sqrtGgnMc'] as const;

/** One backward pass with `extensions`; returns every field of every parameter, read back. */
function results(problem: Problem, extensions: readonly Extension[]): Map<string, { shape: readonly number[]; data: number[] }> {
  return tidy(() => {
    problem.model.zeroGrad();
    const loss = problem.loss.forward(problem.model.forward(problem.input), problem.target);
    backpack(extensions, () => loss.backward());
    const out = new Map<string, { shape: readonly number[]; data: number[] }>();
    for (const [name, parameter] of problem.model.namedParameters()) {
      for (const field of fields) {
        const value = (parameter as Parameter)[field] as Tensor | undefined;
        if (value !== undefined) out.set(`${name} ${field}`, { shape: value.shape, data: Array.from(value.toArray()) });
        if (field !== 'grad') delete (parameter as unknown as Record<string, unknown>)[field];
      }
    }
    return out;
  });
}

describe.each([branchingCrossEntropy, () => squaredErrorRank3('mean'), sharedWeights])('one pass with everything', (make) => {
  const problem = make();

  it(`${problem.name}: all six together equal each alone, .grad unchanged`, () => {
    const together = results(problem, makers.map((m) => m()));
    const parameterCount = problem.model.namedParameters().length;
    expect(together.size).toBe(fields.length * parameterCount);

    const alone = new Map(results(problem, []));
    expect(alone.size).toBe(parameterCount); // .grad only
    for (const make of makers) {
      for (const [key, value] of results(problem, [make()])) {
        if (!key.endsWith(' grad')) alone.set(key, value);
      }
    }
    expect(together).toEqual(alone);
  });
});
