/**
 * The conformance kit on the onnxruntime backend: every kernel against
 * backend-cpu in float64, then the whole golden suite through the public API.
 *
 * - default thresholds: what users get (small kernels in TypeScript, big ones on ORT);
 * - forced (`minElements: 0, minMatmulMacs: 0`): every kernel ORT has a graph
 *   for runs on ORT, so the golden suite exercises ORT's kernels end to end.
 *
 * float32 is held to 1e-4 relative to the float64 reference, float64 to 1e-10.
 * Set BACKPACK_CONFORMANCE_VERBOSE=1 to print every check.
 */
import { assertConformance, formatConformanceReport, runBackendConformance } from '@backpack-ts/conformance';
import { afterAll, describe, expect, it } from 'vitest';
import { OrtBackend } from '../src/index.js';
import { unexpectedGoldenSkips } from './helpers/golden-skips.js';

const verbose = process.env['BACKPACK_CONFORMANCE_VERBOSE'] === '1';
const summaries: string[] = [];
afterAll(() => console.log(summaries.join('\n')));

/** Kernels every configuration runs on ORT; with every kernel on ORT, also those the golden models only reach in small sizes. */
const ON_ORT = ['matmul', 'unary', 'binary', 'binaryScalar', 'reduce', 'softmax', 'logSoftmax', 'permute', 'fold', 'argmax', 'conv', 'convTranspose', 'convWeightGrad'];

const configurations = [
  { label: 'default thresholds', options: {}, onOrt: ON_ORT },
  { label: 'every kernel on ORT', options: { minElements: 0, minMatmulMacs: 0 }, onOrt: [...ON_ORT, 'maxPool', 'maxPoolTranspose', 'oneHot'] },
] as const;

describe.each(configurations)('onnxruntime backend, $label', ({ label, options, onOrt }) => {
  const backend = new OrtBackend(options);
  afterAll(() => backend.release());

  for (const dtype of ['float32', 'float64'] as const) {
    it(`passes the conformance kit in ${dtype}`, () => {
      const report = runBackendConformance(backend, { dtype });
      summaries.push(`[${label}] ${formatConformanceReport(report, { verbose })}`);
      assertConformance(report);
      expect(report.checks.filter((c) => c.part === 'golden').length).toBeGreaterThan(0);
      // Every golden case was built and run (none needs a layer core lacks); the Kronecker
      // extensions refuse the recurrent cases (no Kronecker factors for RNN and LSTM).
      expect(unexpectedGoldenSkips(report.skipped)).toEqual([]);
      expect(backend.stats().sessions.unsupported.size).toBe(0);
    });
  }

  it('ran kernels on ORT', () => {
    const kernels = backend.stats().kernels;
    for (const kernel of onOrt) {
      expect(kernels[`${kernel}:ort`], kernel).toBeGreaterThan(0);
    }
  });
});
