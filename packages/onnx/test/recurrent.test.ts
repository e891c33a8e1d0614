/**
 * ONNX RNN and LSTM as PyTorch exports a `batch_first` layer (the node
 * pattern of the golden exports in ../shared/golden-modules/onnx, which
 * test/golden.test.ts runs, rebuilt here with the test encoder to vary it):
 * the batch-first input transposed to time-major, weights from initializers
 * through Unsqueeze (LSTM: Slice and Concat into ONNX's gate order i, o, f,
 * c), zero initial states from Shape, Gather and ConstantOfShape, Y squeezed
 * on the directions axis (whose axes constant PyTorch lists after the node)
 * and transposed back (or fused with the next permutation). Each import is a
 * batch-first module (plus a Permute for a fused permutation) compared with
 * onnxruntime-node; the parameters carry the initializers' PyTorch names and
 * values (gates back in PyTorch's order); unsupported variants are refused
 * naming the node and the reason.
 */
import { cpu } from '@backpack-ts/backend-cpu';
import { LSTM, RNN } from '@backpack-ts/core';
import { describe, expect, it } from 'vitest';
import { importOnnx } from '../src/index.js';
import { importAndVerify } from './helpers/check.js';
import { INT64, buildModel, init, type NodeSpec, type TensorSpec } from './helpers/onnx-builder.js';

const [STEPS, INPUT, HIDDEN] = [3, 2, 4];

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
  /** The permutation of the Transpose after the Squeeze (default [1, 0, 2]: back to batch-first). */
  readonly outPerm?: readonly number[];
}

/** The graph input `x [batch, T, in]` and its time-major transpose `X`, as PyTorch exports a batch-first layer. */
const INPUT_SPEC = { name: 'x', dims: ['batch', STEPS, INPUT] };
const TO_TIME_MAJOR: NodeSpec = { op: 'Transpose', name: '/rnn/Transpose', inputs: ['x'], outputs: ['X'], attrs: { perm: [1, 0, 2] } };
/** The time-major sequence `seq` back to batch-first `y`. */
const TO_BATCH_FIRST: NodeSpec = { op: 'Transpose', name: '/rnn/Transpose_1', inputs: ['seq'], outputs: ['y'], attrs: { perm: [1, 0, 2] } };

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
    int64('index0', [0]),
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
    inputs: ['X', 'W', 'R', bias ? 'B' : '', '', 'h0', ...(spec.op === 'LSTM' ? ['h0'] : [])],
    outputs: spec.op === 'LSTM' ? ['Y', 'Y_h', 'Y_c'] : ['Y', 'Y_h'],
    attrs: { hidden_size: HIDDEN, ...(spec.activations === undefined ? {} : { activations: { strings: spec.activations } }) },
  };
  if (spec.node !== undefined) recurrent = spec.node(recurrent);
  // LSTM tensors go through Slice and Concat first; everything gets the directions axis from Unsqueeze.
  const prepared = (name: string) => (gates === 1 ? name : `${name}.iofc`);
  const reordered = gates === 1 ? [] : ['rnn.weight_ih_l0', 'rnn.weight_hh_l0', ...(bias ? ['rnn.bias_ih_l0', 'rnn.bias_hh_l0'] : [])].flatMap(iofc);
  const nodes: NodeSpec[] = [
    // The batch for the zero initial state [1, N, H].
    { op: 'Shape', inputs: ['x'], outputs: ['xShape'] },
    { op: 'Gather', inputs: ['xShape', 'index0'], outputs: ['batch'], attrs: { axis: 0 } },
    { op: 'Concat', inputs: ['one', 'batch', 'hidden'], outputs: ['stateShape'], attrs: { axis: 0 } },
    ...state,
    TO_TIME_MAJOR,
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
    { op: 'Squeeze', name: '/rnn/Squeeze', inputs: ['Y', 'axes1'], outputs: ['seq'] },
    { ...TO_BATCH_FIRST, attrs: { perm: spec.outPerm ?? [1, 0, 2] } },
    ...(spec.extra?.nodes ?? []),
  ];
  return buildModel({
    inputs: [INPUT_SPEC],
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
  { name: 'RNN, the Transpose back fused with a permutation ([1, 2, 0]: [N, H, T])', spec: { op: 'RNN', outPerm: [1, 2, 0] } as Spec },
])('$name', ({ spec }) => {
  it("imports one batch-first module with the initializers' names and PyTorch's gate order, and matches onnxruntime-node", async () => {
    const bytes = model(spec);
    const imported = await importAndVerify(bytes, { batch: 5 });
    const recurrent = [spec.op, `'/rnn/${spec.op}' (${spec.op}) + '/rnn/Squeeze' (Squeeze)`];
    // A fused permutation [1, 2, 0] of [T, N, H] is [0, 2, 1] of the batch-first [N, T, H].
    const permute = spec.outPerm === undefined ? [] : [['Permute', "'/rnn/Transpose_1' (Transpose)"]];
    expect(imported.steps.map((s) => [s.module.typeName, s.nodes])).toEqual([recurrent, ...permute]);
    if (spec.outPerm !== undefined) expect(imported.steps[1]!.module).toMatchObject({ dims: [0, 2, 1] });
    const module = imported.steps[0]!.module as RNN | LSTM;
    expect(module.batchFirst).toBe(true);
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
      inputs: [INPUT_SPEC],
      outputs: [{ name: 'y' }],
      initializers: [init('W', [1, rows, INPUT], 1), init('R', [1, rows, HIDDEN], 2), init('B', [1, 2 * rows], 3), int64('axes1', [1])],
      nodes: [
        TO_TIME_MAJOR,
        { op: 'LSTM', name: 'lstm', inputs: ['X', 'W', 'R', 'B'], outputs: ['Y'], attrs: { hidden_size: HIDDEN } },
        { op: 'Squeeze', inputs: ['Y', 'axes1'], outputs: ['seq'] },
        TO_BATCH_FIRST,
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
  /** x → Transpose → RNN (weights as initializers) → Squeeze(axes) → Transpose → y, in opset 11. */
  const opset11 = (axes: readonly number[] | undefined) =>
    buildModel({
      opset: 11,
      inputs: [INPUT_SPEC],
      outputs: [{ name: 'y' }],
      initializers: [init('W', [1, HIDDEN, INPUT], 1), init('R', [1, HIDDEN, HIDDEN], 2)],
      nodes: [
        TO_TIME_MAJOR,
        { op: 'RNN', name: 'rnn', inputs: ['X', 'W', 'R'], outputs: ['Y'], attrs: { hidden_size: HIDDEN } },
        { op: 'Squeeze', inputs: ['Y'], outputs: ['seq'], attrs: axes === undefined ? {} : { axes } },
        TO_BATCH_FIRST,
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
    ['sequence lengths', { op: 'RNN', node: (n) => ({ ...n, inputs: n.inputs.map((name, i) => (i === 4 ? 'index0' : name)) }) }, /sequence_lens \(sequences of different lengths\) is not supported/],
    [
      'X not the time-major transpose of batch-first data',
      { op: 'RNN', node: (n) => ({ ...n, inputs: n.inputs.map((name, i) => (i === 0 ? 'x' : name)) }) },
      /X must be the time-major Transpose \(perm \[1, 0, 2\]\) of batch-first data, as PyTorch exports it/,
    ],
    [
      'the time-major output read by another operator',
      { op: 'RNN', extra: { nodes: [{ op: 'Relu', inputs: ['seq'], outputs: ['r'] }, { op: 'Add', inputs: ['r', 'r'], outputs: ['out'] }], output: 'out' } },
      /the time-major output \(the Squeeze of Y\) must be read only by Transposes that put the batch first/,
    ],
    ['a Transpose of the time-major output that keeps time first', { op: 'RNN', outPerm: [0, 2, 1] }, /must be read only by Transposes that put the batch first/],
    [
      'the final state used',
      { op: 'RNN', extra: { nodes: [{ op: 'Add', inputs: ['Y_h', 'Y_h'], outputs: ['twice'] }], output: 'twice' } },
      /the final states \(Y_h\) are used; only the output Y is supported/,
    ],
    [
      'Y not squeezed',
      { op: 'RNN', extra: { nodes: [{ op: 'Relu', inputs: ['Y'], outputs: ['r'] }], output: 'r' } },
      /Y \[3, 1, 2, 4\] must feed one Squeeze of axis 1 \(the directions axis\)/,
    ],
  ];
  it.each(cases)('%s', (_name, spec, message) => {
    expect(() => importOnnx(model(spec), { backend: cpu })).toThrow(message);
  });

  it('axes computed after the node where Y has another axis of size 1 (H = 1)', () => {
    const bytes = buildModel({
      inputs: [INPUT_SPEC],
      outputs: [{ name: 'y' }],
      initializers: [init('W', [1, 1, INPUT], 1), init('R', [1, 1, 1], 2)],
      nodes: [
        TO_TIME_MAJOR,
        { op: 'RNN', name: 'rnn', inputs: ['X', 'W', 'R'], outputs: ['Y'], attrs: { hidden_size: 1 } },
        { op: 'Constant', inputs: [], outputs: ['axes'], attrs: { value: { tensor: int64('', [1]) } } },
        { op: 'Squeeze', inputs: ['Y', 'axes'], outputs: ['seq'] },
        TO_BATCH_FIRST,
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

