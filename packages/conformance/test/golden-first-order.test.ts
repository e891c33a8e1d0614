/**
 * The golden conformance suite for the first-order extensions on the CPU
 * backend: every golden case whose layers core implements is built, run
 * forward, and run backward with BatchGrad, Variance, SumGradSquared and
 * BatchL2Grad (together, and each alone so that a combined run cannot hide a
 * bug), in float64 (relative error <= 1e-10) and float32 (<= 1e-4).
 *
 * Set BACKPACK_GOLDEN_VERBOSE=1 to print every comparison.
 */
import { cpu } from '@backpack-ts/backend-cpu';
import type { Extension, FloatDType } from '@backpack-ts/core';
import { BatchGrad, BatchL2Grad, SumGradSquared, Variance } from '@backpack-ts/first-order';
import { describe, expect, it } from 'vitest';
import {
  checkGoldenExtensions,
  checkGoldenForward,
  failedMessages,
  goldenTestCases,
  failUnknownTypes,
  goldenVerbose,
  logReportsIfVerbose,
  type GoldenCheck,
} from '../src/index.js';

const precisions: readonly { dtype: FloatDType; tolerance: number }[] = [
  { dtype: 'float64', tolerance: 1e-10 },
  { dtype: 'float32', tolerance: 1e-4 },
];

function firstOrderExtensions(): Extension[] {
  return [new BatchGrad(), new Variance(), new SumGradSquared(), new BatchL2Grad()];
}

/** Fails with every failed comparison's message; logs all of them when verbose. */
function expectAllClose(check: GoldenCheck): void {
  if (check.unsupported !== undefined) throw new Error(`unexpectedly unsupported: ${check.unsupported}`);
  logReportsIfVerbose(check.reports);
  if (goldenVerbose()) for (const item of check.unchecked) console.log(`no reference value for ${item}`);
  expect(check.reports.length).toBeGreaterThan(0);
  expect(failedMessages(check.reports)).toEqual([]);
}

const { cases, skipMessage } = goldenTestCases();

if (skipMessage !== undefined) {
  console.warn(skipMessage);
  it.skip(`golden reference cases: ${skipMessage}`, () => {});
}

for (const { golden, problem } of cases) {
  describe(`golden ${golden.name}`, () => {
    if (problem !== undefined) {
      it('builds its network', () => failUnknownTypes(problem));
      return;
    }

    for (const { dtype, tolerance } of precisions) {
      const options = { backend: cpu, dtype, tolerance };

      it(`forward: output and loss (${dtype})`, () => {
        expectAllClose(checkGoldenForward(golden, options));
      });

      it(`BatchGrad, Variance, SumGradSquared, BatchL2Grad together (${dtype})`, () => {
        const check = checkGoldenExtensions(golden, firstOrderExtensions(), options);
        expectAllClose(check);
        // .grad and the four quantities for every parameter.
        if (check.unsupported === undefined) {
          expect(check.reports.length).toBe(5 * Object.keys(golden.params).length);
        }
      });

      for (const extension of firstOrderExtensions()) {
        it(`${extension.name} alone (${dtype})`, () => {
          expectAllClose(checkGoldenExtensions(golden, [extension], options));
        });
      }
    }
  });
}
