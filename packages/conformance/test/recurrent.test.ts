/**
 * The recurrent golden cases (RNN and LSTM in golden-modules), time-major,
 * and with subsampling. The golden suites run them as stored (batch-first) against the reference
 * and the brute force; here each is rebuilt time-major, as PyTorch's default
 * layout: the input transposed to `[T, N, in]`, the layer `batchFirst:
 * false`, and its ReduceTuple replaced by a test-local module that moves the
 * batch axis back to the front (core's Permute keeps the batch axis first).
 * The output, the loss, `.grad` and the quantities of the 12 extensions that
 * support recurrent layers (the Monte-Carlo ones with equal seeds) must
 * equal those of the batch-first build, which the golden suites check, to
 * 1e-12 in float64. Subsampling (BatchGrad, SqrtGGNExact) gives the rows of
 * the full computation; a time-major layer refuses it. Frozen parameters of
 * a recurrent layer get nothing, the others what they get unfrozen.
 */
import { cpu } from '@backpack-ts/backend-cpu';
import {
  LeafModule,
  Sequential,
  backpack,
  extend,
  selectIndices,
  transpose,
  type Extension,
  type GraphNode,
  type Quantity,
  type Tensor,
} from '@backpack-ts/core';
import { BatchDiagGGNExact, BatchDiagGGNMC, DiagGGNExact, DiagGGNMC, SqrtGGNExact, SqrtGGNMC } from '@backpack-ts/diag-ggn';
import { BatchDiagHessian, DiagHessian } from '@backpack-ts/diag-hessian';
import { BatchGrad, BatchL2Grad, SumGradSquared, Variance } from '@backpack-ts/first-order';
import { describe, expect, it } from 'vitest';
import {
  buildGoldenLayer,
  buildSupportedGoldenModel,
  compareTensor,
  failedMessages,
  goldenTensor,
  goldenTestCases,
  logReportsIfVerbose,
  type CompareReport,
  type GoldenCase,
  type GoldenModel,
} from '../src/index.js';

/** Two computations of the same numbers in another order. */
const TOLERANCE = 1e-12;

/** `[T, N, ...] -> [N, T, ...]`: a time-major layer's output with the batch axis in front. */
class BatchToFront extends LeafModule {
  readonly typeName = 'BatchToFront';

  protected checkInputs(inputs: readonly Tensor[]): void {
    if (inputs.length !== 1 || inputs[0]!.rank < 2) throw new RangeError(`${this.describe()}: expects one input of rank >= 2`);
  }

  protected compute(inputs: readonly Tensor[]): Tensor {
    return transpose(inputs[0]!, 0, 1);
  }

  jacTMatProd(_node: GraphNode, mat: Tensor): Tensor {
    return transpose(mat, 1, 2);
  }
}

/** The 12 extensions that support recurrent layers; the Monte-Carlo ones seeded, so two runs draw alike. */
function extensions(): Extension[] {
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

/** Fields a run stores on a parameter: `.grad` and each extension's savefield. */
const FIELDS = ['grad', ...extensions().map((e) => e.savefield)];

/** The case's network time-major: recurrent layers `batchFirst: false`, ReduceTuple replaced by {@link BatchToFront}; input transposed. */
function timeMajor(golden: GoldenCase): GoldenModel {
  const batchFirst = buildSupportedGoldenModel(golden, { backend: cpu, dtype: 'float64' });
  const options = { backend: cpu, dtype: 'float64' as const };
  const model = new Sequential(
    ...golden.case.layers.map((spec) =>
      spec.type === 'ReduceTuple' ? new BatchToFront() : buildGoldenLayer(spec.type === 'RNN' || spec.type === 'LSTM' ? { ...spec, batch_first: false } : spec, options),
    ),
  );
  model.loadStateDict(Object.fromEntries(Object.entries(golden.params).map(([name, t]) => [name, goldenTensor(t, cpu, 'float64')])));
  return { ...batchFirst, model: extend(model.eval()), input: transpose(batchFirst.input, 0, 1) };
}

/** Runs the 12 extensions; returns the output, the loss and every stored field by `"<param> <field>"`. */
function run(built: GoldenModel): Map<string, Tensor> {
  const results = new Map<string, Tensor>();
  backpack(extensions(), () => {
    const output = built.model.forward(built.input);
    const loss = built.loss.forward(output, built.target);
    results.set('output', output);
    results.set('loss', loss);
    loss.backward();
  });
  for (const [name, parameter] of built.model.namedParameters()) {
    for (const field of FIELDS) results.set(`${name} ${field}`, (parameter as unknown as Record<string, Quantity>)[field] as Tensor);
  }
  return results;
}

const recurrent = goldenTestCases().cases.filter(({ golden }) => golden.case.layers.some((layer) => layer.type === 'RNN' || layer.type === 'LSTM'));

it('the recurrent golden cases are there', () => {
  expect(recurrent.map(({ golden }) => golden.name).sort()).toEqual(['lstm_seq_mse', 'lstm_transpose_flatten_ce', 'rnn_last_step_pad1d_ce', 'rnn_relu_seq_ce', 'rnn_tanh_flatten_ce']);
});

describe.each(recurrent.map(({ golden }) => ({ golden, name: golden.name })))('recurrent golden $name, time-major', ({ golden }) => {
  it('gives the output, the loss, .grad and every quantity of the batch-first build', () => {
    const expected = run(buildSupportedGoldenModel(golden, { backend: cpu, dtype: 'float64' }));
    const actual = run(timeMajor(golden));
    const reports: CompareReport[] = [];
    for (const [key, value] of expected) {
      reports.push(compareTensor(actual.get(key), { shape: value.shape, data: value.toArray() }, { tolerance: TOLERANCE, label: `${golden.name} ${key}` }));
    }
    logReportsIfVerbose(reports);
    expect(reports.length).toBe(2 + Object.keys(golden.params).length * FIELDS.length);
    expect(failedMessages(reports)).toEqual([]);
  });
});

describe('subsampling through a recurrent layer', () => {
  const golden = recurrent.find(({ golden: g }) => g.name === 'lstm_transpose_flatten_ce')!.golden;
  const chosen = [3, 0, 3];

  /** Runs `extension` on a build of the case; returns its field of every parameter. */
  function quantities(built: GoldenModel, extension: Extension): Map<string, Tensor> {
    backpack([extension], () => built.loss.forward(built.model.forward(built.input), built.target).backward());
    return new Map(built.model.namedParameters().map(([name, p]) => [name, (p as unknown as Record<string, Tensor>)[extension.savefield]!]));
  }

  it.each([
    ['BatchGrad', () => new BatchGrad(), () => new BatchGrad({ subsampling: chosen }), 0],
    ['SqrtGGNExact', () => new SqrtGGNExact(), () => new SqrtGGNExact({ subsampling: chosen }), 1],
  ] as const)('%s: the rows of the full computation', (_name, full, sub, axis) => {
    const build = () => buildSupportedGoldenModel(golden, { backend: cpu, dtype: 'float64' });
    const expected = quantities(build(), full());
    const reports: CompareReport[] = [];
    for (const [name, actual] of quantities(build(), sub())) {
      const rows = selectIndices(expected.get(name)!, axis, chosen);
      reports.push(compareTensor(actual, { shape: rows.shape, data: rows.toArray() }, { tolerance: TOLERANCE, label: `${golden.name} ${name}` }));
    }
    expect(failedMessages(reports)).toEqual([]);
  });

  it('is refused by a time-major layer, which holds the batch in dimension 1', () => {
    const built = timeMajor(golden);
    expect(() => quantities(built, new BatchGrad({ subsampling: chosen }))).toThrow(/LSTM '0': subsampling needs the batch in dimension 0; this module is time-major \(batchFirst: false\)/);
  });
});

describe('frozen parameters of a recurrent layer', () => {
  const golden = recurrent.find(({ golden: g }) => g.name === 'lstm_seq_mse')!.golden;
  const frozen = ['0.weight_hh_l0', '0.bias_ih_l0'];

  it.each(extensions().map((e) => e.name))('%s: nothing for them, the same for the others', (name) => {
    const run = (freeze: boolean) => {
      const built = buildSupportedGoldenModel(golden, { backend: cpu, dtype: 'float64' });
      const parameters = new Map(built.model.namedParameters());
      if (freeze) for (const p of frozen) parameters.get(p)!.requiresGrad = false;
      const extension = extensions().find((e) => e.name === name)!;
      backpack([extension], () => built.loss.forward(built.model.forward(built.input), built.target).backward());
      return new Map([...parameters].map(([p, parameter]) => [p, [parameter.grad, (parameter as unknown as Record<string, Tensor | undefined>)[extension.savefield]]]));
    };
    const [all, some] = [run(false), run(true)];
    for (const [p, results] of some) {
      if (frozen.includes(p)) expect(results, p).toEqual([undefined, undefined]);
      else expect(results.map((t) => Array.from(t!.toArray())), p).toEqual(all.get(p)!.map((t) => Array.from(t!.toArray())));
    }
  });
});
