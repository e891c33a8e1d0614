import { cpu } from '@backpack-ts/backend-cpu';
import { describe, expect, it } from 'vitest';
import { AvgPool2d, BatchNorm1d, Conv1d, ConvTranspose2d, MaxPool2d, ZeroPad2d } from '@backpack-ts/core';
import {
  buildGoldenModel,
  checkGoldenForward,
  listGoldenCases,
  buildGoldenLayer,
  loadGoldenCase,
  syntheticGoldenCase,
  type GoldenCase,
  type GoldenLayerSpec,
} from '../src/index.js';

function syntheticCase(layers: GoldenLayerSpec[], loss: GoldenCase['case']['loss'], target: GoldenCase['target']): GoldenCase {
  return {
    name: 'synthetic',
    case: { name: 'synthetic', seed: 0, batch: 2, input: { shape: [2] }, layers, loss },
    input: { shape: [2, 2], data: [1, -2, 0.5, 3] },
    target,
    output: { shape: [0], data: [] },
    loss: 0,
    params: {
      '0.weight': { shape: [2, 2], data: [1, 2, 3, 4] },
      '0.bias': { shape: [2], data: [0.5, -0.5] },
      '2.weight': { shape: [2, 2], data: [1, 0, 0, -1] },
    },
    quantities: {},
  };
}

describe('buildGoldenModel', () => {
  it('builds the layers, loads the parameters and runs in evaluation mode', () => {
    const golden = syntheticCase(
      [{ type: 'Linear', in: 2, out: 2 }, { type: 'LeakyReLU', negative_slope: 0.1 }, { type: 'Linear', in: 2, out: 2, bias: false }],
      { type: 'CrossEntropyLoss', reduction: 'sum' },
      { shape: [2], data: [1, 0] },
    );
    const built = buildGoldenModel(golden, { backend: cpu, dtype: 'float64' });
    if (built.unsupported !== undefined) throw new Error(built.unsupported);
    expect(built.model.namedParameters().map(([name]) => name)).toEqual(['0.weight', '0.bias', '2.weight']);
    expect(built.model.training).toBe(false);
    expect(built.target.dtype).toBe('int32');
    expect(built.loss.reduction).toBe('sum');
    // x W^T + b: [1 - 4 + 0.5, 3 - 8 - 0.5] = [-2.5, -5.5] -> LeakyReLU -> [-0.25, -0.55] -> diag(1, -1)
    const output = Array.from(built.model.forward(built.input).toArray());
    expect(output[0]).toBeCloseTo(-0.25, 14);
    expect(output[1]).toBeCloseTo(0.55, 14);
  });

  it('reports the layer types core lacks instead of throwing', () => {
    const golden = syntheticCase(
      [{ type: 'GRU', input_size: 1 }, { type: 'ReLU' }, { type: 'GroupNorm', groups: 2 }, { type: 'GRU' }],
      { type: 'MSELoss' },
      { shape: [2, 2], data: [0, 0, 0, 0] },
    );
    expect(buildGoldenModel(golden, { backend: cpu, dtype: 'float64' })).toEqual({ unsupported: 'GRU, GroupNorm' });
  });

  it('creates float targets in the requested dtype for regression losses', () => {
    const golden = syntheticCase(
      [{ type: 'Linear', in: 2, out: 2 }, { type: 'Identity' }, { type: 'Linear', in: 2, out: 2, bias: false }],
      { type: 'MSELoss' },
      { shape: [2, 2], data: [0, 1, 2, 3] },
    );
    const built = buildGoldenModel(golden, { backend: cpu, dtype: 'float32' });
    if (built.unsupported !== undefined) throw new Error(built.unsupported);
    expect(built.target.dtype).toBe('float32');
    expect(built.model.parameters().every((p) => p.data.dtype === 'float32')).toBe(true);
    expect(built.loss.reduction).toBe('mean');
  });
});

/** A case with the given layers, input and parameters (no reference values). */
function spatialCase(
  layers: GoldenLayerSpec[],
  input: GoldenCase['input'],
  params: GoldenCase['params'],
  buffers: GoldenCase['buffers'] = {},
): GoldenCase {
  return {
    name: 'spatial',
    case: { name: 'spatial', seed: 0, batch: input.shape[0]!, input: { shape: input.shape.slice(1) }, layers, loss: { type: 'MSELoss' } },
    input,
    target: { shape: [0], data: [] },
    output: { shape: [0], data: [] },
    loss: 0,
    params,
    buffers,
    quantities: {},
  };
}

function ramp(shape: number[], scale = 1): GoldenCase['input'] {
  const size = shape.reduce((a, b) => a * b, 1);
  return { shape, data: Array.from({ length: size }, (_, i) => ((i % 7) - 3) * scale) };
}

describe('buildGoldenModel: convolution, pooling, padding and normalisation layers', () => {
  const options = { backend: cpu, dtype: 'float64' as const };

  it('maps Conv1d arguments (stride, padding, dilation, groups, bias) onto core Conv1d', () => {
    const golden = spatialCase(
      [{ type: 'Conv1d', in: 4, out: 2, kernel: 3, stride: 2, padding: 1, dilation: 2, groups: 2, bias: false }],
      ramp([1, 4, 9]),
      { '0.weight': ramp([2, 2, 3], 0.5) },
    );
    const built = buildGoldenModel(golden, options);
    if (built.unsupported !== undefined) throw new Error(built.unsupported);
    const conv = built.model.layers[0] as Conv1d;
    expect(conv).toBeInstanceOf(Conv1d);
    expect([conv.stride, conv.padding, conv.dilation, conv.groups]).toEqual([[2], [1], [2], 2]);
    expect(conv.bias).toBeUndefined();
    // out = floor((9 + 2 - 2·2 - 1) / 2) + 1 = 4 positions
    expect(built.model.forward(built.input).shape).toEqual([1, 2, 4]);
  });

  it('maps ConvTranspose2d (with output_padding) and keeps the weight layout [in, out/groups, ...k]', () => {
    const golden = spatialCase(
      [{ type: 'ConvTranspose2d', in: 2, out: 3, kernel: [3, 2], stride: 2, output_padding: 1 }],
      ramp([1, 2, 2, 3]),
      { '0.weight': ramp([2, 3, 3, 2], 0.25), '0.bias': ramp([3]) },
    );
    const built = buildGoldenModel(golden, options);
    if (built.unsupported !== undefined) throw new Error(built.unsupported);
    const layer = built.model.layers[0] as ConvTranspose2d;
    expect([layer.kernelSize, layer.stride, layer.outputPadding]).toEqual([[3, 2], [2, 2], [1, 1]]);
    // (2 - 1)·2 + 3 + 1 = 6, (3 - 1)·2 + 2 + 1 = 7
    expect(built.model.forward(built.input).shape).toEqual([1, 3, 6, 7]);
  });

  it('pooling: stride absent means stride = kernel; ZeroPad2d and AdaptiveAvgPool2d', () => {
    const golden = spatialCase(
      [
        { type: 'ZeroPad2d', padding: 1 },
        { type: 'MaxPool2d', kernel: 2 },
        { type: 'AvgPool2d', kernel: 2, stride: 1 },
        { type: 'AdaptiveAvgPool2d', output_size: [2, null] },
      ],
      ramp([2, 1, 6, 8]),
      {},
    );
    const built = buildGoldenModel(golden, options);
    if (built.unsupported !== undefined) throw new Error(built.unsupported);
    const [pad, maxPool, avgPool] = built.model.layers as [ZeroPad2d, MaxPool2d, AvgPool2d];
    expect(pad.padding).toEqual([1, 1, 1, 1]);
    expect(maxPool.stride).toEqual([2, 2]);
    expect(avgPool.stride).toEqual([1, 1]);
    // pad: 8 x 10; max pool: 4 x 5; avg pool: 3 x 4; adaptive: 2 x 4
    expect(built.model.forward(built.input).shape).toEqual([2, 1, 2, 4]);
  });

  it('BatchNorm1d in evaluation mode with the case buffers (eps 1e-5)', () => {
    const golden = spatialCase(
      [{ type: 'BatchNorm1d', features: 2 }],
      { shape: [2, 2], data: [1, 2, 3, 4] },
      { '0.weight': { shape: [2], data: [2, -1] }, '0.bias': { shape: [2], data: [0.5, 0] } },
      { '0.running_mean': { shape: [2], data: [1, 1] }, '0.running_var': { shape: [2], data: [4, 1] } },
    );
    const built = buildGoldenModel(golden, options);
    if (built.unsupported !== undefined) throw new Error(built.unsupported);
    const bn = built.model.layers[0] as BatchNorm1d;
    expect(bn.training).toBe(false);
    expect(bn.eps).toBe(1e-5);
    const y = Array.from(built.model.forward(built.input).toArray());
    const expected = [(2 * (1 - 1)) / Math.sqrt(4 + 1e-5) + 0.5, (-1 * (2 - 1)) / Math.sqrt(1 + 1e-5), (2 * (3 - 1)) / Math.sqrt(4 + 1e-5) + 0.5, (-1 * (4 - 1)) / Math.sqrt(1 + 1e-5)];
    y.forEach((v, i) => expect(v).toBeCloseTo(expected[i]!, 14));
  });

  it.each(listGoldenCases())('builds the golden case $name', (file) => {
    const built = buildGoldenModel(loadGoldenCase(file), options);
    if (built.unsupported !== undefined) throw new Error(`${file.name}: unknown layer type ${built.unsupported}`);
  });
});

describe('buildGoldenModel: BackPACK custom modules', () => {
  const options = { backend: cpu, dtype: 'float64' as const };
  it('builds Parallel with branches of one layer and lists of layers, named as BackPACK', () => {
    const golden = syntheticGoldenCase(
      {
        name: 'synthetic parallel',
        layers: [
          { type: 'Linear', in: 3, out: 4 },
          { type: 'Parallel', branches: [{ type: 'Linear', in: 4, out: 4 }, [{ type: 'Linear', in: 4, out: 4 }, { type: 'ReLU' }, { type: 'ScaleModule', weight: -1.5 }], { type: 'Identity' }] },
          { type: 'Permute', dims: [0, 1] },
        ],
        loss: { type: 'MSELoss' },
        batch: 2,
        inputShape: [3],
      },
      2,
      cpu,
    );
    expect(Object.keys(golden.params)).toEqual(['0.weight', '0.bias', '1.branch.0.weight', '1.branch.0.bias', '1.branch.1.0.weight', '1.branch.1.0.bias']);
  });

  it('draws CrossEntropyLoss targets per position for [N, C, T] outputs', () => {
    const golden = syntheticGoldenCase(
      {
        name: 'synthetic sequence',
        layers: [{ type: 'Linear', in: 2, out: 3 }, { type: 'Permute', dims: [0, 2, 1] }, { type: 'Slicing', slice_info: [{ start: null, stop: null, step: null }, { start: 0, stop: 3, step: 1 }, 1] }],
        loss: { type: 'CrossEntropyLoss' },
        batch: 2,
        inputShape: [4, 2],
      },
      3,
      cpu,
    );
    expect(golden.output.shape).toEqual([2, 3]);
    expect(golden.target.shape).toEqual([2]);
    const padded = buildGoldenLayer({ type: 'Pad', pad: [1, 0], mode: 'constant', value: 0.5 }, options);
    expect(padded.typeName).toBe('Pad');
    expect(() => buildGoldenLayer({ type: 'Pad', pad: [1, 0], mode: 'reflect' }, options)).toThrow(/mode 'reflect' is not supported/);
  });
});

describe('syntheticGoldenCase', () => {
  it('makes a case buildGoldenModel reproduces: stored output and loss, random BatchNorm statistics, int targets', () => {
    const golden = syntheticGoldenCase(
      {
        name: 'synthetic cnn',
        layers: [
          { type: 'Conv2d', in: 1, out: 2, kernel: 2 },
          { type: 'BatchNorm2d', features: 2 },
          { type: 'ReLU' },
          { type: 'Flatten' },
          { type: 'Linear', in: 8, out: 3 },
        ],
        loss: { type: 'CrossEntropyLoss' },
        batch: 3,
        inputShape: [1, 3, 3],
      },
      5,
      cpu,
    );
    expect(Object.keys(golden.params)).toEqual(['0.weight', '0.bias', '1.weight', '1.bias', '4.weight', '4.bias']);
    expect(Object.keys(golden.buffers!)).toEqual(['1.running_mean', '1.running_var']);
    expect(golden.buffers!['1.running_var']!.data.every((v) => v >= 0.5 && v <= 2)).toBe(true);
    expect(golden.params['1.weight']!.data.every((v) => v !== 1)).toBe(true);
    expect(golden.target.data.every((c) => Number.isInteger(c) && c >= 0 && c < 3)).toBe(true);
    const check = checkGoldenForward(golden, { backend: cpu, dtype: 'float64', tolerance: 1e-15 });
    if (check.unsupported !== undefined) throw new Error(check.unsupported);
    expect(check.reports.filter((r) => !r.ok).map((r) => r.message)).toEqual([]);
    // The same seed gives the same case.
    expect(syntheticGoldenCase({ ...golden.case, inputShape: [1, 3, 3] }, 5, cpu).params).toEqual(golden.params);
  });

  it('draws Embedding indices in [0, indexRange)', () => {
    const golden = syntheticGoldenCase(
      {
        name: 'synthetic embedding',
        layers: [{ type: 'Embedding', num_embeddings: 5, embedding_dim: 2 }, { type: 'Flatten' }],
        loss: { type: 'MSELoss' },
        batch: 4,
        inputShape: [3],
        indexRange: 5,
      },
      1,
      cpu,
    );
    expect(golden.input.shape).toEqual([4, 3]);
    expect(golden.input.data.every((i) => Number.isInteger(i) && i >= 0 && i < 5)).toBe(true);
    expect(golden.output.shape).toEqual([4, 6]);
  });
});
