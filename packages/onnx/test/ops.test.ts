/**
 * Operator coverage beyond the golden PyTorch exports: models built with
 * the test encoder (tf2onnx-style names and layouts, residual blocks, every
 * convolution and pooling variant, embeddings, shape computations), each
 * imported and compared with onnxruntime-node, and the structural promises
 * (names, layouts, bias fusion, extensions running) checked directly.
 */
import { cpu } from '@backpack-ts/backend-cpu';
import { Linear, ReLU, Sequential, backpack, extend, tensor, CrossEntropyLoss, transpose, type Tensor } from '@backpack-ts/core';
import { BatchGrad } from '@backpack-ts/first-order';
import { describe, expect, it } from 'vitest';
import { computeQuantities, createLoss, importOnnx, type ResultTensor } from '../src/index.js';
import { importAndVerify, inputFor } from './helpers/check.js';
import { DOUBLE, INT64, buildModel, init, values, type NodeSpec } from './helpers/onnx-builder.js';

const int64 = (name: string, vals: number[], dims: number[] = [vals.length]) => ({ name, dims, values: vals, dataType: INT64 });

function names(model: { namedParameters(): [string, { data: Tensor }][] }): Record<string, number[]> {
  return Object.fromEntries(model.namedParameters().map(([n, p]) => [n, [...p.data.shape]]));
}

describe('tf2onnx-style MatMul + Add (Keras Dense)', () => {
  const bytes = buildModel({
    inputs: [{ name: 'x:0', dims: ['unk__6', 4] }],
    outputs: [{ name: 'Identity:0', dims: ['unk__7', 3] }],
    initializers: [init('dense/kernel:0', [4, 5], 1), init('dense/bias:0', [5], 2), init('dense_1/kernel:0', [5, 3], 3), init('dense_1/bias:0', [3], 4)],
    nodes: [
      { op: 'MatMul', inputs: ['x:0', 'dense/kernel:0'], outputs: ['m1'], name: 'sequential/dense/MatMul' },
      { op: 'Add', inputs: ['m1', 'dense/bias:0'], outputs: ['a1'], name: 'sequential/dense/BiasAdd' },
      { op: 'Relu', inputs: ['a1'], outputs: ['r1'], name: 'sequential/dense/Relu' },
      { op: 'MatMul', inputs: ['r1', 'dense_1/kernel:0'], outputs: ['m2'], name: 'sequential/dense_1/MatMul' },
      { op: 'Add', inputs: ['dense_1/bias:0', 'm2'], outputs: ['Identity:0'], name: 'sequential/dense_1/BiasAdd' },
    ],
  });

  it('imports Linear layers named after the initializers and matches ONNX Runtime', async () => {
    const model = await importAndVerify(bytes);
    expect(names(model)).toEqual({ 'dense/kernel:0': [5, 4], 'dense/bias:0': [5], 'dense_1/kernel:0': [3, 5], 'dense_1/bias:0': [3] });
    expect(model.steps.map((s) => s.module.typeName)).toEqual(['Linear', 'ReLU', 'Linear']);
    expect(model.source('dense/kernel:0')).toMatchObject({ initializer: 'dense/kernel:0', onnxShape: [4, 5], transposed: true, scale: 1 });
    expect(model.notes.join('\n')).toContain("'dense/kernel:0' holds the transpose of initializer");
  });

  it('reports quantities in the initializer layout and agrees with the same network built by hand', () => {
    const model = importOnnx(bytes, { backend: cpu });
    const x = inputFor(model, 4);
    const y = tensor([0, 2, 1, 2], [4], { backend: cpu, dtype: 'int32' });
    const result = computeQuantities(model, x, y, { loss: createLoss('CrossEntropyLoss'), extensions: ['BatchGrad', 'KFLR'] });
    const batchGrad = result.quantities['BatchGrad']!['dense/kernel:0'] as ResultTensor;
    expect(batchGrad.shape).toEqual([4, 4, 5]);
    expect((result.quantities['grad']!['dense/kernel:0'] as ResultTensor).shape).toEqual([4, 5]);
    const kflr = result.quantities['KFLR']!['dense/kernel:0'] as ResultTensor[];
    expect(kflr.map((f) => f.shape)).toEqual([[4, 4], [5, 5]]);

    // The same network from core modules, with the transposed kernels.
    const first = new Linear(4, 5, { backend: cpu });
    const second = new Linear(5, 3, { backend: cpu });
    const params = new Map(model.namedParameters());
    first.loadStateDict({ weight: params.get('dense/kernel:0')!.data, bias: params.get('dense/bias:0')!.data });
    second.loadStateDict({ weight: params.get('dense_1/kernel:0')!.data, bias: params.get('dense_1/bias:0')!.data });
    const reference = extend(new Sequential(first, new ReLU(), second));
    const loss = extend(new CrossEntropyLoss()).forward(reference.forward(x), y);
    backpack([new BatchGrad()], () => loss.backward());
    const expected = Array.from(transpose(first.weight.gradBatch!, 1, 2).toArray());
    expect(batchGrad.data.length).toBe(expected.length);
    batchGrad.data.forEach((v, i) => expect(v).toBeCloseTo(expected[i]!, 12));

    const inModuleLayout = computeQuantities(model, x, y, { loss: createLoss('CrossEntropyLoss'), extensions: ['BatchGrad'], onnxLayout: false });
    expect((inModuleLayout.quantities['BatchGrad']!['dense/kernel:0'] as ResultTensor).shape).toEqual([4, 5, 4]);
  });

  it('loads state dicts by the ONNX names', () => {
    const model = importOnnx(bytes, { backend: cpu });
    model.loadStateDict({ 'dense/bias:0': tensor([1, 2, 3, 4, 5], [5], { backend: cpu }) });
    expect(Array.from(new Map(model.namedParameters()).get('dense/bias:0')!.data.toArray())).toEqual([1, 2, 3, 4, 5]);
    expect(() => model.loadStateDict({ 'dense/bias:0': tensor([1], [1], { backend: cpu }) })).toThrow(/'dense\/bias:0' has shape \[5\], got \[1\]/);
    expect(() => model.loadStateDict({ 'nope.weight': tensor([1], [1], { backend: cpu }) })).toThrow(/unknown name 'nope.weight'/);
  });
});

describe('PyTorch-style graphs', () => {
  it('imports a residual block (Add of two branches) and runs curvature extensions through it', async () => {
    const bytes = buildModel({
      inputs: [{ name: 'input', dims: ['batch', 6] }],
      outputs: [{ name: 'output', dims: ['batch', 3] }],
      initializers: [
        init('fc1.weight', [6, 6], 1),
        init('fc1.bias', [6], 2),
        init('fc2.weight', [6, 6], 3),
        init('fc2.bias', [6], 4),
        init('head.weight', [3, 6], 5),
        init('head.bias', [3], 6),
      ],
      nodes: [
        { op: 'Gemm', inputs: ['input', 'fc1.weight', 'fc1.bias'], outputs: ['h1'], name: '/fc1/Gemm', attrs: { transB: 1 } },
        { op: 'Relu', inputs: ['h1'], outputs: ['h2'], name: '/act/Relu' },
        { op: 'Gemm', inputs: ['h2', 'fc2.weight', 'fc2.bias'], outputs: ['h3'], name: '/fc2/Gemm', attrs: { transB: 1, alpha: { f: 1 }, beta: { f: 1 } } },
        { op: 'Add', inputs: ['h3', 'input'], outputs: ['r'], name: '/Add' },
        { op: 'Tanh', inputs: ['r'], outputs: ['t'], name: '/act_1/Tanh' },
        { op: 'Gemm', inputs: ['t', 'head.weight', 'head.bias'], outputs: ['output'], name: '/head/Gemm', attrs: { transB: 1 } },
      ],
    });
    const model = await importAndVerify(bytes);
    expect(Object.keys(names(model))).toEqual(['fc1.weight', 'fc1.bias', 'fc2.weight', 'fc2.bias', 'head.weight', 'head.bias']);
    expect(model.steps.map((s) => s.module.typeName)).toEqual(['Linear', 'ReLU', 'Linear', 'Add', 'Tanh', 'Linear']);
    const x = inputFor(model, 5);
    const y = tensor([0, 1, 2, 1, 0], [5], { backend: cpu, dtype: 'int32' });
    const result = computeQuantities(model, x, y, {
      loss: createLoss('CrossEntropyLoss'),
      extensions: ['BatchGrad', 'DiagGGNExact', 'DiagHessian', 'KFLR'],
    });
    // Per-sample gradients sum to the gradient, through the branch point.
    for (const name of Object.keys(names(model))) {
      const g = result.quantities['grad']![name] as ResultTensor;
      const b = result.quantities['BatchGrad']![name] as ResultTensor;
      const per = g.data.length;
      g.data.forEach((v, j) => expect(b.data.reduce((s, _, k) => (k % per === j ? s + b.data[k]! : s), 0)).toBeCloseTo(v, 12));
    }
    expect(Object.keys(result.quantities['DiagHessian']!)).toHaveLength(6);
    expect((result.quantities['KFLR']!['fc1.weight'] as ResultTensor[]).map((f) => f.shape)).toEqual([[6, 6], [6, 6]]);
  });

  it('imports a CNN with auto_pad, groups, BatchNorm2d, pooling, bias Add and a Shape/Gather/Concat/Reshape chain', async () => {
    const nodes: NodeSpec[] = [
      { op: 'Conv', inputs: ['x', 'c1.weight', 'c1.bias'], outputs: ['c1'], name: '/c1/Conv', attrs: { kernel_shape: [2, 2], strides: [2, 2], auto_pad: 'SAME_UPPER', group: 2 } },
      { op: 'BatchNormalization', inputs: ['c1', 'bn.weight', 'bn.bias', 'bn.running_mean', 'bn.running_var'], outputs: ['b1'], name: '/bn/BatchNormalization', attrs: { epsilon: { f: 1e-3 }, momentum: { f: 0.9 } } },
      { op: 'Relu', inputs: ['b1'], outputs: ['r1'], name: '/relu/Relu' },
      { op: 'MaxPool', inputs: ['r1'], outputs: ['p1'], name: '/pool/MaxPool', attrs: { kernel_shape: [3, 3], strides: [1, 1], pads: [1, 1, 1, 1] } },
      { op: 'Conv', inputs: ['p1', 'c2.weight'], outputs: ['c2'], name: '/c2/Conv', attrs: { kernel_shape: [3, 3], dilations: [2, 2], pads: [2, 2, 2, 2] } },
      { op: 'Add', inputs: ['c2', 'c2.bias'], outputs: ['c2b'], name: '/c2/Add' },
      { op: 'AveragePool', inputs: ['c2b'], outputs: ['a1'], name: '/avg/AveragePool', attrs: { kernel_shape: [2, 2], strides: [2, 2], pads: [1, 1, 1, 1], count_include_pad: 0 } },
      { op: 'GlobalAveragePool', inputs: ['a1'], outputs: ['g'], name: '/gap/GlobalAveragePool' },
      { op: 'Shape', inputs: ['g'], outputs: ['s'], name: '/Shape' },
      { op: 'Gather', inputs: ['s', 'zero'], outputs: ['n'], name: '/Gather', attrs: { axis: 0 } },
      { op: 'Unsqueeze', inputs: ['n', 'axes0'], outputs: ['n1'], name: '/Unsqueeze' },
      { op: 'Concat', inputs: ['n1', 'minus1'], outputs: ['target'], name: '/Concat', attrs: { axis: 0 } },
      { op: 'Reshape', inputs: ['g', 'target'], outputs: ['flat'], name: '/Reshape' },
      { op: 'Gemm', inputs: ['flat', 'fc.weight', 'fc.bias'], outputs: ['out'], name: '/fc/Gemm', attrs: { transB: 1 } },
    ];
    const bytes = buildModel({
      inputs: [{ name: 'x', dims: ['N', 2, 7, 7] }],
      outputs: [{ name: 'out', dims: ['N', 2] }],
      initializers: [
        init('c1.weight', [4, 1, 2, 2], 1),
        init('c1.bias', [4], 2),
        init('bn.weight', [4], 3),
        init('bn.bias', [4], 4),
        init('bn.running_mean', [4], 5),
        { name: 'bn.running_var', dims: [4], values: values(4, 6).map((v) => Math.abs(v) + 0.5) },
        init('c2.weight', [3, 4, 3, 3], 7),
        init('c2.bias', [1, 3, 1, 1], 8),
        init('fc.weight', [2, 3], 9),
        init('fc.bias', [2], 10),
        int64('zero', [0], []),
        int64('axes0', [0]),
        int64('minus1', [-1]),
      ],
      nodes,
    });
    const model = await importAndVerify(bytes);
    expect(model.steps.map((s) => s.module.typeName)).toEqual([
      'ZeroPad2d', 'Conv2d', 'BatchNorm2d', 'ReLU', 'MaxPool2d', 'Conv2d', 'AvgPool2d', 'AdaptiveAvgPool2d', 'Flatten', 'Linear',
    ]);
    expect(names(model)).toEqual({
      'c1.weight': [4, 1, 2, 2], 'c1.bias': [4], 'bn.weight': [4], 'bn.bias': [4], 'c2.weight': [3, 4, 3, 3], 'c2.bias': [3], 'fc.weight': [2, 3], 'fc.bias': [2],
    });
    expect(model.namedBuffers().map(([n]) => n)).toEqual(expect.arrayContaining(['bn.running_mean', 'bn.running_var']));
    // The batch size is symbolic: other batch sizes run too.
    expect(model.forward(inputFor(model, 5)).shape).toEqual([5, 2]);
    const y = tensor([1, 0, 1], [3], { backend: cpu, dtype: 'int32' });
    const result = computeQuantities(model, inputFor(model, 3), y, { loss: createLoss('CrossEntropyLoss'), extensions: ['BatchGrad', 'DiagGGNExact'] });
    expect((result.quantities['BatchGrad']!['c2.bias'] as ResultTensor).shape).toEqual([3, 3]);
  });

  it('imports 1-d convolutions with Pad folded into Conv and AveragePool', async () => {
    const bytes = buildModel({
      inputs: [{ name: 'x', dims: ['N', 2, 9] }],
      outputs: [{ name: 'out', dims: ['N', 2] }],
      initializers: [init('conv.weight', [3, 2, 3], 1), init('conv.bias', [3], 2), init('fc.weight', [2, 15], 3), int64('p1', [0, 0, 1, 0, 0, 1]), int64('p2', [0, 0, 2, 0, 0, 2])],
      nodes: [
        { op: 'Transpose', inputs: ['fc.weight'], outputs: ['fcT'], name: '/fc/Transpose', attrs: { perm: [1, 0] } },
        { op: 'Pad', inputs: ['x', 'p1'], outputs: ['xp'], name: '/conv/Pad', attrs: { mode: 'constant' } },
        { op: 'Conv', inputs: ['xp', 'conv.weight', 'conv.bias'], outputs: ['c'], name: '/conv/Conv', attrs: { kernel_shape: [3] } },
        { op: 'Pad', inputs: ['c', 'p2'], outputs: ['cp'], name: '/pool/Pad' },
        { op: 'AveragePool', inputs: ['cp'], outputs: ['a'], name: '/pool/AveragePool', attrs: { kernel_shape: [5], strides: [2] } },
        { op: 'Flatten', inputs: ['a'], outputs: ['f'], name: '/flat/Flatten', attrs: { axis: 1 } },
        { op: 'MatMul', inputs: ['f', 'fcT'], outputs: ['out'], name: '/fc/MatMul' },
      
      ],
    });
    // A Transpose of the weight (an export without constant folding) is folded: the weight keeps the initializer's name and layout.
    const unfolded = await importAndVerify(bytes);
    expect(unfolded.steps.map((s) => s.module.typeName)).toEqual(['Conv1d', 'AvgPool1d', 'Flatten', 'Linear']);
    expect(names(unfolded)).toEqual({ 'conv.weight': [3, 2, 3], 'conv.bias': [3], 'fc.weight': [2, 15] });
    expect(unfolded.source('fc.weight')).toMatchObject({ initializer: 'fc.weight', onnxShape: [2, 15], transposed: false });
    const fixed = buildModel({
      inputs: [{ name: 'x', dims: ['N', 2, 9] }],
      outputs: [{ name: 'out', dims: ['N', 2] }],
      initializers: [init('conv.weight', [3, 2, 3], 1), init('conv.bias', [3], 2), init('onnx::MatMul_9', [15, 2], 3), int64('p1', [0, 0, 1, 0, 0, 1]), int64('p2', [0, 0, 2, 0, 0, 2])],
      nodes: [
        { op: 'Pad', inputs: ['x', 'p1'], outputs: ['xp'], name: '/conv/Pad', attrs: { mode: 'constant' } },
        { op: 'Conv', inputs: ['xp', 'conv.weight', 'conv.bias'], outputs: ['c'], name: '/conv/Conv', attrs: { kernel_shape: [3] } },
        { op: 'Pad', inputs: ['c', 'p2'], outputs: ['cp'], name: '/pool/Pad' },
        { op: 'AveragePool', inputs: ['cp'], outputs: ['a'], name: '/pool/AveragePool', attrs: { kernel_shape: [5], strides: [2] } },
        { op: 'Flatten', inputs: ['a'], outputs: ['f'], name: '/flat/Flatten', attrs: { axis: 1 } },
        { op: 'MatMul', inputs: ['f', 'onnx::MatMul_9'], outputs: ['out'], name: '/fc/MatMul' },
      ],
    });
    const model = await importAndVerify(fixed);
    expect(model.steps.map((s) => s.module.typeName)).toEqual(['Conv1d', 'AvgPool1d', 'Flatten', 'Linear']);
    // The anonymous transposed weight takes its PyTorch name from the node's module path.
    expect(names(model)).toEqual({ 'conv.weight': [3, 2, 3], 'conv.bias': [3], 'fc.weight': [2, 15] });
    expect(model.source('fc.weight')).toMatchObject({ initializer: 'onnx::MatMul_9', transposed: true });
  });

  it('imports 3-d convolution and pooling, and 2-d transposed convolution with asymmetric pads and output_padding', async () => {
    const conv3d = buildModel({
      inputs: [{ name: 'x', dims: ['N', 1, 4, 4, 4] }],
      outputs: [{ name: 'out', dims: ['N', 2] }],
      initializers: [init('c.weight', [2, 1, 2, 2, 2], 1), init('c.bias', [2], 2), init('fc.weight', [2, 2], 3)],
      nodes: [
        { op: 'Conv', inputs: ['x', 'c.weight', 'c.bias'], outputs: ['c'], name: '/c/Conv', attrs: { strides: [2, 2, 2] } },
        { op: 'Relu', inputs: ['c'], outputs: ['r'], name: '/r/Relu' },
        { op: 'MaxPool', inputs: ['r'], outputs: ['p'], name: '/p/MaxPool', attrs: { kernel_shape: [2, 2, 2], strides: [2, 2, 2] } },
        { op: 'Flatten', inputs: ['p'], outputs: ['f'], name: '/f/Flatten' },
        { op: 'Gemm', inputs: ['f', 'fc.weight'], outputs: ['out'], name: '/fc/Gemm', attrs: { transB: 1 } },
      ],
    });
    const m3 = await importAndVerify(conv3d);
    expect(m3.steps.map((s) => s.module.typeName)).toEqual(['Conv3d', 'ReLU', 'MaxPool3d', 'Flatten', 'Linear']);

    const convT = buildModel({
      inputs: [{ name: 'x', dims: ['N', 2, 3, 3] }],
      outputs: [{ name: 'out', dims: ['N', 3, 7, 7] }],
      initializers: [init('up.weight', [2, 3, 3, 3], 1), init('up.bias', [3], 2)],
      nodes: [
        {
          op: 'ConvTranspose',
          inputs: ['x', 'up.weight', 'up.bias'],
          outputs: ['out'],
          name: '/up/ConvTranspose',
          attrs: { strides: [2, 2], pads: [1, 0, 0, 1], output_padding: [1, 1] },
        },
      ],
    });
    const mt = await importAndVerify(convT);
    expect(mt.steps.map((s) => s.module.typeName)).toEqual(['ConvTranspose2d', 'ZeroPad2d']);
    expect(names(mt)).toEqual({ 'up.weight': [2, 3, 3, 3], 'up.bias': [3] });
  });

  it('imports an embedding (Gather on an initializer) with int64 input', async () => {
    const bytes = buildModel({
      inputs: [{ name: 'tokens', elemType: INT64, dims: ['batch', 3] }],
      outputs: [{ name: 'out', dims: ['batch', 2] }],
      initializers: [init('emb.weight', [5, 4], 1), init('fc.weight', [2, 12], 2), init('fc.bias', [2], 3)],
      nodes: [
        { op: 'Gather', inputs: ['emb.weight', 'tokens'], outputs: ['e'], name: '/emb/Gather' },
        { op: 'Flatten', inputs: ['e'], outputs: ['f'], name: '/Flatten' },
        { op: 'Gemm', inputs: ['f', 'fc.weight', 'fc.bias'], outputs: ['out'], name: '/fc/Gemm', attrs: { transB: 1 } },
      ],
    });
    const model = await importAndVerify(bytes);
    expect(model.input.dtype).toBe('int32');
    expect(model.steps.map((s) => s.module.typeName)).toEqual(['Embedding', 'Flatten', 'Linear']);
    const y = tensor([1, 0, 1], [3], { backend: cpu, dtype: 'int32' });
    const result = computeQuantities(model, inputFor(model, 3), y, { loss: createLoss('CrossEntropyLoss'), extensions: ['BatchGrad'] });
    expect((result.quantities['BatchGrad']!['emb.weight'] as ResultTensor).shape).toEqual([3, 5, 4]);
  });

  it('imports Gemm with transB = 0, alpha and beta, the activations, LogSigmoid as -Softplus(-x), Dropout, Identity and Squeeze', async () => {
    const bytes = buildModel({
      inputs: [{ name: 'x', dims: ['N', 4, 1] }],
      outputs: [{ name: 'out', dims: ['N', 3] }],
      initializers: [init('W', [4, 4], 1), init('C', [4], 2), init('out.weight', [3, 4], 3), { name: 'ratio', dims: [], values: [0.25] }, int64('axes', [2])],
      nodes: [
        { op: 'Squeeze', inputs: ['x', 'axes'], outputs: ['x2'], name: '/Squeeze' },
        { op: 'Gemm', inputs: ['x2', 'W', 'C'], outputs: ['g'], name: 'gemm', attrs: { alpha: { f: 0.5 }, beta: { f: 2 } } },
        { op: 'LeakyRelu', inputs: ['g'], outputs: ['l'], name: 'leaky', attrs: { alpha: { f: 0.2 } } },
        { op: 'Elu', inputs: ['l'], outputs: ['e'], name: 'elu', attrs: { alpha: { f: 0.7 } } },
        { op: 'Neg', inputs: ['e'], outputs: ['n1'], name: 'neg1' },
        { op: 'Softplus', inputs: ['n1'], outputs: ['sp'], name: 'softplus' },
        { op: 'Neg', inputs: ['sp'], outputs: ['ls'], name: 'neg2' },
        { op: 'Selu', inputs: ['ls'], outputs: ['s'], name: 'selu' },
        { op: 'Dropout', inputs: ['s', 'ratio'], outputs: ['d'], name: 'dropout' },
        { op: 'Identity', inputs: ['d'], outputs: ['i'], name: 'identity' },
        { op: 'Gemm', inputs: ['i', 'out.weight'], outputs: ['out'], name: '/out/Gemm', attrs: { transB: 1 } },
      ],
    });
    const model = await importAndVerify(bytes);
    expect(model.steps.map((s) => s.module.typeName)).toEqual(['Flatten', 'Linear', 'LeakyReLU', 'ELU', 'LogSigmoid', 'SELU', 'Dropout', 'Linear']);
    expect(model.source('W')).toMatchObject({ transposed: true, scale: 0.5 });
    expect(model.source('C')).toMatchObject({ scale: 2 });
    expect(model.notes.join('\n')).toMatch(/alpha = 0.5, beta = 2 are folded/);
    expect(Object.keys(names(model))).toEqual(['W', 'C', 'out.weight']);
  });
});

describe('element types and dtypes', () => {
  it('reads float64 and typed-field initializers, double inputs, and builds float32 or float64 modules', async () => {
    const bytes = buildModel({
      inputs: [{ name: 'x', elemType: DOUBLE, dims: ['N', 3] }],
      outputs: [{ name: 'out', elemType: DOUBLE, dims: ['N', 2] }],
      initializers: [
        { name: 'fc.weight', dims: [2, 3], values: [0.1, -0.2, 0.30000000000000004, 1e-9, 2, -1], dataType: DOUBLE, typed: true },
        { name: 'fc.bias', dims: [2], values: [0.5, -0.25], dataType: DOUBLE },
      ],
      nodes: [
        { op: 'Gemm', inputs: ['x', 'fc.weight', 'fc.bias'], outputs: ['g'], name: '/fc/Gemm', attrs: { transB: 1 } },
        { op: 'Relu', inputs: ['g'], outputs: ['out'], name: '/relu/Relu' },
      ],
    });
    const model = await importAndVerify(bytes);
    expect(Array.from(new Map(model.namedParameters()).get('fc.weight')!.data.toArray())).toEqual([0.1, -0.2, 0.30000000000000004, 1e-9, 2, -1]);
    const f32 = importOnnx(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer, { backend: cpu, dtype: 'float32' });
    expect(f32.parameters().every((p) => p.data.dtype === 'float32')).toBe(true);
    expect(f32.forward(inputFor(f32)).dtype).toBe('float32');
  });
});

describe('refusals name the node, its op type and what is supported', () => {
  const base = {
    inputs: [{ name: 'x', dims: ['N', 4] }],
    outputs: [{ name: 'out', dims: ['N', 4] }],
  };

  it('an unknown operator, listing the others too', () => {
    const bytes = buildModel({
      ...base,
      nodes: [
        { op: 'Relu', inputs: ['x'], outputs: ['r'], name: 'relu' },
        { op: 'FancyOp', inputs: ['r'], outputs: ['f'], name: 'fancy', domain: 'com.example' },
        { op: 'HardSwish', inputs: ['f'], outputs: ['out'], name: 'hs' },
      ],
    });
    expect(() => importOnnx(bytes, { backend: cpu })).toThrow(
      /^ONNX node 'fancy' \(op FancyOp\) in domain 'com.example' is not supported; nor are 'hs' \(HardSwish\)\. Supported operators: Gemm, MatMul, Add/,
    );
  });

  it('a missing initializer', () => {
    const bytes = buildModel({ ...base, initializers: [init('fc.weight', [4, 4], 1)], nodes: [{ op: 'Gemm', inputs: ['x', 'fc.weight', 'fc.bias'], outputs: ['out'], name: '/fc/Gemm' }] });
    expect(() => importOnnx(bytes, { backend: cpu })).toThrow("ONNX node '/fc/Gemm' (op Gemm): input 'fc.bias' is not produced by any node, initializer or graph input");
  });

  it('a constant added to data outside a bias, a reshape through the batch, shared weights, two inputs', () => {
    const addConst = buildModel({ ...base, initializers: [init('c', [4], 1)], nodes: [{ op: 'Relu', inputs: ['x'], outputs: ['r'] }, { op: 'Add', inputs: ['r', 'c'], outputs: ['out'], name: 'add' }] });
    expect(() => importOnnx(addConst, { backend: cpu })).toThrow(/ONNX node 'add' \(op Add\): adding a constant to data is supported only as the bias right after MatMul, Gemm or Conv/);

    const reshape = buildModel({ ...base, initializers: [int64('shape', [-1])], nodes: [{ op: 'Reshape', inputs: ['x', 'shape'], outputs: ['out'], name: 'reshape' }] });
    expect(() => importOnnx(reshape, { backend: cpu })).toThrow(/ONNX node 'reshape' \(op Reshape\): reshaping \[2, 4\] to \[8\] changes the batch dimension/);

    const literal = buildModel({ ...base, initializers: [int64('shape', [2, 4])], nodes: [{ op: 'Reshape', inputs: ['x', 'shape'], outputs: ['out'], name: 'reshape' }] });
    expect(() => importOnnx(literal, { backend: cpu })).toThrow(/fixes the first dimension to 2, but the batch size is dynamic/);

    const shared = buildModel({
      ...base,
      initializers: [init('w', [4, 4], 1)],
      nodes: [
        { op: 'Gemm', inputs: ['x', 'w'], outputs: ['h'], name: 'g1' },
        { op: 'Gemm', inputs: ['h', 'w'], outputs: ['out'], name: 'g2' },
      ],
    });
    expect(() => importOnnx(shared, { backend: cpu })).toThrow(/ONNX node 'g2' \(op Gemm\): initializer 'w' is also a parameter of ONNX node 'g1' \(op Gemm\); shared weights are not supported/);

    const twoInputs = buildModel({ ...base, inputs: [...base.inputs, { name: 'y', dims: ['N', 4] }], nodes: [{ op: 'Add', inputs: ['x', 'y'], outputs: ['out'] }] });
    expect(() => importOnnx(twoInputs, { backend: cpu })).toThrow("the model has 2 inputs ('x', 'y'); exactly one data input is supported");
  });

  it('a module argument core refuses, with the node named', () => {
    const bytes = buildModel({
      inputs: [{ name: 'x', dims: ['N', 1, 4, 4] }],
      outputs: [{ name: 'out' }],
      nodes: [{ op: 'MaxPool', inputs: ['x'], outputs: ['out'], name: 'pool', attrs: { kernel_shape: [2, 2], pads: [2, 2, 2, 2] } }],
    });
    expect(() => importOnnx(bytes, { backend: cpu })).toThrow(/ONNX node 'pool' \(op MaxPool\): .*padding should be at most half of kernel size/);
  });

  it('symbolic input dimensions need inputShape', async () => {
    const bytes = buildModel({
      inputs: [{ name: 'x', dims: ['N', 'features'] }],
      outputs: [{ name: 'out' }],
      nodes: [{ op: 'Relu', inputs: ['x'], outputs: ['out'], name: 'relu' }],
    });
    expect(() => importOnnx(bytes, { backend: cpu })).toThrow("input 'x' has the symbolic dimension 'features' at position 1; pass inputShape (the shape of one sample)");
    const model = await importAndVerify(bytes, { inputShape: [5] });
    expect(model.input.sampleShape).toEqual([5]);
    expect(() => model.forward(tensor([1, 2, 3], [1, 3], { backend: cpu }))).toThrow("input of shape [1, 3] does not fit the ONNX model's input 'x' of shape [batch, 5] (batch first)");
  });
});
