/**
 * The golden conformance suite for the GGN extensions on the CPU backend:
 * every golden case whose layers core implements is built and run backward
 * with all six extensions (and again with the three exact ones each alone).
 *
 * - DiagGGNExact, BatchDiagGGNExact, SqrtGGNExact are compared with the
 *   reference's `quantities` (relative error <= 1e-10 in float64, <= 1e-4 in
 *   float32, relative to the largest expected entry). Where the reference
 *   failed (`errors`), they are compared with the brute-force GGN diagonal
 *   instead: DiagGGNExact directly, BatchDiagGGNExact summed over the batch,
 *   SqrtGGNExact as `Σ_c Σ_n P²`.
 * - DiagGGNExact is also compared with the brute-force diagonal always.
 * - The Monte-Carlo ones (1 sample of PyTorch's random numbers in the golden
 *   files) are checked for shape only.
 *
 * Set BACKPACK_GOLDEN_VERBOSE=1 to print every comparison.
 */
import { cpu } from '@backpack-ts/backend-cpu';
import {
  buildSupportedGoldenModel,
  compareTensor,
  failedMessages,
  goldenTestCases,
  failUnknownTypes,
  logReportsIfVerbose,
  WorstRelErrors,
  type CompareReport,
  type GoldenCase,
  type GoldenTensor,
} from '@backpack-ts/conformance';
import { backpack, square, sum, tidy, type Extension, type FloatDType, type Parameter, type Tensor } from '@backpack-ts/core';
import { afterAll, describe, expect, it } from 'vitest';
import {
  BatchDiagGGNExact,
  BatchDiagGGNMC,
  DiagGGNExact,
  DiagGGNMC,
  SqrtGGNExact,
  SqrtGGNMC,
} from '../src/index.js';

const precisions: readonly { dtype: FloatDType; tolerance: number }[] = [
  { dtype: 'float64', tolerance: 1e-10 },
  { dtype: 'float32', tolerance: 1e-4 },
];

type ExactName = 'DiagGGNExact' | 'BatchDiagGGNExact' | 'SqrtGGNExact';

/** Largest relative error per case, dtype and quantity, printed at the end. */
const worst = new WorstRelErrors();

afterAll(() => {
  const summary = worst.summary('GGN golden: largest relative errors');
  if (summary !== undefined) console.log(summary);
});

/** What the extension computed, reduced to what the brute-force diagonal holds (`[...param]`). */
function asDiagonal(extension: ExactName, value: Tensor): Tensor {
  if (extension === 'DiagGGNExact') return value;
  if (extension === 'BatchDiagGGNExact') return sum(value, 0);
  return sum(square(value), [0, 1]);
}

/**
 * Compares one exact quantity of one parameter with the reference: its
 * `quantities` where the reference computed it, else the brute-force GGN
 * diagonal (only where the reference reported an error).
 */
function compareExact(
  golden: GoldenCase,
  extension: ExactName,
  name: string,
  actual: Tensor | undefined,
  options: { tolerance: number; label: string },
): CompareReport {
  const stored = golden.quantities[extension]?.[name] as GoldenTensor | undefined;
  if (stored !== undefined) return compareTensor(actual, stored, options);
  const bruteforce = golden.bruteforce?.diag_ggn_exact?.[name];
  if (golden.errors?.[extension] === undefined || bruteforce === undefined) {
    throw new Error(`${golden.name}: no reference value for ${extension} ${name}`);
  }
  return compareTensor(actual === undefined ? undefined : asDiagonal(extension, actual), bruteforce, {
    ...options,
    label: `${options.label} (vs brute force)`,
  });
}

const exactFields: Readonly<Record<ExactName, keyof Parameter>> = {
  DiagGGNExact: 'diagGgnExact',
  BatchDiagGGNExact: 'diagGgnExactBatch',
  SqrtGGNExact: 'sqrtGgnExact',
};

function exactExtension(name: ExactName): Extension {
  if (name === 'DiagGGNExact') return new DiagGGNExact();
  if (name === 'BatchDiagGGNExact') return new BatchDiagGGNExact();
  return new SqrtGGNExact();
}

/**
 * Runs the case backward with `extensions` and returns the comparison of
 * every exact quantity they include; checks the Monte-Carlo shapes.
 */
function runCase(
  golden: GoldenCase,
  extensions: readonly Extension[],
  dtype: FloatDType,
  tolerance: number,
): CompareReport[] {
  return tidy(() => {
    const built = buildSupportedGoldenModel(golden, { backend: cpu, dtype });
    const loss = built.loss.forward(built.model.forward(built.input), built.target);
    backpack(extensions, () => loss.backward());

    const n = golden.input.shape[0]!;
    const outputs = golden.output.data.length / n;
    const parameters = new Map(built.model.namedParameters());
    const names = new Set(extensions.map((e) => e.name));
    const reports: CompareReport[] = [];
    for (const [name, parameter] of parameters) {
      const shape = parameter.data.shape;
      for (const extension of ['DiagGGNExact', 'BatchDiagGGNExact', 'SqrtGGNExact'] as const) {
        if (!names.has(extension)) continue;
        const actual = parameter[exactFields[extension]] as Tensor | undefined;
        const report = compareExact(golden, extension, name, actual, {
          tolerance,
          label: `${golden.name} [${dtype}] ${name} ${extension}`,
        });
        worst.record(`${golden.name} ${dtype} ${extension}`, [report]);
        reports.push(report);
      }
      if (names.has('DiagGGNExact') && golden.bruteforce?.diag_ggn_exact?.[name] !== undefined) {
        const report = compareTensor(parameter.diagGgnExact, golden.bruteforce.diag_ggn_exact[name], {
          tolerance,
          label: `${golden.name} [${dtype}] ${name} DiagGGNExact (vs brute force)`,
        });
        worst.record(`${golden.name} ${dtype} DiagGGNExact vs brute force`, [report]);
        reports.push(report);
      }
      if (names.has('DiagGGNMC')) {
        const reference = golden.quantities['DiagGGNMC']?.[name] as GoldenTensor | undefined;
        expect(parameter.diagGgnMc?.shape).toEqual(reference?.shape ?? shape);
        expect(parameter.diagGgnMcBatch?.shape).toEqual([n, ...shape]);
        expect(parameter.sqrtGgnMc?.shape).toEqual([1, n, ...shape]);
      }
      if (names.has('SqrtGGNExact')) expect(parameter.sqrtGgnExact?.shape).toEqual([outputs, n, ...shape]);
    }
    return reports;
  });
}

function expectAllOk(reports: readonly CompareReport[]): void {
  logReportsIfVerbose(reports);
  expect(reports.length).toBeGreaterThan(0);
  expect(failedMessages(reports)).toEqual([]);
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
      it(`all six GGN extensions together (${dtype})`, () => {
        const extensions = [
          new DiagGGNExact(),
          new BatchDiagGGNExact(),
          new SqrtGGNExact(),
          new DiagGGNMC({ seed: 0 }),
          new BatchDiagGGNMC({ seed: 1 }),
          new SqrtGGNMC({ seed: 2 }),
        ];
        const reports = runCase(golden, extensions, dtype, tolerance);
        // Three exact quantities plus the brute-force check, per parameter.
        expect(reports.length).toBe(4 * Object.keys(golden.params).length);
        expectAllOk(reports);
      });

      for (const extension of ['DiagGGNExact', 'BatchDiagGGNExact', 'SqrtGGNExact'] as const) {
        it(`${extension} alone (${dtype})`, () => {
          expectAllOk(runCase(golden, [exactExtension(extension)], dtype, tolerance));
        });
      }
    }
  });
}
