import { cpu } from '@backpack-ts/backend-cpu';
import { describe, expect, it } from 'vitest';
import { buildGoldenModel, type GoldenCase, type GoldenLayerSpec } from '../src/index.js';

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
      [{ type: 'Conv2d', in: 1, out: 1, kernel: 3 }, { type: 'ReLU' }, { type: 'MaxPool2d', kernel: 2 }, { type: 'Conv2d' }],
      { type: 'MSELoss' },
      { shape: [2, 2], data: [0, 0, 0, 0] },
    );
    expect(buildGoldenModel(golden, { backend: cpu, dtype: 'float64' })).toEqual({ unsupported: 'Conv2d, MaxPool2d' });
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
