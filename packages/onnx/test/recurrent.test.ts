/**
 * ONNX RNN and LSTM as PyTorch exports them (the node pattern of the golden
 * exports in ../shared/golden-modules/onnx, rebuilt with the test encoder):
 * weights from initializers through Unsqueeze (LSTM: Slice and Concat into
 * ONNX's gate order i, o, f, c), zero initial states from Shape, Gather and
 * ConstantOfShape, Y squeezed on the directions axis (whose axes constant
 * PyTorch lists after the node). The model input feeds X directly (X's
 * second dimension is the recurrent batch), so no Transpose is needed.
 * Each import is compared with onnxruntime-node; the parameters carry the
 * initializers' PyTorch names and values (gates back in PyTorch's order);
 * unsupported variants are refused naming the node and the reason. The
 * golden exports themselves run once the importer has every operator in them.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cpu } from '@backpack-ts/backend-cpu';
import { compareArrays, findRepoRoot, loadGoldenCase, runningInCI } from '@backpack-ts/conformance';
import { LSTM, RNN, tensor } from '@backpack-ts/core';
import { describe, expect, it } from 'vitest';
import { SUPPORTED_OPERATORS, decodeModel, importOnnx, verifyWithOnnxRuntime } from '../src/index.js';
import { importAndVerify } from './helpers/check.js';
import { INT64, buildModel, init, type NodeSpec, type TensorSpec } from './helpers/onnx-builder.js';

const [STEPS_NAME, BATCH, INPUT, HIDDEN] = ['steps', 3, 2, 4];

const int64 = (name: string, vals: number[]): TensorSpec => ({ name, dims: [vals.length], values: vals, dataType: INT64 });

interface Spec {
  readonly op: 'RNN' | 'LSTM';
  readonly activations?: readonly string[];
  readonly bias?: boolean;
  /** The Squeeze's axes: a Constant node after the recurrent node (as PyTorch), or an initializer. */
  readonly axesLater?: boolean;
  /** Changes to the recurrent node, for the refusals. */
  readonly node?: (node: NodeSpec) => NodeSpec;
  /** Extra nodes and a different graph output, for the refusals. */
  readonly extra?: { readonly nodes: readonly NodeSpec[]; readonly output: string };
  readonly initialState?: 'zeros' | 'ones';
}

/**
 * PyTorch's preprocessing of the LSTM tensor `name` ([4H, ...]): its gate
 * blocks i, f, g, o cut by Slice and joined by Concat in ONNX's order
 * i, o, f, c, as `${name}.iofc`.
 */
function iofc(name: string): NodeSpec[] {
  const h = HIDDEN;
  const blocks: [number, number][] = [[0, h], [3 * h, 4 * h], [h, 3 * h]];
  return [
    ...blocks.flatMap(([start, end], k): NodeSpec[] => [
      { op: 'Constant', inputs: [], outputs: [`${name}.start${k}`], attrs: { value: { tensor: int64('', [start]) } } },
      { op: 'Constant', inputs: [], outputs: [`${name}.end${k}`], attrs: { value: { tensor: int64('', [end]) } } },
      { op: 'Slice', inputs: [name, `${name}.start${k}`, `${name}.end${k}`, 'axes0'], outputs: [`${name}.block${k}`] },
    ]),
    { op: 'Concat', inputs: blocks.map((_, k) => `${name}.block${k}`), outputs: [`${name}.iofc`], attrs: { axis: 0 } },
  ];
}

/** A model `x [T, N, in] → RNN or LSTM → Squeeze → y [T, N, H]` with PyTorch's export pattern. */
function model(spec: Spec): Uint8Array {
  const gates = spec.op === 'LSTM' ? 4 : 1;
  const rows = gates * HIDDEN;
  const bias = spec.bias !== false;
  const initializers: TensorSpec[] = [
    init('rnn.weight_ih_l0', [rows, INPUT], 1),
    init('rnn.weight_hh_l0', [rows, HIDDEN], 2),
    ...(bias ? [init('rnn.bias_ih_l0', [rows], 3), init('rnn.bias_hh_l0', [rows], 4)] : []),
    int64('axes0', [0]),
    int64('index1', [1]),
    int64('one', [1]),
    int64('hidden', [HIDDEN]),
    ...(spec.axesLater === true ? [] : [int64('axes1', [1])]),
  ];
  const state: NodeSpec[] =
    spec.initialState === 'ones'
      ? [{ op: 'ConstantOfShape', inputs: ['stateShape'], outputs: ['h0'], attrs: { value: { tensor: { name: '', dims: [1], values: [1] } } } }]
      : [{ op: 'ConstantOfShape', inputs: ['stateShape'], outputs: ['h0'] }];
  let recurrent: NodeSpec = {
    op: spec.op,
    name: `/rnn/${spec.op}`,
    inputs: ['x', 'W', 'R', bias ? 'B' : '', '', 'h0', ...(spec.op === 'LSTM' ? ['h0'] : [])],
    outputs: spec.op === 'LSTM' ? ['Y', 'Y_h', 'Y_c'] : ['Y', 'Y_h'],
    attrs: { hidden_size: HIDDEN, ...(spec.activations === undefined ? {} : { activations: { strings: spec.activations } }) },
  };
  if (spec.node !== undefined) recurrent = spec.node(recurrent);
  // LSTM tensors go through Slice and Concat first; everything gets the directions axis from Unsqueeze.
  const prepared = (name: string) => (gates === 1 ? name : `${name}.iofc`);
  const reordered = gates === 1 ? [] : ['rnn.weight_ih_l0', 'rnn.weight_hh_l0', ...(bias ? ['rnn.bias_ih_l0', 'rnn.bias_hh_l0'] : [])].flatMap(iofc);
  const nodes: NodeSpec[] = [
    // The batch (X's second dimension) for the zero initial state [1, N, H].
    { op: 'Shape', inputs: ['x'], outputs: ['xShape'] },
    { op: 'Gather', inputs: ['xShape', 'index1'], outputs: ['batch'], attrs: { axis: 0 } },
    { op: 'Concat', inputs: ['one', 'batch', 'hidden'], outputs: ['stateShape'], attrs: { axis: 0 } },
    ...state,
    ...reordered,
    { op: 'Unsqueeze', inputs: [prepared('rnn.weight_ih_l0'), 'axes0'], outputs: ['W'] },
    { op: 'Unsqueeze', inputs: [prepared('rnn.weight_hh_l0'), 'axes0'], outputs: ['R'] },
    ...(bias
      ? [
          { op: 'Concat', inputs: [prepared('rnn.bias_ih_l0'), prepared('rnn.bias_hh_l0')], outputs: ['biases'], attrs: { axis: 0 } },
          { op: 'Unsqueeze', inputs: ['biases', 'axes0'], outputs: ['B'] },
        ]
      : []),
    recurrent,
    ...(spec.axesLater === true ? [{ op: 'Constant', inputs: [], outputs: ['axes1'], attrs: { value: { tensor: int64('', [1]) } } }] : []),
    { op: 'Squeeze', name: '/rnn/Squeeze', inputs: ['Y', 'axes1'], outputs: ['y'] },
    ...(spec.extra?.nodes ?? []),
  ];
  return buildModel({
    inputs: [{ name: 'x', dims: [STEPS_NAME, BATCH, INPUT] }],
    outputs: [{ name: spec.extra?.output ?? 'y' }],
    initializers,
    nodes,
  });
}

describe.each([
  { name: 'RNN (tanh), axes of the Squeeze an initializer', spec: { op: 'RNN' } as Spec },
  { name: 'RNN (relu), axes computed after the node', spec: { op: 'RNN', activations: ['Relu'], axesLater: true } as Spec },
  { name: 'LSTM, axes computed after the node', spec: { op: 'LSTM', axesLater: true } as Spec },
  { name: 'LSTM without biases', spec: { op: 'LSTM', bias: false } as Spec },
])('$name', ({ spec }) => {
  it("imports one module with the initializers' names and PyTorch's gate order, and matches onnxruntime-node", async () => {
    const bytes = model(spec);
    const imported = await importAndVerify(bytes, { batch: 5 });
    expect(imported.steps.map((s) => [s.module.typeName, s.nodes])).toEqual([[spec.op, `'/rnn/${spec.op}' (${spec.op}) + '/rnn/Squeeze' (Squeeze)`]]);
    const module = imported.steps[0]!.module as RNN | LSTM;
    expect(module.batchFirst).toBe(false);
    expect(module.hiddenSize).toBe(HIDDEN);
    if (module instanceof RNN) expect(module.nonlinearity).toBe(spec.activations?.[0] === 'Relu' ? 'relu' : 'tanh');
    const names = ['weight_ih_l0', 'weight_hh_l0', ...(spec.bias === false ? [] : ['bias_ih_l0', 'bias_hh_l0'])];
    expect(imported.namedParameters().map(([name]) => name)).toEqual(names.map((n) => `rnn.${n}`));
    // The initializers hold PyTorch's layout: the parameters are exactly their values.
    const rows = (spec.op === 'LSTM' ? 4 : 1) * HIDDEN;
    const seeds: Record<string, [number, number[]]> = {
      weight_ih_l0: [1, [rows, INPUT]],
      weight_hh_l0: [2, [rows, HIDDEN]],
      bias_ih_l0: [3, [rows]],
      bias_hh_l0: [4, [rows]],
    };
    for (const n of names) {
      const [seed, dims] = seeds[n]!;
      expect(Array.from(module.parameter(n).data.toArray())).toEqual(Array.from(Float32Array.from(init('', dims, seed).values)));
      expect(imported.source(`rnn.${n}`)).toMatchObject({ initializer: `rnn.${n}`, onnxShape: dims, transposed: false, scale: 1 });
    }
  });
});

describe('LSTM weights stored in ONNX\'s layout (as other exporters write them)', () => {
  it('imports them with the gates in PyTorch\'s order, names the parameters after the node and says why', async () => {
    const rows = 4 * HIDDEN;
    const bytes = buildModel({
      inputs: [{ name: 'x', dims: [STEPS_NAME, BATCH, INPUT] }],
      outputs: [{ name: 'y' }],
      initializers: [init('W', [1, rows, INPUT], 1), init('R', [1, rows, HIDDEN], 2), init('B', [1, 2 * rows], 3), int64('axes1', [1])],
      nodes: [
        { op: 'LSTM', name: 'lstm', inputs: ['x', 'W', 'R', 'B'], outputs: ['Y'], attrs: { hidden_size: HIDDEN } },
        { op: 'Squeeze', inputs: ['Y', 'axes1'], outputs: ['y'] },
      ],
    });
    const imported = await importAndVerify(bytes, { batch: 4 });
    expect(imported.namedParameters().map(([name]) => name)).toEqual(['lstm.weight_ih_l0', 'lstm.weight_hh_l0', 'lstm.bias_ih_l0', 'lstm.bias_hh_l0']);
    expect(imported.notes).toContain("ONNX node 'lstm' (op LSTM): 'weight_ih_l0' is named after the node (no initializer holds its values in PyTorch's gate order i, f, g, o)");
    // PyTorch's forget-gate block (rows H..2H) is ONNX's third block (rows 2H..3H).
    const w = Array.from(Float32Array.from(init('', [1, rows, INPUT], 1).values));
    const forget = Array.from(imported.steps[0]!.module.parameter('weight_ih_l0').data.toArray()).slice(HIDDEN * INPUT, 2 * HIDDEN * INPUT);
    expect(forget).toEqual(w.slice(2 * HIDDEN * INPUT, 3 * HIDDEN * INPUT));
  });
});

describe('opset 11 (the Squeeze takes its axes as an attribute)', () => {
  /** x → RNN (weights as initializers) → Squeeze(axes) → y, in opset 11. */
  const opset11 = (axes: readonly number[] | undefined) =>
    buildModel({
      opset: 11,
      inputs: [{ name: 'x', dims: [STEPS_NAME, BATCH, INPUT] }],
      outputs: [{ name: 'y' }],
      initializers: [init('W', [1, HIDDEN, INPUT], 1), init('R', [1, HIDDEN, HIDDEN], 2)],
      nodes: [
        { op: 'RNN', name: 'rnn', inputs: ['x', 'W', 'R'], outputs: ['Y'], attrs: { hidden_size: HIDDEN } },
        { op: 'Squeeze', inputs: ['Y'], outputs: ['y'], attrs: axes === undefined ? {} : { axes } },
      ],
    });

  it('imports axes [1] and matches onnxruntime-node', async () => {
    const imported = await importAndVerify(opset11([1]), { batch: 2 });
    expect(imported.namedParameters().map(([name]) => name)).toEqual(['W', 'R']);
  });

  it('refuses other axes and none', () => {
    expect(() => importOnnx(opset11([0]), { backend: cpu })).toThrow(/must feed one Squeeze of axis 1 \(the directions axis\).*; it squeezes axes \[0\]/);
    expect(() => importOnnx(opset11(undefined), { backend: cpu })).toThrow(/must feed one Squeeze of axis 1 \(the directions axis\).*; the Squeeze has no axes/);
  });
});

describe('refusals name the node and the reason', () => {
  const cases: [string, Spec, RegExp][] = [
    ['a bidirectional layer', { op: 'RNN', node: (n) => ({ ...n, attrs: { ...n.attrs, direction: 'bidirectional' } }) }, /'\/rnn\/RNN' \(op RNN\): direction 'bidirectional' is not supported/],
    ['batch-first layout', { op: 'LSTM', node: (n) => ({ ...n, attrs: { ...n.attrs, layout: 1 } }) }, /layout 1 \(batch-first X\) is not supported/],
    ['clipping', { op: 'LSTM', node: (n) => ({ ...n, attrs: { ...n.attrs, clip: { f: 3 } } }) }, /attribute 'clip' is not supported/],
    ['another activation', { op: 'RNN', activations: ['Sigmoid'] }, /activations \[Sigmoid\] are not supported; RNN supports Tanh or Relu/],
    ['LSTM activations other than the default', { op: 'LSTM', activations: ['Sigmoid', 'Relu', 'Tanh'] }, /activations \[Sigmoid, Relu, Tanh\] are not supported/],
    ['a non-zero initial state', { op: 'RNN', initialState: 'ones' }, /a non-zero initial_h is not supported/],
    ['peepholes', { op: 'LSTM', node: (n) => ({ ...n, inputs: [...n.inputs, 'rnn.bias_ih_l0'] }) }, /peephole weights P are not supported/],
    ['coupled input and forget gates', { op: 'LSTM', node: (n) => ({ ...n, attrs: { ...n.attrs, input_forget: 1 } }) }, /input_forget = 1 \(coupled input and forget gates\) is not supported/],
    ['no hidden size', { op: 'RNN', node: (n) => ({ ...n, attrs: {} }) }, /attribute 'hidden_size' is required/],
    ['sequence lengths', { op: 'RNN', node: (n) => ({ ...n, inputs: n.inputs.map((name, i) => (i === 4 ? 'index1' : name)) }) }, /sequence_lens \(sequences of different lengths\) is not supported/],
    [
      'the final state used',
      { op: 'RNN', extra: { nodes: [{ op: 'Add', inputs: ['Y_h', 'Y_h'], outputs: ['twice'] }], output: 'twice' } },
      /the final states \(Y_h\) are used; only the output Y is supported/,
    ],
    [
      'Y not squeezed',
      { op: 'RNN', extra: { nodes: [{ op: 'Relu', inputs: ['Y'], outputs: ['r'] }], output: 'r' } },
      /Y \[2, 1, 3, 4\] must feed one Squeeze of axis 1 \(the directions axis\)/,
    ],
  ];
  it.each(cases)('%s', (_name, spec, message) => {
    expect(() => importOnnx(model(spec), { backend: cpu })).toThrow(message);
  });

  it('axes computed after the node where Y has another axis of size 1 (H = 1)', () => {
    const bytes = buildModel({
      inputs: [{ name: 'x', dims: [STEPS_NAME, BATCH, INPUT] }],
      outputs: [{ name: 'y' }],
      initializers: [init('W', [1, 1, INPUT], 1), init('R', [1, 1, 1], 2)],
      nodes: [
        { op: 'RNN', name: 'rnn', inputs: ['x', 'W', 'R'], outputs: ['Y'], attrs: { hidden_size: 1 } },
        { op: 'Constant', inputs: [], outputs: ['axes'], attrs: { value: { tensor: int64('', [1]) } } },
        { op: 'Squeeze', inputs: ['Y', 'axes'], outputs: ['y'] },
      ],
    });
    expect(() => importOnnx(bytes, { backend: cpu })).toThrow(/its axes are computed after the RNN node and Y has more than one axis of size 1/);
  });

  it('a constant of a batch-dependent shape used elsewhere than as an initial state', () => {
    const bytes = buildModel({
      inputs: [{ name: 'x', dims: ['batch', 2] }],
      outputs: [{ name: 'y' }],
      initializers: [int64('index0', [0]), int64('two', [2])],
      nodes: [
        { op: 'Shape', inputs: ['x'], outputs: ['s'] },
        { op: 'Gather', inputs: ['s', 'index0'], outputs: ['n'], attrs: { axis: 0 } },
        { op: 'Concat', inputs: ['n', 'two'], outputs: ['shape'], attrs: { axis: 0 } },
        { op: 'ConstantOfShape', name: 'zeros', inputs: ['shape'], outputs: ['z'] },
        { op: 'Add', inputs: ['x', 'z'], outputs: ['y'] },
      ],
    });
    expect(() => importOnnx(bytes, { backend: cpu })).toThrow(/'zeros' \(op ConstantOfShape\): a constant whose shape depends on the batch size is supported only as the initial state of RNN or LSTM/);
  });
});

/**
 * The golden recurrent exports themselves (../shared/golden-modules/onnx),
 * which also need the operators around the recurrent layer (Transpose to and
 * from time-major, Gather and Pad on data): imported, compared with
 * onnxruntime-node on the golden batch, and, with the golden float64
 * parameters loaded by name, with the golden output to 1e-10. Each is
 * skipped, naming the operators, while the importer lacks any of them.
 */
describe('golden recurrent exports', () => {
  const root = findRepoRoot();
  const dir = root === undefined ? undefined : join(root, '..', 'shared', 'golden-modules');
  const names = ['rnn_tanh_flatten_ce', 'rnn_relu_seq_ce', 'lstm_transpose_flatten_ce', 'lstm_seq_mse', 'rnn_last_step_pad1d_ce'];
  const present = dir !== undefined && names.every((name) => existsSync(join(dir, 'onnx', `${name}.onnx`)));
  if (!present) {
    const message = `golden recurrent exports not found at ${dir ?? '(no repository root found)'}`;
    if (runningInCI()) {
      it(message, () => {
        throw new Error(`${message}: CI is set, so the suite fails instead of skipping`);
      });
    } else it.skip(message, () => {});
    return;
  }
  for (const name of names) {
    const path = join(dir, 'onnx', `${name}.onnx`);
    const missing = [...new Set(decodeModel(readFileSync(path)).graph!.node.map((n) => n.opType))].filter((op) => !(op in SUPPORTED_OPERATORS));
    it.skipIf(missing.length > 0)(`${name}${missing.length > 0 ? ` (skipped: the importer lacks ${missing.join(', ')})` : ''}: PyTorch's names, onnxruntime-node, the golden output`, async () => {
      const golden = loadGoldenCase(join(dir, `${name}.json`));
      const imported = importOnnx(path, { backend: cpu, dtype: 'float64' });
      expect(imported.namedParameters().map(([n]) => n).sort()).toEqual(Object.keys(golden.params).sort());
      const report = await verifyWithOnnxRuntime(imported, golden.input);
      expect(report.ok, report.message).toBe(true);
      expect(report.maxRelDiff).toBeLessThan(1e-5);
      imported.loadStateDict(Object.fromEntries(Object.entries(golden.params).map(([n, t]) => [n, tensor(t.data, t.shape, { backend: cpu, dtype: 'float64' })])));
      const output = imported.forward(tensor(golden.input.data, golden.input.shape, { backend: cpu, dtype: 'float64' }));
      const comparison = compareArrays({ shape: output.shape, data: output.toArray() }, golden.output, { tolerance: 1e-10, label: `${name} output` });
      expect(comparison.ok, comparison.message).toBe(true);
    });
  }
});
