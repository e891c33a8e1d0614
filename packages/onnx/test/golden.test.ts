/**
 * The golden networks exported from PyTorch (`onnx/*.onnx` beside the cases
 * in ../shared/golden and ../shared/golden-modules):
 * each is imported, checked against onnxruntime-node, and run through the
 * CLI with the golden batch; every quantity is compared with BackPACK's.
 *
 * (a) With the file's float32 weights the quantities agree to about 1e-4
 *     (relative to each tensor's largest entry).
 * (b) With the golden float64 parameters loaded by name into the imported
 *     model, they agree to 1e-10: the import's structure is exact.
 *
 * Monte-Carlo quantities (DiagGGNMC, KFAC) are compared by shape.
 * Set BACKPACK_GOLDEN_VERBOSE=1 to print every comparison.
 */
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cpu } from '@backpack-ts/backend-cpu';
import { tensor, type Tensor } from '@backpack-ts/core';
import {
  compareArrays,
  expectedQuantity,
  listGoldenCases,
  isTensorList,
  loadGoldenCase,
  type CompareReport,
  type GoldenCase,
  type GoldenQuantity,
} from '@backpack-ts/conformance';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../src/cli/main.js';
import { computeQuantities, createLoss, importOnnx, verifyWithOnnxRuntime, type ResultQuantity, type ResultTensor, type QuantitiesResult } from '../src/index.js';

const MONTE_CARLO = new Set(['DiagGGNMC', 'BatchDiagGGNMC', 'SqrtGGNMC', 'KFAC']);
const verbose = process.env['BACKPACK_GOLDEN_VERBOSE'] === '1';
/** Every golden case with an exported network beside it. */
const cases = listGoldenCases()
  .map((file) => ({ name: file.name, goldenPath: file.path, onnxPath: join(file.dir, 'onnx', `${file.name}.onnx`) }))
  .filter((c) => existsSync(c.onnxPath));

/** Per-case numbers for the summary printed at the end. */
const summary = new Map<string, { ort?: number; a?: number; b?: number; compared?: number }>();

afterAll(() => {
  if (summary.size === 0) return;
  const lines = [...summary].map(
    ([name, s]) =>
      `${name.padEnd(24)} forward vs ORT ${s.ort?.toExponential(2) ?? '-'}  (a) float32 weights ${s.a?.toExponential(2) ?? '-'}  (b) golden float64 ${s.b?.toExponential(2) ?? '-'}  (${s.compared ?? 0} tensors)`,
  );
  console.log(`golden ONNX cases (max relative errors):\n${lines.join('\n')}`);
});

if (cases.length === 0) {
  it('golden ONNX files', () => {
    throw new Error('golden ONNX files not found in the onnx/ folders of the golden directories');
  });
}

/**
 * The extensions the reference computed; where it computed none
 * (`rnn_relu_seq_ce`: BackPACK refuses ReLU RNNs), the first-order ones,
 * which are compared with the brute-force per-sample gradients.
 */
function extensionsOf(golden: GoldenCase): string[] {
  const computed = Object.keys(golden.quantities).filter((name) => name !== 'grad');
  return computed.length > 0 ? computed : ['BatchGrad', 'Variance', 'SumGradSquared', 'BatchL2Grad'];
}

/** Compares every quantity of `result` with the golden ones; Monte-Carlo ones by shape. */
function compareAll(golden: GoldenCase, result: QuantitiesResult, tolerance: number, label: string): CompareReport[] {
  const reports: CompareReport[] = [];
  reports.push(compareArrays(result.output, golden.output, { tolerance, label: `${label} output` }));
  reports.push(compareArrays({ shape: [], data: [result.loss] }, { shape: [], data: [golden.loss] }, { tolerance, label: `${label} loss` }));
  for (const quantity of ['grad', ...extensionsOf(golden)]) {
    for (const param of Object.keys(golden.params)) {
      const expected = expectedQuantity(golden, quantity, param);
      if (expected === undefined) continue;
      const actual = result.quantities[quantity]?.[param];
      const where = `${label} ${param} ${quantity}`;
      if (actual === undefined) {
        reports.push(compareArrays({ shape: [-1], data: [] }, { shape: [0], data: [] }, { tolerance, label: `${where} (missing)` }));
        continue;
      }
      const pairs = pairUp(actual, expected.value);
      if (pairs === undefined) {
        reports.push(compareArrays({ shape: [-1], data: [] }, { shape: [0], data: [] }, { tolerance, label: `${where} (structure differs)` }));
        continue;
      }
      pairs.forEach(([a, e], i) => {
        const name = pairs.length > 1 ? `${where}[${i}]` : where;
        if (MONTE_CARLO.has(quantity)) {
          // One Monte-Carlo sample with PyTorch's random numbers cannot be reproduced: the shape must match.
          const sameShape = a.shape.length === e.shape.length && a.shape.every((d, k) => d === e.shape[k]);
          reports.push(compareArrays({ shape: a.shape, data: new Array<number>(a.data.length).fill(0) }, { shape: e.shape, data: new Array<number>(e.data.length).fill(0) }, { tolerance, label: `${name} (shape only)` }));
          if (!sameShape) return;
        } else reports.push(compareArrays(a, e, { tolerance, label: name }));
      });
    }
  }
  if (verbose) for (const r of reports) console.log(r.message);
  return reports;
}

function pairUp(actual: ResultQuantity, expected: GoldenQuantity) {
  if (isTensorList(expected)) {
    if (!Array.isArray(actual) || actual.length !== expected.length) return undefined;
    return actual.map((a, i) => [a, expected[i]!] as const);
  }
  if (Array.isArray(actual)) return undefined;
  return [[actual, expected] as const];
}

function worst(reports: readonly CompareReport[]): number {
  return reports.filter((r) => !r.label.endsWith('(shape only)')).reduce((m, r) => Math.max(m, r.relError), 0);
}

function expectAllOk(reports: readonly CompareReport[]): void {
  expect(reports.length).toBeGreaterThan(2);
  expect(reports.filter((r) => !r.ok).map((r) => r.message)).toEqual([]);
}

for (const { name, goldenPath, onnxPath } of cases) {
  describe(`golden ONNX ${name}`, () => {
    const golden = loadGoldenCase(goldenPath);
    const lossType = golden.case.loss.type;
    const reduction = golden.case.loss.reduction ?? 'mean';
    const intTarget = lossType === 'CrossEntropyLoss';
    const stats = () => summary.get(name) ?? (summary.set(name, {}), summary.get(name)!);

    it('imports with the PyTorch parameter names and matches onnxruntime-node on the golden input', async () => {
      const model = importOnnx(onnxPath, { backend: cpu, dtype: 'float64' });
      expect(model.namedParameters().map(([n]) => n).sort()).toEqual(Object.keys(golden.params).sort());
      for (const [param, p] of model.namedParameters()) expect(p.data.shape).toEqual(golden.params[param]!.shape);
      const report = await verifyWithOnnxRuntime(model, golden.input);
      stats().ort = report.maxRelDiff;
      expect(report.ok, report.message).toBe(true);
      expect(report.maxRelDiff).toBeLessThan(1e-5);
    });

    it('(a) the CLI reproduces every golden quantity from the float32 weights (1e-4)', async () => {
      const work = mkdtempSync(join(tmpdir(), `backpack-onnx-${name}-`));
      writeFileSync(join(work, 'X.json'), JSON.stringify(golden.input));
      writeFileSync(join(work, 'y.json'), JSON.stringify(golden.target));
      const stderr: string[] = [];
      const code = await main(
        [
          'quantities',
          onnxPath,
          '--input', 'X.json',
          '--target', 'y.json',
          '--loss', lossType,
          '--reduction', reduction,
          '--extensions', extensionsOf(golden).join(','),
          '--seed', '0',
          '--out', 'result.json',
        ],
        { stdout: () => {}, stderr: (t) => stderr.push(t), cwd: work },
      );
      expect(code, stderr.join('')).toBe(0);
      expect(stderr.join('')).toMatch(/forward check against onnxruntime-node 1\.30\.0: ok/);
      for (const extension of extensionsOf(golden)) expect(stderr.join('')).toMatch(new RegExp(`[:,] ${extension} [\\d.]+ s`));
      const result = JSON.parse(readFileSync(join(work, 'result.json'), 'utf8')) as QuantitiesResult;
      const reports = compareAll(golden, result, 1e-4, `${name} (a)`);
      stats().a = worst(reports);
      expectAllOk(reports);
    });

    /** The imported model with the golden float64 parameters and buffers, and the golden batch. */
    function withGoldenParameters() {
      const model = importOnnx(onnxPath, { backend: cpu, dtype: 'float64' });
      const state: Record<string, Tensor> = {};
      for (const [param, t] of [...Object.entries(golden.params), ...Object.entries(golden.buffers ?? {})]) {
        state[param] = tensor(t.data, t.shape, { backend: cpu, dtype: 'float64' });
      }
      model.loadStateDict(state);
      const input = tensor(golden.input.data, golden.input.shape, { backend: cpu, dtype: 'float64' });
      const target = tensor(golden.target.data, golden.target.shape, { backend: cpu, dtype: intTarget ? 'int32' : 'float64' });
      return { model, input, target };
    }

    it('(b) with the golden float64 parameters loaded by name, every quantity agrees to 1e-10', () => {
      const { model, input, target } = withGoldenParameters();
      const result = computeQuantities(model, input, target, { loss: createLoss(lossType, reduction), extensions: extensionsOf(golden), seed: 0 });
      const reports = compareAll(golden, result, 1e-10, `${name} (b)`);
      stats().b = worst(reports);
      stats().compared = reports.length;
      expectAllOk(reports);
    });

    it('(b) Hessian and GGN diagonals agree with the autograd brute force to 1e-10, also where the reference failed', () => {
      const { model, input, target } = withGoldenParameters();
      const result = computeQuantities(model, input, target, {
        loss: createLoss(lossType, reduction),
        extensions: ['DiagHessian', 'BatchDiagHessian', 'DiagGGNExact'],
      });
      const reports: CompareReport[] = [];
      for (const [param, diagH] of Object.entries(golden.bruteforce?.diag_h ?? {})) {
        reports.push(compareArrays(result.quantities['DiagHessian']![param] as ResultTensor, diagH, { tolerance: 1e-10, label: `${name} ${param} DiagHessian vs brute force` }));
        const batch = result.quantities['BatchDiagHessian']![param] as ResultTensor;
        const per = diagH.data.length;
        const summed = { shape: batch.shape.slice(1), data: Array.from({ length: per }, (_, j) => batch.data.reduce((s, v, k) => (k % per === j ? s + v : s), 0)) };
        reports.push(compareArrays(summed, diagH, { tolerance: 1e-10, label: `${name} ${param} BatchDiagHessian summed vs brute force` }));
      }
      for (const [param, ggn] of Object.entries(golden.bruteforce?.diag_ggn_exact ?? {})) {
        reports.push(compareArrays(result.quantities['DiagGGNExact']![param] as ResultTensor, ggn, { tolerance: 1e-10, label: `${name} ${param} DiagGGNExact vs brute force` }));
      }
      if (verbose) for (const r of reports) console.log(r.message);
      expectAllOk(reports);
    });
  });
}
