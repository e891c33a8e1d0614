/**
 * Models exported without constant folding, with the operators BackPACK's
 * custom modules export to: Transpose (Permute), Slice and Gather of data
 * (Slicing), Pad with computed pads and a value (Pad), Mul and Div by a
 * number (ScaleModule), Add of branches, MatMul on 3-d data. Each is
 * imported and compared with onnxruntime-node; the refusals name the node.
 */
import { cpu } from '@backpack-ts/backend-cpu';
import { Pad, Permute, ScaleModule, Slicing } from '@backpack-ts/core';
import { describe, expect, it } from 'vitest';
import { importOnnx } from '../src/index.js';
import { importAndVerify } from './helpers/check.js';
import { INT64, buildModel, init, type NodeSpec } from './helpers/onnx-builder.js';

const int64 = (name: string, vals: number[], dims: number[] = [vals.length]) => ({ name, dims, values: vals, dataType: INT64 });
const constant = (name: string, vals: number[], dims: number[] = [vals.length], dataType = INT64): NodeSpec => ({
  op: 'Constant',
  inputs: [],
  outputs: [name],
  name: `/${name}`,
  attrs: { value: { tensor: { name, dims, values: vals, dataType } } },
});

describe('a sequence model: Transpose, Slice, Gather, MatMul on [N, T, in] with a transposed weight', () => {
  it('imports Permute, Slicing, Linear, Slicing and ScaleModules matching ONNX Runtime', async () => {
    const plain = buildModel({
      inputs: [{ name: 'x', dims: ['N', 3, 7] }],
      outputs: [{ name: 'out', dims: ['N', 4] }],
      initializers: [init('lin.weight', [4, 3], 1), init('lin.bias', [4], 2)],
      nodes: [
        { op: 'Transpose', inputs: ['x'], outputs: ['t'], name: '/perm/Transpose', attrs: { perm: [0, 2, 1] } },
        constant('starts', [1, 0]),
        constant('ends', [1000, 3]),
        constant('axes', [1, 2]),
        constant('steps', [2, 1]),
        { op: 'Slice', inputs: ['t', 'starts', 'ends', 'axes', 'steps'], outputs: ['s'], name: '/slice/Slice' },
        { op: 'Transpose', inputs: ['lin.weight'], outputs: ['wT'], name: '/lin/Transpose', attrs: { perm: [1, 0] } },
        { op: 'MatMul', inputs: ['s', 'wT'], outputs: ['m'], name: '/lin/MatMul' },
        { op: 'Add', inputs: ['lin.bias', 'm'], outputs: ['a'], name: '/lin/Add' },
        constant('index', [-1], []),
        { op: 'Gather', inputs: ['a', 'index'], outputs: ['g'], name: '/last/Gather', attrs: { axis: 1 } },
        constant('two', [2], [], 1),
        { op: 'Mul', inputs: ['two', 'g'], outputs: ['scaled'], name: '/scale/Mul' },
        constant('four', [4], [], 1),
        { op: 'Div', inputs: ['scaled', 'four'], outputs: ['out'], name: '/half/Div' },
      ],
    });
    const model = await importAndVerify(plain);
    expect(model.steps.map((s) => s.module.typeName)).toEqual(['Permute', 'Slicing', 'Linear', 'Slicing', 'ScaleModule', 'ScaleModule']);
    expect((model.steps[0]!.module as Permute).dims).toEqual([0, 2, 1]);
    expect((model.steps[1]!.module as Slicing).describeIndex()).toBe('[:, 1:1000:2, 0:3]');
    expect((model.steps[3]!.module as Slicing).describeIndex()).toBe('[:, -1]');
    expect((model.steps[5]!.module as ScaleModule).weight).toBe(0.25);
    expect(model.source('lin.weight')).toMatchObject({ initializer: 'lin.weight', onnxShape: [4, 3], transposed: false });
  });
});

describe('Pad with its pads computed at import (an export without constant folding)', () => {
  // torch.nn.functional.pad(x, [1, 0, 0, 2, 1, 0], value=0.5) on [N, 2, 3, 3], as PyTorch 2 exports it.
  const nodes: NodeSpec[] = [
    constant('torchPad', [1, 0, 0, 2, 1, 0]),
    { op: 'Shape', inputs: ['torchPad'], outputs: ['len'], name: '/pad/Shape' },
    constant('zero', [0], []),
    { op: 'Gather', inputs: ['len', 'zero'], outputs: ['n'], name: '/pad/Gather', attrs: { axis: 0 } },
    constant('two', [2], [1]),
    constant('rank', [4], [1]),
    { op: 'Mul', inputs: ['two', 'rank'], outputs: ['full'], name: '/pad/Mul' },
    { op: 'Sub', inputs: ['full', 'n'], outputs: ['rest'], name: '/pad/Sub' },
    { op: 'Cast', inputs: ['torchPad'], outputs: ['padCast'], name: '/pad/Cast', attrs: { to: INT64 } },
    { op: 'ConstantOfShape', inputs: ['rest'], outputs: ['zeros'], name: '/pad/ConstantOfShape', attrs: { value: { tensor: { name: 'v', dims: [1], values: [0], dataType: INT64 } } } },
    { op: 'Concat', inputs: ['padCast', 'zeros'], outputs: ['all'], name: '/pad/Concat', attrs: { axis: 0 } },
    constant('pairs', [-1, 2]),
    { op: 'Reshape', inputs: ['all', 'pairs'], outputs: ['byAxis'], name: '/pad/Reshape' },
    constant('s0', [-1]),
    constant('s1', [-9223372036854775807]),
    constant('sAxes', [0]),
    constant('sSteps', [-1]),
    { op: 'Slice', inputs: ['byAxis', 's0', 's1', 'sAxes', 'sSteps'], outputs: ['reversed'], name: '/pad/Slice' },
    { op: 'Transpose', inputs: ['reversed'], outputs: ['loHi'], name: '/pad/Transpose', attrs: { perm: [1, 0] } },
    constant('flat', [-1]),
    { op: 'Reshape', inputs: ['loHi', 'flat'], outputs: ['pads'], name: '/pad/Reshape_1' },
    constant('value', [0.5], [], 1),
    { op: 'Pad', inputs: ['x', 'pads', 'value'], outputs: ['out'], name: '/pad/Pad', attrs: { mode: 'constant' } },
  ];

  it('is a Pad module matching ONNX Runtime, the channels padded too', async () => {
    const model = await importAndVerify(
      buildModel({ inputs: [{ name: 'x', dims: ['N', 2, 3, 3] }], outputs: [{ name: 'out', dims: ['N', 3, 5, 4] }], nodes }),
    );
    expect(model.steps.map((s) => s.module.typeName)).toEqual(['Pad']);
    const pad = model.steps[0]!.module as Pad;
    expect([pad.pad, pad.value]).toEqual([[1, 0, 0, 2, 1, 0], 0.5]);
  });

  it('crops with negative pads and pads 3-d inputs', async () => {
    const model = await importAndVerify(
      buildModel({
        inputs: [{ name: 'x', dims: ['N', 4, 5] }],
        outputs: [{ name: 'out', dims: ['N', 3, 6] }],
        initializers: [int64('pads', [0, 1, -1, 0, -2, 2])],
        nodes: [{ op: 'Pad', inputs: ['x', 'pads'], outputs: ['out'], name: '/pad/Pad' }],
      }),
    );
    expect((model.steps[0]!.module as Pad).pad).toEqual([-1, 2, 1, -2]);
  });
});

describe('branches added: Parallel as exported', () => {
  it('imports Add of two branches and Mul by a number', async () => {
    const model = await importAndVerify(
      buildModel({
        inputs: [{ name: 'x', dims: ['N', 3] }],
        outputs: [{ name: 'out', dims: ['N', 3] }],
        initializers: [init('p.branch.0.weight', [3, 3], 1), init('p.branch.0.bias', [3], 2)],
        nodes: [
          { op: 'Gemm', inputs: ['x', 'p.branch.0.weight', 'p.branch.0.bias'], outputs: ['b0'], name: '/p/branch/branch.0/Gemm', attrs: { transB: 1 } },
          constant('half', [0.5], [], 1),
          { op: 'Mul', inputs: ['x', 'half'], outputs: ['b1'], name: '/p/branch/branch.1/Mul' },
          { op: 'Add', inputs: ['b0', 'b1'], outputs: ['out'], name: '/p/merge/Add' },
        ],
      }),
    );
    expect(model.steps.map((s) => s.module.typeName)).toEqual(['Linear', 'ScaleModule', 'Add']);
  });
});

describe('refusals name the node and what is supported', () => {
  const one = (node: NodeSpec, extra: NodeSpec[] = [], dims: (number | string)[] = ['N', 2, 3]) =>
    buildModel({ inputs: [{ name: 'x', dims }], outputs: [{ name: 'out' }], nodes: [...extra, node] });

  it.each([
    ['a Transpose moving the batch axis', one({ op: 'Transpose', inputs: ['x'], outputs: ['out'], name: 't', attrs: { perm: [1, 0, 2] } }), /ONNX node 't' \(op Transpose\): perm \[1, 0, 2\] moves the batch axis/],
    [
      'a Slice with a negative step on data',
      one({ op: 'Slice', inputs: ['x', 'a', 'b', 'c', 'd'], outputs: ['out'], name: 's' }, [constant('a', [2]), constant('b', [0]), constant('c', [2]), constant('d', [-1])]),
      /ONNX node 's' \(op Slice\): step -1 on axis 2; only positive steps are supported on data/,
    ],
    [
      'a Gather of two indices from data',
      one({ op: 'Gather', inputs: ['x', 'i'], outputs: ['out'], name: 'g', attrs: { axis: 2 } }, [constant('i', [0, 1])]),
      /ONNX node 'g' \(op Gather\): Gather of data is supported with one constant index/,
    ],
    [
      'a Mul of data by a vector',
      one({ op: 'Mul', inputs: ['x', 'v'], outputs: ['out'], name: 'm' }, [constant('v', [1, 2, 3], [3], 1)]),
      /ONNX node 'm' \(op Mul\): Mul of data by a constant of shape \[3\] is not supported \(only by one number, a ScaleModule\)/,
    ],
    [
      'a Pad of the batch axis',
      one({ op: 'Pad', inputs: ['x', 'p'], outputs: ['out'], name: 'p' }, [constant('p', [1, 0, 0, 0, 0, 0])]),
      /ONNX node 'p' \(op Pad\): pads \[1, 0, 0, 0, 0, 0\] pad the batch dimension/,
    ],
  ])('%s', (_, bytes, message) => {
    expect(() => importOnnx(bytes, { backend: cpu })).toThrow(message);
  });
});
