/**
 * Ops on tensors with no elements: core computes PyTorch's result itself and
 * never calls a kernel with an empty operand or result (the backend contract
 * promises kernels they never see one).
 */
import { cpu, type CpuHandle } from '@backpack-ts/backend-cpu';
import {
  add,
  argmax,
  cast,
  concat,
  fold,
  logSoftmax,
  matmul,
  max,
  maxPool,
  maxPoolTranspose,
  mean,
  min,
  mul,
  oneHot,
  pad,
  permute,
  reshape,
  slice,
  sizeOf,
  softmax,
  sum,
  tensor,
  unary,
  unfold,
  type Backend,
  type Shape,
  type Tensor,
  type WindowGeometry,
} from '@backpack-ts/core';
import { describe, expect, it } from 'vitest';
import { wrapBackend } from './helpers/backends.js';
import { randomNumbers, values } from './helpers/tensors.js';

/** Every kernel but creation, read-back and dispose, including the optional max-pooling ones. */
const KERNELS = [
  'reshape', 'permute', 'slice', 'concat', 'pad', 'cast', 'unary', 'binary', 'binaryScalar', 'reduce',
  'matmul', 'unfold', 'fold', 'argmax', 'softmax', 'logSoftmax', 'oneHot', 'maxPool', 'maxPoolTranspose',
] as const;

const isEmptyHandle = (value: unknown): boolean =>
  (ArrayBuffer.isView(value) && (value as CpuHandle).length === 0) || (Array.isArray(value) && value.some(isEmptyHandle));

/** backend-cpu (handles are typed arrays, so emptiness shows) failing any kernel call with an empty operand or result. */
const strict: Backend = wrapBackend(
  cpu,
  'strict',
  Object.fromEntries(
    KERNELS.map((kernel) => [
      kernel,
      (...args: unknown[]) => {
        if (args.some(isEmptyHandle)) throw new Error(`core called ${kernel} with an empty tensor`);
        // The optional max-pooling kernels decline, so core's own path runs too.
        const own = (cpu as unknown as Record<string, ((...a: unknown[]) => unknown) | undefined>)[kernel];
        const result = own?.apply(cpu, args);
        if (isEmptyHandle(result)) throw new Error(`core called ${kernel} for an empty result`);
        return result;
      },
    ]),
  ),
);

const filled = (shape: Shape, seed = 2): Tensor =>
  tensor(randomNumbers(sizeOf(shape), seed), shape, { backend: strict });
const empty = (shape: Shape): Tensor => filled(shape);
const indices = (data: number[]): Tensor => tensor(data, [data.length], { backend: strict, dtype: 'int32' });

function expectResult(x: Tensor, shape: Shape, data: readonly number[]): void {
  expect(x.shape).toEqual(shape);
  expect(values(x)).toEqual(data);
}

const window2: WindowGeometry = { kernel: [2, 2], stride: [2, 2], padding: [0, 0], dilation: [1, 1] };

describe('ops on empty tensors give PyTorch results without calling a kernel', () => {
  it('(the strict backend refuses kernel calls with empty tensors)', () => {
    expect(() => strict.unary('exp', new Float64Array(0), [0], 'float64')).toThrow(/core called unary with an empty tensor/);
    expect(() => strict.slice(new Float64Array(4), [4], [1], [0], 'float64')).toThrow(/core called slice for an empty result/);
  });

  it('elementwise: empty results', () => {
    expectResult(unary('exp', empty([2, 0, 3])), [2, 0, 3], []);
    expectResult(add(empty([2, 0, 3]), filled([1, 1, 3])), [2, 0, 3], []);
    expectResult(mul(filled([4, 1]), empty([4, 0])), [4, 0], []);
    expectResult(mul(empty([0]), 2), [0], []);
  });

  it('layout: empty results; pad fills with its value; concat skips empty operands', () => {
    expectResult(reshape(empty([0, 3]), [3, 0]), [3, 0], []);
    expectResult(permute(empty([2, 0, 3]), [2, 1, 0]), [3, 0, 2], []);
    expectResult(slice(filled([5, 6]), [2, 1], [0, 3]), [0, 3], []);
    expectResult(cast(empty([0, 2]), 'int32'), [0, 2], []);
    expectResult(pad(empty([0, 3]), [1, 1], [0, 0], 2), [1, 4], [2, 2, 2, 2]);
    const [a, b] = [filled([2, 3], 3), filled([2, 5], 4)];
    expectResult(concat([a, empty([2, 0]), b], 1), [2, 8], [...values(a).slice(0, 3), ...values(b).slice(0, 5), ...values(a).slice(3), ...values(b).slice(5)]);
    const alone = concat([empty([2, 0]), a], 1);
    expect(alone).not.toBe(a);
    expectResult(alone, [2, 3], values(a));
    expectResult(concat([empty([0, 3]), empty([0, 3])], 0), [0, 3], []);
  });

  it('sums over no elements are 0 and means NaN; max and min of no elements are errors', () => {
    expectResult(sum(empty([2, 0, 3]), 1), [2, 3], [0, 0, 0, 0, 0, 0]);
    expectResult(sum(empty([0])), [], [0]);
    expectResult(sum(empty([2, 0]), 1, true), [2, 1], [0, 0]);
    expectResult(sum(tensor([], [0, 2], { backend: strict, dtype: 'int32' }), 0), [2], [0, 0]);
    expectResult(mean(empty([3, 0]), 1), [3], [NaN, NaN, NaN]);
    expectResult(max(empty([2, 0, 3]), 0), [0, 3], []);
    expect(() => max(empty([3, 0]), 1)).toThrow(/max: axis 1 of \[3, 0\] is empty, and the maximum of no elements is undefined/);
    expect(() => min(empty([0]))).toThrow(/min: axis 0 of \[0\] is empty/);
    expectResult(argmax(empty([3, 0]), 0), [0], []);
    expect(() => argmax(empty([3, 0]), 1)).toThrow(/argmax: axis 1 of \[3, 0\] is empty/);
  });

  it('matmul over k = 0 is zeros; empty batches and sides are empty', () => {
    expectResult(matmul(empty([2, 0]), empty([0, 3])), [2, 3], [0, 0, 0, 0, 0, 0]);
    expectResult(matmul(empty([0, 3]), filled([3, 2])), [0, 2], []);
    expectResult(matmul(empty([0, 2, 3]), filled([3, 2])), [0, 2, 2], []);
  });

  it('softmax, logSoftmax and oneHot: empty results', () => {
    expectResult(softmax(empty([0, 4])), [0, 4], []);
    expectResult(logSoftmax(empty([3, 0]), 0), [3, 0], []);
    expectResult(oneHot(indices([]), 3, 'float64'), [0, 3], []);
    expectResult(oneHot(indices([1, 0]), 0, 'float64'), [2, 0], []);
  });

  it('sliding windows: empty batches; padding around no elements unfolds to zeros', () => {
    const window3: WindowGeometry = { kernel: [3, 3], stride: [1, 1], padding: [0, 0], dilation: [1, 1] };
    expectResult(unfold(empty([0, 2, 5, 5]), window3), [0, 18, 9], []);
    expectResult(fold(empty([0, 18, 9]), [5, 5], window3), [0, 2, 5, 5], []);
    const padded: WindowGeometry = { kernel: [1, 1], stride: [1, 1], padding: [1, 1], dilation: [1, 1] };
    expectResult(unfold(empty([1, 1, 0, 2]), padded), [1, 1, 8], new Array<number>(8).fill(0));
    const pooled = maxPool(empty([0, 2, 4, 4]), window2);
    expectResult(pooled.values, [0, 2, 2, 2], []);
    expectResult(pooled.argmax, [0, 2, 4], []);
    expectResult(maxPoolTranspose(empty([3, 0, 2, 4]), pooled.argmax, [4, 4], window2), [3, 0, 2, 4, 4], []);
  });
});
