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
  goldenDir,
  listGoldenCases,
  loadGoldenCase,
  unsupportedTypes,
  type GoldenCheck,
} from '../src/index.js';

const precisions: readonly { dtype: FloatDType; tolerance: number }[] = [
  { dtype: 'float64', tolerance: 1e-10 },
  { dtype: 'float32', tolerance: 1e-4 },
];

const verbose = process.env['BACKPACK_GOLDEN_VERBOSE'] === '1';

function firstOrderExtensions(): Extension[] {
  return [new BatchGrad(), new Variance(), new SumGradSquared(), new BatchL2Grad()];
}

/** Fails with every failed comparison's message; logs all of them when verbose. */
function expectAllClose(check: GoldenCheck): void {
  if (check.unsupported !== undefined) throw new Error(`unexpectedly unsupported: ${check.unsupported}`);
  if (verbose) {
    for (const report of check.reports) console.log(report.message);
    for (const item of check.unchecked) console.log(`no reference value for ${item}`);
  }
  expect(check.reports.length).toBeGreaterThan(0);
  expect(check.reports.filter((report) => !report.ok).map((report) => report.message)).toEqual([]);
}

const files = listGoldenCases();

if (files.length === 0) {
  it('golden reference cases', () => {
    console.log(`golden files not found at ${goldenDir() ?? '(no repository root found)'}; suite skipped`);
  });
}

for (const file of files) {
  const golden = loadGoldenCase(file);
  describe(`golden ${golden.name}`, () => {
    const missing = unsupportedTypes(golden);
    if (missing.length > 0) {
      it('needs layers core lacks', () => {
        console.log(`${golden.name}: skipped: layer ${missing.join(', ')} not implemented yet`);
      });
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
