/**
 * Golden conformance: every golden case whose layers core implements, run
 * with DiagHessian and BatchDiagHessian (together and each alone) in float64
 * on the CPU backend, against the reference's `quantities` (relative error
 * <= 1e-10). Where the reference failed (`errors`, e.g. mse_sum_identity,
 * which has an Identity), DiagHessian is compared with the brute-force
 * `bruteforce.diag_h`, and BatchDiagHessian with it summed over the batch and
 * per sample with finite differences of `.grad`. A float32 run is checked at
 * 1e-4 relative to the largest entry, as the golden README asks of float32.
 *
 * Set BACKPACK_GOLDEN_VERBOSE=1 to print every comparison.
 */
import { cpu } from '@backpack-ts/backend-cpu';
import {
  backpack,
  sum,
  type Extension,
  type FloatDType,
  type Parameter,
  type Tensor,
} from '@backpack-ts/core';
import {
  buildSupportedGoldenModel,
  compareArrays,
  compareTensor,
  failedMessages,
  goldenTestCases,
  failUnknownTypes,
  logReportsIfVerbose,
  sampleOf,
  WorstRelErrors,
  type CompareReport,
  type GoldenCase,
  type GoldenModel,
  type GoldenTensor,
} from '@backpack-ts/conformance';
import { afterAll, describe, expect, it } from 'vitest';
import { BatchDiagHessian, DiagHessian } from '../src/index.js';
import { FD_TOLERANCE, perSampleHessianDiagonalByFD } from './helpers/brute-force.js';

const TOLERANCE = 1e-10;
const FLOAT32_TOLERANCE = 1e-4;

/** Worst relative error per case and quantity, printed at the end. */
const worst = new WorstRelErrors();

function expectOk(reports: readonly CompareReport[]): void {
  logReportsIfVerbose(reports);
  expect(reports.length).toBeGreaterThan(0);
  expect(failedMessages(reports)).toEqual([]);
}

function build(golden: GoldenCase, dtype: FloatDType = 'float64'): GoldenModel {
  return buildSupportedGoldenModel(golden, { backend: cpu, dtype });
}

/** Forward + backward with `extensions`; returns the model's parameters by name. */
function run(golden: GoldenCase, extensions: readonly Extension[], dtype: FloatDType = 'float64'): Map<string, Parameter> {
  const built = build(golden, dtype);
  const loss = built.loss.forward(built.model.forward(built.input), built.target);
  backpack(extensions, () => loss.backward());
  return new Map(built.model.namedParameters());
}

/** Sums a golden `[N, ...p]` tensor over N. */
function sumSamples(t: Tensor): Tensor {
  return sum(t, 0);
}

/** BatchDiagHessian by finite differences of `.grad` of each sample's term of the loss. */
function perSampleByFD(golden: GoldenCase): Map<string, GoldenTensor> {
  const built = build(golden);
  const n = golden.case.batch;
  const scale = (golden.case.loss.reduction ?? 'mean') === 'mean' ? 1 / n : 1;
  const named = built.model.namedParameters();
  const fd = perSampleHessianDiagonalByFD(
    named.map(([, p]) => p),
    n,
    (i) => built.loss.forward(built.model.forward(sampleOf(built.input, i)), sampleOf(built.target, i)),
  );
  return new Map(
    named.map(([name, p], k) => [name, { shape: [n, ...p.data.shape], data: Array.from(fd[k]!, (v) => v * scale) }]),
  );
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

    const referenceFailed = (name: string) => golden.errors?.[name] !== undefined;
    const names = Object.keys(golden.params);

    /** DiagHessian of every parameter vs `quantities` (or brute force where the reference failed). */
    function checkDiagH(parameters: Map<string, Parameter>, tolerance = TOLERANCE): CompareReport[] {
      return names.map((name) => {
        const expected = golden.quantities['DiagHessian']?.[name] ?? golden.bruteforce?.diag_h?.[name];
        if (expected === undefined || Array.isArray(expected)) throw new Error(`${golden.name}: no DiagHessian reference for ${name}`);
        const source = golden.quantities['DiagHessian']?.[name] === undefined ? ' (vs bruteforce.diag_h)' : '';
        return compareTensor(parameters.get(name)!.diagH, expected as GoldenTensor, {
          tolerance,
          label: `${golden.name} ${name} DiagHessian${source}`,
        });
      });
    }

    /** BatchDiagHessian vs `quantities`, or (reference failed) its batch sum vs `bruteforce.diag_h`. */
    function checkBatchDiagH(parameters: Map<string, Parameter>, tolerance = TOLERANCE): CompareReport[] {
      return names.map((name) => {
        const actual = parameters.get(name)!.diagHBatch;
        const stored = golden.quantities['BatchDiagHessian']?.[name];
        if (stored !== undefined) {
          return compareTensor(actual, stored as GoldenTensor, { tolerance, label: `${golden.name} ${name} BatchDiagHessian` });
        }
        const bruteforce = golden.bruteforce?.diag_h?.[name];
        if (bruteforce === undefined) throw new Error(`${golden.name}: no BatchDiagHessian reference for ${name}`);
        return compareTensor(actual === undefined ? undefined : sumSamples(actual), bruteforce, {
          tolerance,
          label: `${golden.name} ${name} BatchDiagHessian summed over N (vs bruteforce.diag_h)`,
        });
      });
    }

    it('DiagHessian and BatchDiagHessian together (float64)', () => {
      const parameters = run(golden, [new DiagHessian(), new BatchDiagHessian()]);
      const diag = checkDiagH(parameters);
      const batch = checkBatchDiagH(parameters);
      worst.record(`${golden.name} DiagHessian${referenceFailed('DiagHessian') ? ' (vs bruteforce)' : ''}`, diag);
      worst.record(`${golden.name} BatchDiagHessian${referenceFailed('BatchDiagHessian') ? ' (sum vs bruteforce)' : ''}`, batch);
      expectOk([...diag, ...batch]);
    });

    it('DiagHessian alone (float64)', () => {
      expectOk(checkDiagH(run(golden, [new DiagHessian()])));
    });

    it('BatchDiagHessian alone (float64)', () => {
      expectOk(checkBatchDiagH(run(golden, [new BatchDiagHessian()])));
    });

    it('DiagHessian and BatchDiagHessian in float32 (relative error <= 1e-4 of the largest entry)', () => {
      const parameters = run(golden, [new DiagHessian(), new BatchDiagHessian()], 'float32');
      const reports = [...checkDiagH(parameters, FLOAT32_TOLERANCE), ...checkBatchDiagH(parameters, FLOAT32_TOLERANCE)];
      worst.record(`${golden.name} float32 (both)`, reports);
      expectOk(reports);
    });

    if (golden.quantities['BatchDiagHessian'] === undefined) {
      it('BatchDiagHessian per sample vs finite differences of .grad (reference failed)', () => {
        const parameters = run(golden, [new BatchDiagHessian()]);
        const fd = perSampleByFD(golden);
        const reports = names.map((name) => {
          const actual = parameters.get(name)!.diagHBatch!;
          return compareArrays({ shape: actual.shape, data: actual.toArray() }, fd.get(name)!, {
            tolerance: FD_TOLERANCE,
            label: `${golden.name} ${name} BatchDiagHessian (vs finite differences)`,
          });
        });
        worst.record(`${golden.name} BatchDiagHessian per sample (vs FD)`, reports);
        expectOk(reports);
      });
    }
  });
}

afterAll(() => {
  const summary = worst.summary('golden DiagHessian / BatchDiagHessian (float64, cpu):');
  if (summary !== undefined) console.log(summary);
});
