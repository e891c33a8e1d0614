/**
 * The conformance kit on the engine tfjs runs here (tfjs-node where it is
 * installed and built, else wasm, as in CI): every kernel against backend-cpu
 * in float64, then the golden suite (BackPACK's numbers) end to end through
 * the public API, in float32 with relative error <= 1e-4.
 *
 * BACKPACK_CONFORMANCE_VERBOSE=1 prints every check.
 */
import { formatConformanceReport, runBackendConformance, type ConformanceReport } from '@backpack-ts/conformance';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadTfjsBackend, type TfjsBackend } from '../src/index.js';

const verbose = process.env['BACKPACK_CONFORMANCE_VERBOSE'] === '1';

let backend: TfjsBackend;
beforeAll(async () => {
  backend = await loadTfjsBackend();
});

function expectPassed(report: ConformanceReport): void {
  console.log(formatConformanceReport(report, { verbose }));
  expect(report.failures.map((check) => check.message)).toEqual([]);
  expect(report.passed).toBe(true);
}

describe('conformance kit (float32, relative error <= 1e-4)', () => {
  it('every kernel matches backend-cpu in float64, and the kernel checks leave no live handle', () => {
    const report = runBackendConformance(backend, { dtype: 'float32', tolerance: 1e-4, golden: false });
    expectPassed(report);
    expect(report.checks.length).toBeGreaterThan(700);
  });

  it('the golden suite through the public API matches BackPACK', () => {
    const report = runBackendConformance(backend, { dtype: 'float32', tolerance: 1e-4, kernels: false });
    expectPassed(report);
  });

  describe("with windowKernels = 'gather' (the unfold/fold used on tfjs-node, WebGL, WebGPU)", () => {
    afterAll(() => {
      backend.windowKernels = 'auto';
    });
    it('unfold and fold still match', () => {
      backend.windowKernels = 'gather';
      const report = runBackendConformance(backend, { dtype: 'float32', golden: false, only: ['unfold', 'fold'] });
      expectPassed(report);
      expect(report.checks.filter((check) => check.family === 'window').length).toBeGreaterThan(10);
    });
  });
});
