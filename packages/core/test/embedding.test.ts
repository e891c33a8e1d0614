/**
 * Embedding: lookup against the weight's rows, PyTorch's initialisation,
 * the weight's derivatives (per sample and summed) against central finite
 * differences, `.grad` through the backward engine, and bad indices.
 */
import { describe, expect, it } from 'vitest';
import { cpu } from '@backpack-ts/backend-cpu';
import {
  CrossEntropyLoss,
  Embedding,
  Flatten,
  Generator,
  Sequential,
  extend,
  type EmbeddingOptions,
  type Tensor,
} from '@backpack-ts/core';
import { expectClose } from './helpers/close.js';
import { matTimesJacobian, parameterJacobian, perSampleMatTimesJacobian } from './helpers/finite-differences.js';
import { linear } from './helpers/models.js';
import { randomTensor, t, values } from './helpers/tensors.js';

const FD_RTOL = 1e-7;

function embedding(num: number, dim: number, seed = 1, options: EmbeddingOptions = {}): Embedding {
  return new Embedding(num, dim, { backend: cpu, generator: new Generator(seed), ...options });
}

const ids = (data: number[], shape: number[]): Tensor => t(data, shape, 'int32');

describe('Embedding forward', () => {
  it.each([
    ['[N]', [2, 0, 4], [3]],
    ['[N, 3]', [1, 1, 0, 4, 2, 1], [2, 3]],
    ['[N, 2, 2]', [0, 3, 3, 1, 4, 2, 2, 0], [2, 2, 2]],
  ])('indices %s give the rows of weight, [N, ..., dim]', (_, data, shape) => {
    const module = embedding(5, 3);
    const weight = values(module.weight.data);
    const expected = data.flatMap((i) => weight.slice(i * 3, i * 3 + 3));
    expectClose(module.forward(ids(data, shape)), expected, 0, [...shape, 3]);
  });

  it('initialises weight [num, dim] standard normal, reproducibly from its generator', () => {
    const [a, b] = [embedding(100, 50, 7), embedding(100, 50, 7)];
    expect(a.weight.data.shape).toEqual([100, 50]);
    expect(values(a.weight.data)).toEqual(values(b.weight.data));
    const w = values(a.weight.data);
    const mean = w.reduce((s, v) => s + v, 0) / w.length;
    const variance = w.reduce((s, v) => s + (v - mean) ** 2, 0) / w.length;
    expect(Math.abs(mean)).toBeLessThan(0.05);
    expect(Math.abs(variance - 1)).toBeLessThan(0.08);
    expect(a.weight.data.dtype).toBe('float64');
    expect(embedding(3, 2, 1, { dtype: 'float32' }).weight.data.dtype).toBe('float32');
  });
});

describe('Embedding derivatives', () => {
  const inputs: [string, number[], number[]][] = [
    ['[N]', [2, 0, 2], [3]],
    // Repeated indices within a sample: their contributions add up.
    ['[N, 3]', [1, 1, 0, 4, 2, 1], [2, 3]],
    ['[N, 2, 2]', [0, 3, 3, 0, 4, 2, 2, 2], [2, 2, 2]],
  ];

  it.each(inputs.flatMap(([name, data, shape]) => [1, 3].map((v) => [name, data, shape, v] as const)))(
    'paramJacTMatProd for weight, summed and per sample, indices %s (V = %i)',
    (_, data, shape, v) => {
      const module = extend(embedding(5, 3));
      const x = ids(data, shape);
      const output = module.forward(x);
      const node = output.producer!;
      expect(module.differentiableInputs(node)).toEqual([]);
      const jacobian = parameterJacobian(module.weight, () => module.forward(x));
      const mat = randomTensor([v, ...output.shape], 300 + v);
      const batch = shape[0]!;
      expectClose(module.paramJacTMatProd(node, 'weight', mat, { sumBatch: true }), matTimesJacobian(mat.toArray(), jacobian), FD_RTOL, [v, 5, 3]);
      expectClose(
        module.paramJacTMatProd(node, 'weight', mat, { sumBatch: false }),
        perSampleMatTimesJacobian(mat.toArray(), jacobian, batch),
        FD_RTOL,
        [v, batch, 5, 3],
      );
      expect(() => module.jacTMatProd(node, mat, 0)).toThrow(/Embedding: its input holds indices, which are not differentiable/);
      expect(() => module.paramJacTMatProd(node, 'bias', mat, { sumBatch: true })).toThrow(/Embedding has no parameter 'bias'/);
    },
  );

  it('.grad from loss.backward() matches finite differences of the loss', () => {
    const model = extend(new Sequential(embedding(7, 3), new Flatten(), linear(6, 4, 2)));
    const lossFunction = extend(new CrossEntropyLoss());
    const x = ids([5, 0, 2, 2, 1, 3, 4, 4], [4, 2]);
    const target = ids([3, 0, 1, 2], [4]);
    const lossOf = () => lossFunction.forward(model.forward(x), target);
    lossOf().backward();
    for (const [name, parameter] of model.namedParameters()) {
      expect(parameter.grad, name).toBeDefined();
      expectClose(parameter.grad!, parameterJacobian(parameter, lossOf).data, FD_RTOL, parameter.data.shape);
    }
    // Index 6 never occurs: its row gets no gradient.
    const grad = values(model.namedParameters()[0]![1].grad!);
    expect(grad.slice(18, 21)).toEqual([0, 0, 0]);
    expect(grad.slice(0, 3).some((g) => g !== 0)).toBe(true);
  });
});

describe('Embedding rejects bad input, naming the module and the numbers', () => {
  it('indices that are not int32', () => {
    expect(() => embedding(5, 3).forward(t([1, 2], [2]))).toThrow(
      /Embedding: expects int32 indices, got float64 of shape \[2\] \(create them with \{ dtype: 'int32' \}\)/,
    );
    expect(() => embedding(5, 3).forward(t([1, 2], [2], 'float32'))).toThrow(/got float32/);
  });

  it('an index out of range, with its position and value', () => {
    expect(() => embedding(5, 3).forward(ids([1, 2, 0, 4, 5, 1], [2, 3]))).toThrow(
      /Embedding: index 5 at position \[1, 1\] is out of range \[0, 5\)/,
    );
    expect(() => embedding(5, 3).forward(ids([-1, 2], [2]))).toThrow(/Embedding: index -1 at position \[0\] is out of range \[0, 5\)/);
  });

  it('a scalar input (no batch dimension) and bad sizes', () => {
    expect(() => embedding(5, 3).forward(ids([1], []))).toThrow(/Embedding: expects indices \[N, \.\.\.\] \(batch first\), got shape \[\]/);
    expect(() => new Embedding(0, 3, { backend: cpu })).toThrow(/Embedding: numEmbeddings must be an integer >= 1, got 0/);
  });

  it('names the module by its path inside a model', () => {
    const model = extend(new Sequential(embedding(4, 2)));
    expect(() => model.forward(ids([4], [1]))).toThrow(/Embedding '0': index 4 at position \[0\]/);
  });
});
