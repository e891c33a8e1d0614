/**
 * The recurrent golden cases (../shared/golden-modules: RNN and LSTM after
 * BackPACK's ReduceTuple, with Permute, Slicing, Pad, MSELoss on [N, T, k]
 * and CrossEntropyLoss on [N, C, T] around them), built here with core's
 * RNN, LSTM and ReduceTuple and test-local stand-ins for the shape modules
 * (helpers/shape-modules.ts) until core has them.
 *
 * In float64 (relative error <= 1e-10) and float32 (<= 1e-4), as stored
 * (batch-first) and time-major (the input transposed, `batchFirst: false`,
 * ReduceTuple replaced by a Permute back to batch-first):
 * - the output and the loss;
 * - every quantity the reference computed (`quantities`: .grad, BatchGrad,
 *   Variance, SumGradSquared, BatchL2Grad, DiagGGNExact, BatchDiagGGNExact;
 *   DiagGGNMC by shape);
 * - against the brute force (`bruteforce`, autograd on the real modules):
 *   the first-order quantities from `grad_batch`, DiagGGNExact,
 *   BatchDiagGGNExact (summed) and SqrtGGNExact (`Σ P²`) against
 *   `diag_ggn_exact`, DiagHessian and BatchDiagHessian (summed) against
 *   `diag_h` — also where BackPACK failed;
 * - KFAC, KFLR and KFRA refuse the recurrent layer with the reason.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { cpu } from '@backpack-ts/backend-cpu';
import {
  CrossEntropyLoss,
  MSELoss,
  Sequential,
  backpack,
  extend,
  square,
  sum,
  tensor,
  transpose,
  type Extension,
  type FloatDType,
  type LossModule,
  type Module,
  type Parameter,
  type Quantity,
  type Tensor,
} from '@backpack-ts/core';
import { BatchDiagGGNExact, BatchDiagGGNMC, DiagGGNExact, DiagGGNMC, SqrtGGNExact, SqrtGGNMC } from '@backpack-ts/diag-ggn';
import { BatchDiagHessian, DiagHessian } from '@backpack-ts/diag-hessian';
import { BatchGrad, BatchL2Grad, SumGradSquared, Variance } from '@backpack-ts/first-order';
import { KFAC, KFLR, KFRA, NoKroneckerFactorsError } from '@backpack-ts/kronecker';
import { describe, expect, it } from 'vitest';
import {
  buildGoldenLayer,
  compareShapes,
  compareTensor,
  expectedQuantity,
  failedMessages,
  findRepoRoot,
  listGoldenCases,
  loadGoldenCase,
  logReportsIfVerbose,
  runningInCI,
  type CompareReport,
  type GoldenCase,
  type GoldenLayerSpec,
  type GoldenTensor,
} from '../src/index.js';
import { Pad, Permute, SequenceCrossEntropyLoss, Slicing } from './helpers/shape-modules.js';

const CASES = ['rnn_tanh_flatten_ce', 'rnn_relu_seq_ce', 'lstm_transpose_flatten_ce', 'lstm_seq_mse', 'rnn_last_step_pad1d_ce'];

const precisions: readonly { dtype: FloatDType; tolerance: number }[] = [
  { dtype: 'float64', tolerance: 1e-10 },
  { dtype: 'float32', tolerance: 1e-4 },
];

const root = findRepoRoot();
const dir = root === undefined ? undefined : join(root, '..', 'shared', 'golden-modules');
const found = dir !== undefined && existsSync(dir) ? listGoldenCases(dir).filter((file) => CASES.includes(file.name)) : [];

if (found.length !== CASES.length) {
  const message = `recurrent golden cases not all found at ${dir ?? '(no repository root found)'} (found ${found.length} of ${CASES.length})`;
  if (runningInCI()) throw new Error(`${message}: CI is set, so the suite fails instead of skipping`);
  it.skip(message, () => {});
}

/** The case's layer `spec`, for the time-major variant where `timeMajor`: recurrent layers time-major, ReduceTuple a Permute back. */
function buildLayer(spec: GoldenLayerSpec, dtype: FloatDType, timeMajor: boolean): Module {
  const options = { backend: cpu, dtype };
  switch (spec.type) {
    case 'RNN':
    case 'LSTM':
      return buildGoldenLayer({ ...spec, batch_first: !timeMajor }, options);
    case 'ReduceTuple':
      return timeMajor ? new Permute([1, 0, 2]) : buildGoldenLayer(spec, options);
    case 'Permute': {
      const dims = spec['dims'] as number[];
      if (spec['init_transpose'] !== true) return new Permute(dims);
      const swapped = [0, 1, 2].map((d) => (d === dims[0] ? dims[1]! : d === dims[1] ? dims[0]! : d));
      return new Permute(swapped);
    }
    case 'Slicing': {
      const [first, index] = spec['slice_info'] as [unknown, unknown];
      if (typeof first !== 'object' || typeof index !== 'number') throw new Error(`test-local Slicing supports [:, index] only, got ${JSON.stringify(spec['slice_info'])}`);
      return new Slicing(index);
    }
    case 'Pad': {
      const pad = spec['pad'] as number[];
      if (pad.length !== 2 || spec['mode'] !== 'constant') throw new Error(`test-local Pad supports constant padding of the last dimension only, got ${JSON.stringify(spec)}`);
      return new Pad(pad[0]!, pad[1]!, spec['value'] as number);
    }
    default:
      return buildGoldenLayer(spec, options);
  }
}

function buildLoss(golden: GoldenCase): LossModule {
  const { type, reduction = 'mean' } = golden.case.loss;
  if (type === 'MSELoss') return new MSELoss(reduction);
  if (type !== 'CrossEntropyLoss') throw new Error(`unexpected loss ${type}`);
  return golden.output.shape.length === 3 ? new SequenceCrossEntropyLoss(reduction) : new CrossEntropyLoss(reduction);
}

/** The case's network with its parameters, its batch (transposed for the time-major variant), target and loss, extended. */
function build(golden: GoldenCase, dtype: FloatDType, timeMajor: boolean) {
  const like = { backend: cpu, dtype };
  const model = new Sequential(...golden.case.layers.map((spec) => buildLayer(spec, dtype, timeMajor)));
  model.loadStateDict(Object.fromEntries(Object.entries(golden.params).map(([name, t]) => [name, tensor(t.data, t.shape, like)])));
  const input = tensor(golden.input.data, golden.input.shape, like);
  const loss = buildLoss(golden);
  const target = tensor(golden.target.data, golden.target.shape, { backend: cpu, dtype: golden.case.loss.type === 'CrossEntropyLoss' ? 'int32' : dtype });
  return { model: extend(model), loss: extend(loss), input: timeMajor ? transpose(input, 0, 1) : input, target };
}

function allSupported(): Extension[] {
  return [
    new BatchGrad(),
    new Variance(),
    new SumGradSquared(),
    new BatchL2Grad(),
    new DiagGGNExact(),
    new DiagGGNMC({ seed: 1 }),
    new BatchDiagGGNExact(),
    new BatchDiagGGNMC({ seed: 2 }),
    new SqrtGGNExact(),
    new SqrtGGNMC({ seed: 3 }),
    new DiagHessian(),
    new BatchDiagHessian(),
  ];
}

function field(parameter: Parameter, savefield: string): Tensor | undefined {
  return (parameter as unknown as Record<string, Quantity | undefined>)[savefield] as Tensor | undefined;
}

/** The quantities compared by value with the reference's (`quantities`) where it has them, and with the brute force. */
const BY_VALUE = ['grad', 'BatchGrad', 'Variance', 'SumGradSquared', 'BatchL2Grad', 'DiagGGNExact', 'BatchDiagGGNExact'];

/**
 * Comparisons per parameter besides the stored quantities: six of BY_VALUE
 * against the brute force (all but BatchDiagGGNExact, summed below), four
 * sums and diagonals, three Monte-Carlo shapes.
 */
const PER_PARAMETER = 6 + 4 + 3;

/** Every comparison of one run: the reference's quantities and the brute force, as the file comment lists them. */
function compareAll(golden: GoldenCase, parameters: readonly [string, Parameter][], tolerance: number, label: string): CompareReport[] {
  const reports: CompareReport[] = [];
  const compare = (actual: Tensor | undefined, expected: GoldenTensor, what: string) => reports.push(compareTensor(actual, expected, { tolerance, label: `${label} ${what}` }));
  const bruteforceOnly: GoldenCase = { ...golden, quantities: {} };
  const batch = golden.input.shape[0]!;
  for (const [name, parameter] of parameters) {
    const savefields = ['grad', 'gradBatch', 'variance', 'sumGradSquared', 'batchL2', 'diagGgnExact', 'diagGgnExactBatch'];
    for (const [k, quantity] of BY_VALUE.entries()) {
      const actual = field(parameter, savefields[k]!);
      const stored = golden.quantities[quantity]?.[name];
      if (stored !== undefined) compare(actual, stored as GoldenTensor, `${name} ${quantity}`);
      const derived = expectedQuantity(bruteforceOnly, quantity, name);
      if (derived !== undefined) compare(actual, derived.value as GoldenTensor, `${name} ${quantity} (vs brute force)`);
    }
    const ggn = golden.bruteforce!.diag_ggn_exact![name]!;
    compare(sum(field(parameter, 'diagGgnExactBatch')!, 0), ggn, `${name} Σ_n BatchDiagGGNExact (vs brute force)`);
    compare(sum(square(field(parameter, 'sqrtGgnExact')!), [0, 1]), ggn, `${name} Σ P² of SqrtGGNExact (vs brute force)`);
    const diagH = golden.bruteforce!.diag_h![name]!;
    compare(field(parameter, 'diagH'), diagH, `${name} DiagHessian (vs brute force)`);
    compare(sum(field(parameter, 'diagHBatch')!, 0), diagH, `${name} Σ_n BatchDiagHessian (vs brute force)`);
    const shape = parameter.data.shape;
    const monteCarlo: [string, readonly number[]][] = [
      ['diagGgnMc', shape],
      ['diagGgnMcBatch', [batch, ...shape]],
      ['sqrtGgnMc', [1, batch, ...shape]],
    ];
    for (const [savefield, expected] of monteCarlo) {
      reports.push(compareShapes(field(parameter, savefield), { shape: expected, data: [] }, { tolerance, label: `${label} ${name} ${savefield} (shape)` }));
    }
  }
  return reports;
}

function expectAllOk(reports: readonly CompareReport[], count: number): void {
  logReportsIfVerbose(reports);
  expect(reports.length).toBe(count);
  expect(failedMessages(reports)).toEqual([]);
}

for (const file of found) {
  const golden = loadGoldenCase(file);
  describe(`recurrent golden ${golden.name}`, () => {
    for (const { dtype, tolerance } of precisions) {
      for (const timeMajor of [false, true]) {
        const variant = `${dtype}, ${timeMajor ? 'time-major' : 'batch-first'}`;

        it(`forward: output and loss (${variant})`, () => {
          const { model, loss, input, target } = build(golden, dtype, timeMajor);
          const output = model.forward(input);
          const reports = [
            compareTensor(output, golden.output, { tolerance, label: `${golden.name} ${variant} output` }),
            compareTensor(loss.forward(output, target), { shape: [], data: [golden.loss] }, { tolerance, label: `${golden.name} ${variant} loss` }),
          ];
          expectAllOk(reports, 2);
        });

        it(`.grad and 12 extensions against the reference and the brute force (${variant})`, () => {
          const { model, loss, input, target } = build(golden, dtype, timeMajor);
          backpack(allSupported(), () => loss.forward(model.forward(input), target).backward());
          const parameters = model.namedParameters();
          const stored = BY_VALUE.reduce((total, quantity) => total + Object.keys(golden.quantities[quantity] ?? {}).length, 0);
          expectAllOk(compareAll(golden, parameters, tolerance, `${golden.name} ${variant}`), parameters.length * PER_PARAMETER + stored);
        });
      }
    }

    it('KFAC, KFLR and KFRA refuse the recurrent layer with the reason', () => {
      for (const extension of [new KFAC(), new KFLR(), new KFRA()]) {
        const { model, loss, input, target } = build(golden, 'float64', false);
        const type = golden.case.layers[0]!.type;
        expect(() => backpack([extension], () => loss.forward(model.forward(input), target).backward())).toThrow(NoKroneckerFactorsError);
        expect(() => backpack([extension], () => loss.forward(model.forward(input), target).backward())).toThrow(
          new RegExp(`^${extension.name} has no rule for ${type} '0' \\(module type ${type}\\): a recurrent layer`),
        );
        expect(model.parameters().every((p) => p.grad === undefined)).toBe(true);
      }
    });
  });
}

