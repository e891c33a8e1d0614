/**
 * The golden reference cases (BackPACK 1.6 in float64), for KFLR, KFRA and
 * KFAC on the cpu backend in float64:
 * - KFLR and KFRA equal the reference's `quantities` (relative error <= 1e-10);
 * - where the reference failed (`errors`), and everywhere else too, they
 *   equal an independent computation with explicit per-sample Jacobians
 *   (test/reference.ts), which itself is first checked against the golden
 *   forward pass, against every golden KFLR/KFRA it can be compared with, and
 *   its activation derivatives against finite differences;
 * - KFLR's bias factor equals the exact bias GGN built from the golden
 *   `SqrtGGNExact` (also for cases where the reference has no KFLR);
 * - KFAC (one random sample in the golden file): factor shapes only (the
 *   reference's where it has KFAC, else the independent computation's).
 *
 * Cases with RNN or LSTM are refused, with the reason (no Kronecker factors
 * for recurrent layers, in the reference either). Every other case runs,
 * convolutions, pooling, padding and BatchNorm included;
 * where the reference failed (BatchNorm, AdaptiveAvgPool, LogSigmoid, ...)
 * the independent computation is the only check.
 * Set BACKPACK_GOLDEN_VERBOSE=1 to print every comparison.
 */
import { cpu } from '@backpack-ts/backend-cpu';
import {
  buildSupportedGoldenModel,
  compareArrays,
  compareQuantity,
  failedMessages,
  goldenTestCases,
  failUnknownTypes,
  isTensorList,
  logReportsIfVerbose,
  WorstRelErrors,
  type CompareReport,
  type GoldenCase,
} from '@backpack-ts/conformance';
import type { Parameter } from '@backpack-ts/core';
import { afterAll, describe, expect, it } from 'vitest';
import { KFAC, KFLR, KFRA, NoKroneckerFactorsError } from '../src/index.js';
import { compareFactorList, hasRecurrentLayer, refProblemFromGolden, runExtensions, TOLERANCE } from './helpers.js';
import { activation, referenceKronecker, relativeError, type RefResult } from './reference.js';

const worst = new WorstRelErrors();

function record(caseName: string, what: string, reports: readonly CompareReport[]): void {
  worst.record(`${caseName} ${what}`, reports);
  logReportsIfVerbose(reports);
}

afterAll(() => {
  const summary = worst.summary(`kronecker golden summary (float64, tolerance ${TOLERANCE}):`);
  if (summary !== undefined) console.log(summary);
});

const build = (golden: GoldenCase) => buildSupportedGoldenModel(golden, { backend: cpu, dtype: 'float64' });

type Field = 'kfac' | 'kflr' | 'kfra';
const extensions = {
  KFLR: () => new KFLR(),
  KFRA: () => new KFRA(),
  KFAC: () => new KFAC({ seed: 0 }),
} as const;
const fields: Record<keyof typeof extensions, Field> = { KFLR: 'kflr', KFRA: 'kfra', KFAC: 'kfac' };

/** Runs one extension on the golden case; returns its parameters by golden name. */
function run(golden: GoldenCase, name: keyof typeof extensions): Map<string, Parameter> {
  const built = build(golden);
  runExtensions(built.model, built.loss, built.input, built.target, [extensions[name]()]);
  return new Map(built.model.namedParameters());
}

/** `"3.weight"` -> layer 3, `"weight"`. */
function splitName(param: string): { layer: number; local: string } {
  const [layer, local] = param.split('.');
  return { layer: Number(layer), local: local! };
}

function compareWithReference(
  golden: GoldenCase,
  reference: RefResult,
  parameters: ReadonlyMap<string, Parameter>,
  name: 'KFLR' | 'KFRA',
  tolerance = TOLERANCE,
): CompareReport[] {
  const reports: CompareReport[] = [];
  for (const param of Object.keys(golden.params)) {
    const { layer, local } = splitName(param);
    const expected = reference.factors.get(layer)![name === 'KFLR' ? 'kflr' : 'kfra'];
    const actual = parameters.get(param)![fields[name]];
    const list = local === 'weight' ? expected.weight : expected.bias;
    expect(actual?.length).toBe(list.length);
    reports.push(...compareFactorList(actual, list, `${golden.name} ${param} ${name} vs independent reference`, tolerance));
  }
  return reports;
}

/** Layer types whose reference activation can be checked against finite differences. */
const ACTIVATIONS = new Set(['ReLU', 'Sigmoid', 'Tanh', 'LeakyReLU', 'ELU', 'SELU', 'LogSigmoid']);

const { cases, skipMessage } = goldenTestCases();

if (skipMessage !== undefined) {
  console.warn(skipMessage);
  it.skip(`golden reference cases: ${skipMessage}`, () => {});
}

for (const { golden, problem: unknownTypes } of cases) {
  describe(`golden ${golden.name}`, () => {
    if (unknownTypes !== undefined) {
      it('builds its network', () => failUnknownTypes(unknownTypes));
      return;
    }
    if (hasRecurrentLayer(golden)) {
      // Neither the reference nor this package defines Kronecker factors for RNN and LSTM.
      it('KFLR, KFRA and KFAC refuse its recurrent layer with the reason, before anything is modified', () => {
        for (const name of ['KFLR', 'KFRA', 'KFAC'] as const) {
          const built = build(golden);
          expect(() => runExtensions(built.model, built.loss, built.input, built.target, [extensions[name]()])).toThrow(NoKroneckerFactorsError);
          expect(built.model.parameters().every((p) => p.grad === undefined)).toBe(true);
        }
      });
      return;
    }
    // The independent reference is a chain of layers: it cannot express Parallel's branches.
    const sequential = !golden.case.layers.some((layer) => layer.type === 'Parallel');
    const reference = sequential ? referenceKronecker(refProblemFromGolden(golden)) : undefined;
    const errors = golden.errors ?? {};
    if (reference === undefined) {
      it.skip('independent computation: not for Parallel (the reference is sequential); the KFLR biases are checked against the golden SqrtGGNExact and KFAC against the golden shapes', () => {});
    } else {
      it('the independent reference reproduces the golden forward pass and golden KFLR/KFRA', () => {
        const output = reference.outputs.flat();
        expect(relativeError(output, [...golden.output.data])).toBeLessThanOrEqual(TOLERANCE);
        // Activation derivatives of the reference against central finite differences.
        for (const spec of golden.case.layers) {
          if (!ACTIVATIONS.has(spec.type)) continue;
          const act = activation(spec.type, spec);
          for (const x of [-2.3, -0.7, -0.1, 0.2, 0.9, 1.7]) {
            const h = 1e-5;
            expect(Math.abs((act.f(x + h) - act.f(x - h)) / (2 * h) - act.df(x))).toBeLessThan(1e-8);
            expect(Math.abs((act.df(x + h) - act.df(x - h)) / (2 * h) - act.d2f(x))).toBeLessThan(1e-8);
          }
        }
        let compared = 0;
        for (const name of ['KFLR', 'KFRA'] as const) {
          for (const [param, quantity] of Object.entries(golden.quantities[name] ?? {})) {
            if (!isTensorList(quantity)) throw new Error(`${name} ${param} is not a list`);
            const { layer, local } = splitName(param);
            const factors = reference.factors.get(layer)![name === 'KFLR' ? 'kflr' : 'kfra'];
            const list = local === 'weight' ? factors.weight : factors.bias;
            expect(list.map((t) => t.shape)).toEqual(quantity.map((t) => t.shape));
            list.forEach((t, i) => expect(relativeError([...t.data], [...quantity[i]!.data])).toBeLessThanOrEqual(TOLERANCE));
            compared++;
          }
        }
        if (compared === 0) console.log(`${golden.name}: no golden KFLR/KFRA to check the reference against (${Object.keys(errors).join(', ')} failed in the reference)`);
      });

      for (const name of ['KFLR', 'KFRA'] as const) {
        const why = errors[name] === undefined ? '' : ` (the reference failed: ${errors[name]!.split('\n')[0]!.slice(0, 80)})`;
        it(`${name} equals the independent computation with explicit per-sample Jacobians${why}`, () => {
          const reports = compareWithReference(golden, reference, run(golden, name), name);
          record(golden.name, `${name} vs independent`, reports);
          expect(failedMessages(reports)).toEqual([]);
        });
      }
    }

    for (const name of ['KFLR', 'KFRA'] as const) {
      const stored = golden.quantities[name];
      if (stored !== undefined) {
        it(`${name} equals the golden quantities`, () => {
          const parameters = run(golden, name);
          const reports: CompareReport[] = [];
          for (const [param, expected] of Object.entries(stored)) {
            reports.push(
              ...compareQuantity(parameters.get(param)![fields[name]], expected, {
                tolerance: TOLERANCE,
                label: `${golden.name} ${param} ${name}`,
              }),
            );
          }
          record(golden.name, `${name} vs golden`, reports);
          expect(reports.length).toBe(Object.keys(golden.params).length + Object.keys(golden.params).filter((p) => p.endsWith('weight')).length);
          expect(failedMessages(reports)).toEqual([]);
        });
      }
    }

    const sqrtGgn = golden.quantities['SqrtGGNExact'];
    const biases = Object.keys(golden.params).filter((p) => p.endsWith('.bias'));
    if (sqrtGgn !== undefined && biases.length > 0) {
      it('KFLR bias factor equals the exact bias GGN Σ_{c,n} s sᵀ of the golden SqrtGGNExact', () => {
        const parameters = run(golden, 'KFLR');
        const reports = biases.map((param) => {
          const s = sqrtGgn[param];
          if (s === undefined || isTensorList(s)) throw new Error(`no SqrtGGNExact for ${param}`);
          const out = s.shape[s.shape.length - 1]!;
          const columns = s.data.length / out;
          const ggn = new Array<number>(out * out).fill(0);
          for (let k = 0; k < columns; k++) {
            for (let o = 0; o < out; o++) for (let p = 0; p < out; p++) ggn[o * out + p]! += s.data[k * out + o]! * s.data[k * out + p]!;
          }
          const actual = parameters.get(param)!.kflr![0]!;
          return compareArrays({ shape: actual.shape, data: actual.toArray() }, { shape: [out, out], data: ggn }, {
            tolerance: TOLERANCE,
            label: `${golden.name} ${param} KFLR vs SqrtGGNExact`,
          });
        });
        record(golden.name, 'KFLR bias vs golden SqrtGGNExact', reports);
        expect(failedMessages(reports)).toEqual([]);
      });
    }

    if (reference !== undefined) it('KFLR and KFRA in float32 agree with the float64 reference values within 1e-4', () => {
      for (const name of ['KFLR', 'KFRA'] as const) {
        const built = buildSupportedGoldenModel(golden, { backend: cpu, dtype: 'float32' });
        runExtensions(built.model, built.loss, built.input, built.target, [extensions[name]()]);
        for (const [, parameter] of built.model.namedParameters()) {
          for (const factor of parameter[fields[name]]!) expect(factor.dtype).toBe('float32');
        }
        const reports = compareWithReference(golden, reference, new Map(built.model.namedParameters()), name, 1e-4);
        record(golden.name, `${name} float32 (tolerance 1e-4)`, reports);
        expect(failedMessages(reports)).toEqual([]);
      }
    });

    it('KFAC (one Monte-Carlo sample): factor shapes as the reference', () => {
      const parameters = run(golden, 'KFAC');
      for (const param of Object.keys(golden.params)) {
        const { layer, local } = splitName(param);
        const stored = golden.quantities['KFAC']?.[param];
        const independent = () => reference!.factors.get(layer)!.kflr;
        const expectedShapes =
          stored !== undefined
            ? (stored as readonly { shape: readonly number[] }[]).map((t) => [...t.shape])
            : (local === 'weight' ? independent().weight : independent().bias).map((t) => [...t.shape]);
        const actual = parameters.get(param)!.kfac!;
        expect(actual.map((t) => t.shape)).toEqual(expectedShapes);
        for (const t of actual) expect(t.toArray().every(Number.isFinite)).toBe(true);
      }
    });
  });
}
