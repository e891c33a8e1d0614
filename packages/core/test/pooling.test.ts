/**
 * Pooling and padding modules: forward values against brute-force loops over
 * the definitions (PyTorch's), derivatives against central finite
 * differences, PyTorch's tie rule for MaxPool, and bad input.
 */
import { describe, expect, it } from 'vitest';
import {
  AdaptiveAvgPool1d,
  AdaptiveAvgPool2d,
  AdaptiveAvgPool3d,
  AvgPool1d,
  AvgPool2d,
  AvgPool3d,
  MaxPool1d,
  MaxPool2d,
  MaxPool3d,
  Sequential,
  ZeroPad2d,
  extend,
  maxPool as maxPoolOp,
  maxPoolTranspose as maxPoolTransposeOp,
  tensor,
  type AdaptiveOutputSize,
  type LeafModule,
  type Shape,
  type Tensor,
} from '@backpack-ts/core';
import { cpu } from '@backpack-ts/backend-cpu';
import { wrapBackend } from './helpers/backends.js';
import { expectClose } from './helpers/close.js';
import { batchAveragedJacTMatJac, matTimesJacobian, randomSymmetric, tensorJacobian } from './helpers/finite-differences.js';
import { indices, offsetOf, randomNumbers, randomTensor, t, values } from './helpers/tensors.js';

const FD_RTOL = 1e-7;
const EXACT_RTOL = 1e-12;

interface Geometry {
  readonly kernel: number[];
  readonly stride: number[];
  readonly padding: number[];
  readonly dilation: number[];
}

/** Window count along one dimension, written out (PyTorch, ceil_mode = False). */
const outSize = (size: number, k: number, s: number, p: number, d: number) => Math.floor((size + 2 * p - d * (k - 1) - 1) / s) + 1;

/**
 * Brute-force pooling of `[N, C, ...spatial]`: for every output position,
 * visit every kernel offset and read the input where it lies inside.
 */
function poolByHand(
  x: Tensor,
  g: Geometry,
  kind: 'max' | 'avg',
  countIncludePad = true,
): { data: number[]; shape: number[] } {
  const xs = values(x);
  const [n, c, ...spatial] = x.shape as number[];
  const out = spatial.map((size, i) => outSize(size, g.kernel[i]!, g.stride[i]!, g.padding[i]!, g.dilation[i]!));
  const shape = [n!, c!, ...out];
  const data: number[] = [];
  for (const [b, ch, ...o] of indices(shape)) {
    let best = -Infinity;
    let total = 0;
    let inside = 0;
    for (const k of indices(g.kernel)) {
      const position = o.map((oi, i) => oi * g.stride[i]! - g.padding[i]! + k[i]! * g.dilation[i]!);
      if (position.some((p, i) => p < 0 || p >= spatial[i]!)) continue;
      const value = xs[offsetOf([b!, ch!, ...position], x.shape)]!;
      best = Math.max(best, value);
      total += value;
      inside += 1;
    }
    const kernelSize = g.kernel.reduce((a, v) => a * v, 1);
    data.push(kind === 'max' ? best : total / (countIncludePad ? kernelSize : inside));
  }
  return { data, shape };
}

/** PyTorch's adaptive windows, written out: `[floor(i In / Out), ceil((i + 1) In / Out))`. */
function adaptiveByHand(x: Tensor, outSpatial: number[]): { data: number[]; shape: number[] } {
  const xs = values(x);
  const [n, c, ...spatial] = x.shape as number[];
  const shape = [n!, c!, ...outSpatial];
  const data: number[] = [];
  for (const [b, ch, ...o] of indices(shape)) {
    const start = o.map((oi, i) => Math.floor((oi * spatial[i]!) / outSpatial[i]!));
    const end = o.map((oi, i) => Math.ceil(((oi + 1) * spatial[i]!) / outSpatial[i]!));
    const box = start.map((s, i) => end[i]! - s);
    let total = 0;
    for (const k of indices(box)) total += xs[offsetOf([b!, ch!, ...k.map((ki, i) => start[i]! + ki)], x.shape)]!;
    data.push(total / box.reduce((a, v) => a * v, 1));
  }
  return { data, shape };
}

/** Distinct values (a shuffled ramp, gaps of 2/size): no ties, and no maximum switches within a finite-difference step. */
function tieFree(shape: Shape, seed: number): Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  const keys = randomNumbers(size, seed);
  const order = keys.map((_, i) => i).sort((a, b) => keys[a]! - keys[b]!);
  const data = new Array<number>(size);
  order.forEach((position, rank) => (data[position] = -1 + (2 * rank) / size));
  return t(data, shape);
}

/** jacTMatProd of a single-input module against finite differences of its forward pass. */
function expectJacTMatchesFiniteDifferences(module: LeafModule, x: Tensor, v: number): void {
  extend(module);
  const output = module.forward(x.requiresGrad_());
  const node = output.producer!;
  const jacobian = tensorJacobian((z) => module.forward(z), x);
  const mat = randomTensor([v, ...output.shape], 100 + v);
  expectClose(module.jacTMatProd(node, mat, 0), matTimesJacobian(mat.toArray(), jacobian), FD_RTOL, [v, ...x.shape]);
}

interface WindowCase {
  readonly name: string;
  readonly input: number[];
  readonly geometry: Geometry;
}

const g = (kernel: number[], stride: number[], padding: number[], dilation = kernel.map(() => 1)): Geometry => ({
  kernel,
  stride,
  padding,
  dilation,
});

/** Overlapping windows (stride < kernel), windows over the padded border, odd sizes, 1-d to 3-d. */
const windowCases: WindowCase[] = [
  { name: '1d, kernel 3, stride 2, padding 1 (overlap, border)', input: [2, 3, 7], geometry: g([3], [2], [1]) },
  { name: '1d, kernel 2, default stride, odd length', input: [2, 2, 7], geometry: g([2], [2], [0]) },
  { name: '1d, kernel 3, stride 1, padding 1', input: [1, 2, 5], geometry: g([3], [1], [1]) },
  { name: '2d, kernel 2, default stride, odd sizes', input: [2, 3, 5, 5], geometry: g([2, 2], [2, 2], [0, 0]) },
  { name: '2d, kernel [3, 2], stride [2, 1], padding [1, 1]', input: [2, 2, 5, 4], geometry: g([3, 2], [2, 1], [1, 1]) },
  { name: '2d, kernel 3, stride 2, padding 1', input: [1, 2, 6, 7], geometry: g([3, 3], [2, 2], [1, 1]) },
  { name: '3d, kernel 2, stride 1, padding 1', input: [1, 2, 3, 4, 3], geometry: g([2, 2, 2], [1, 1, 1], [1, 1, 1]) },
  { name: '3d, kernel [3, 2, 2], stride [2, 2, 1], padding [1, 0, 1]', input: [2, 1, 5, 4, 3], geometry: g([3, 2, 2], [2, 2, 1], [1, 0, 1]) },
];

/** MaxPool only: dilation. */
const dilatedCases: WindowCase[] = [
  { name: '1d, kernel 2, dilation 2, stride 1', input: [2, 2, 6], geometry: g([2], [1], [0], [2]) },
  { name: '1d, kernel 3, dilation 2, stride 2, padding 1', input: [1, 2, 8], geometry: g([3], [2], [1], [2]) },
  { name: '2d, kernel 3, dilation [2, 1], stride 1, padding 1', input: [1, 2, 6, 5], geometry: g([3, 3], [1, 1], [1, 1], [2, 1]) },
];

function maxPool(geometry: Geometry): LeafModule {
  const options = { stride: geometry.stride, padding: geometry.padding, dilation: geometry.dilation };
  const classes = [MaxPool1d, MaxPool2d, MaxPool3d];
  return new classes[geometry.kernel.length - 1]!(geometry.kernel, options);
}

function avgPool(geometry: Geometry, countIncludePad: boolean): LeafModule {
  const options = { stride: geometry.stride, padding: geometry.padding, countIncludePad };
  const classes = [AvgPool1d, AvgPool2d, AvgPool3d];
  return new classes[geometry.kernel.length - 1]!(geometry.kernel, options);
}

describe.each([...windowCases, ...dilatedCases])('MaxPool, $name', ({ input, geometry }) => {
  it('computes the maximum of every window (padding never wins)', () => {
    // Negative inputs: a zero-padded implementation would return 0 at the border.
    const x = randomTensor(input, 1, { low: -3, high: -0.5 });
    const { data, shape } = poolByHand(x, geometry, 'max');
    expectClose(maxPool(geometry).forward(x), data, EXACT_RTOL, shape);
  });

  it.each([1, 3])('jacTMatProd matches finite differences (V = %i)', (v) => {
    expectJacTMatchesFiniteDifferences(maxPool(geometry), tieFree(input, 2), v);
  });

  it('eaJacTMatJacProd is the batch mean of J_nᵀ M J_n', () => {
    const module = maxPool(geometry);
    const x = tieFree(input, 3);
    extend(module);
    const output = module.forward(x.requiresGrad_());
    const jacobian = tensorJacobian((z) => module.forward(z), x);
    const [n, dOut, dIn] = [input[0]!, output.size / input[0]!, x.size / input[0]!];
    const sym = randomSymmetric(dOut, 4);
    const expected = batchAveragedJacTMatJac(jacobian, sym, n);
    expectClose(module.eaJacTMatJacProd(output.producer!, t(sym, [dOut, dOut])), expected, FD_RTOL, [dIn, dIn]);
  });
});

describe("MaxPool and a backend's optional maxPool kernel", () => {
  const geometry = g([2, 2], [2, 2], [0, 0]);
  const input = [1, 2, 4, 4];

  it('takes the kernel\'s maxima and positions when it offers them', () => {
    let calls = 0;
    const backend = wrapBackend(cpu, 'with-maxPool', {
      maxPool: (_x, shape, _window, dtype) => {
        calls += 1;
        const count = shape[0]! * shape[1]! * 4;
        return { values: cpu.full([count], 7, dtype), argmax: cpu.full([count], 3, 'int32') };
      },
    });
    const module = maxPool(geometry);
    extend(module);
    const output = module.forward(tensor(randomNumbers(32, 1), input, { backend }).requiresGrad_());
    expect(calls).toBe(1);
    expect(values(output)).toEqual(new Array(8).fill(7));
    expect(values(output.producer!.saved['argmax']!)).toEqual(new Array(8).fill(3));
  });

  it('unfolds itself when the kernel declines (returns undefined)', () => {
    const backend = wrapBackend(cpu, 'declining-maxPool', { maxPool: () => undefined });
    const x = tensor(randomNumbers(32, 2), input, { backend });
    const { data, shape } = poolByHand(x, geometry, 'max');
    expectClose(maxPool(geometry).forward(x), data, EXACT_RTOL, shape);
  });
});

describe('MaxPool ties', () => {
  function gradientOf(module: LeafModule, x: Tensor): number[] {
    extend(module);
    const output = module.forward(x.requiresGrad_());
    const ones = t(new Array<number>(output.size).fill(1), [1, ...output.shape]);
    return values(module.jacTMatProd(output.producer!, ones, 0));
  }

  it('routes the gradient to the first maximum of each window, as PyTorch', () => {
    expect(gradientOf(new MaxPool1d(2), t([1, 1, 3, 3], [1, 1, 4]))).toEqual([1, 0, 1, 0]);
    expect(gradientOf(new MaxPool2d(2), t([5, 5, 5, 5], [1, 1, 2, 2]))).toEqual([1, 0, 0, 0]);
    // Row-major order within the window: (0, 1) comes before (1, 0).
    expect(gradientOf(new MaxPool2d(2), t([0, 7, 7, 7], [1, 1, 2, 2]))).toEqual([0, 1, 0, 0]);
  });

  it('with overlapping windows, each window routes to its own first maximum', () => {
    // Windows [0, 1] and [1, 2] of [2, 2, 2]: first maxima at 0 and 1.
    expect(gradientOf(new MaxPool1d(2, { stride: 1 }), t([2, 2, 2], [1, 1, 3]))).toEqual([1, 1, 0]);
  });
});

describe.each(windowCases)('AvgPool, $name', ({ input, geometry }) => {
  it.each([true, false])('averages every window (countIncludePad = %s)', (countIncludePad) => {
    const x = randomTensor(input, 1);
    const { data, shape } = poolByHand(x, geometry, 'avg', countIncludePad);
    expectClose(avgPool(geometry, countIncludePad).forward(x), data, EXACT_RTOL, shape);
  });

  it.each([
    [1, true],
    [3, true],
    [1, false],
    [3, false],
  ])('jacTMatProd matches finite differences (V = %i, countIncludePad = %s)', (v, countIncludePad) => {
    expectJacTMatchesFiniteDifferences(avgPool(geometry, countIncludePad), randomTensor(input, 2), v);
  });
});

describe('AvgPool with padding', () => {
  it('countIncludePad decides the divisor at the border (PyTorch example)', () => {
    const x = t([1, 2, 3, 4], [1, 1, 4]);
    // Kernel 3, stride 2, padding 1: windows [pad, 1, 2] and [2, 3, 4].
    expect(values(new AvgPool1d(3, { stride: 2, padding: 1 }).forward(x))).toEqual([1, 3]);
    expect(values(new AvgPool1d(3, { stride: 2, padding: 1, countIncludePad: false }).forward(x))).toEqual([1.5, 3]);
  });
});

interface AdaptiveCase {
  readonly name: string;
  readonly input: number[];
  readonly outputSize: AdaptiveOutputSize;
  readonly expected: number[];
}

const adaptiveCases: AdaptiveCase[] = [
  { name: '1d, 7 -> 3 (non-divisible, overlapping windows)', input: [2, 3, 7], outputSize: 3, expected: [3] },
  { name: '1d, 5 -> 5 (identity)', input: [2, 2, 5], outputSize: 5, expected: [5] },
  { name: '1d, 3 -> 5 (larger output)', input: [1, 2, 3], outputSize: [5], expected: [5] },
  { name: '1d, 6 -> 1 (global average)', input: [2, 2, 6], outputSize: 1, expected: [1] },
  { name: '2d, [5, 7] -> [3, 4]', input: [2, 2, 5, 7], outputSize: [3, 4], expected: [3, 4] },
  { name: '2d, [6, 4] -> [2, 2] (divisible)', input: [2, 3, 6, 4], outputSize: 2, expected: [2, 2] },
  { name: '2d, [5, 3] -> [2, null]', input: [1, 2, 5, 3], outputSize: [2, null], expected: [2, 3] },
  { name: '3d, [3, 5, 4] -> [2, 3, 2]', input: [2, 1, 3, 5, 4], outputSize: [2, 3, 2], expected: [2, 3, 2] },
];

function adaptive(dims: number, outputSize: AdaptiveOutputSize): LeafModule {
  const classes = [AdaptiveAvgPool1d, AdaptiveAvgPool2d, AdaptiveAvgPool3d];
  return new classes[dims - 1]!(outputSize);
}

describe.each(adaptiveCases)('AdaptiveAvgPool, $name', ({ input, outputSize, expected }) => {
  it("averages PyTorch's windows", () => {
    const x = randomTensor(input, 1);
    const { data, shape } = adaptiveByHand(x, expected);
    expectClose(adaptive(input.length - 2, outputSize).forward(x), data, EXACT_RTOL, shape);
  });

  it.each([1, 3])('jacTMatProd matches finite differences (V = %i)', (v) => {
    expectJacTMatchesFiniteDifferences(adaptive(input.length - 2, outputSize), randomTensor(input, 2), v);
  });
});

describe('ZeroPad2d', () => {
  /** Brute force: output (i, j) reads input (i - top, j - left) where that exists. */
  function padByHand(x: Tensor, [left, right, top, bottom]: number[]): { data: number[]; shape: number[] } {
    const xs = values(x);
    const [n, c, h, w] = x.shape as [number, number, number, number];
    const shape = [n, c, h + top! + bottom!, w + left! + right!];
    const data = [...indices(shape)].map(([b, ch, i, j]) => {
      const [si, sj] = [i! - top!, j! - left!];
      return si >= 0 && si < h && sj >= 0 && sj < w ? xs[offsetOf([b!, ch!, si, sj], x.shape)]! : 0;
    });
    return { data, shape };
  }

  const paddings: [number, number, number, number][] = [
    [1, 1, 1, 1],
    [1, 2, 0, 3],
    [0, 0, 2, 0],
    [-1, 2, 1, -2],
  ];

  it.each(paddings)('pads [left %i, right %i, top %i, bottom %i] in PyTorch order (negative crops)', (...padding) => {
    const x = randomTensor([2, 2, 4, 5], 1);
    const { data, shape } = padByHand(x, padding);
    expectClose(new ZeroPad2d(padding).forward(x), data, EXACT_RTOL, shape);
  });

  it('takes one number for all four sides', () => {
    expect(new ZeroPad2d(2).forward(randomTensor([1, 1, 3, 4], 1)).shape).toEqual([1, 1, 7, 8]);
  });

  it.each(paddings.flatMap((p) => [1, 3].map((v) => [v, p] as const)))(
    'jacTMatProd matches finite differences (V = %i, padding %j)',
    (v, padding) => {
      expectJacTMatchesFiniteDifferences(new ZeroPad2d(padding), randomTensor([2, 2, 4, 5], 2), v);
    },
  );

  it('refuses a wrong rank, bad padding and cropping below zero', () => {
    expect(() => new ZeroPad2d(1).forward(randomTensor([2, 3, 4], 1))).toThrow(/ZeroPad2d expects \[N, C, H, W\].*got shape \[2, 3, 4\]/);
    expect(() => new ZeroPad2d([1, 2, 3] as unknown as [number, number, number, number])).toThrow(/ZeroPad2d: padding must be/);
    expect(() => new ZeroPad2d(-3).forward(randomTensor([1, 1, 4, 5], 1))).toThrow(/ZeroPad2d: pad \[-3, -3, -3, -3\] crops input \[1, 1, 4, 5\] to a negative size \[1, 1, -2, -1\]/);
  });
});

describe('pooling rejects bad input, naming the module and the numbers', () => {
  it('a wrong input rank', () => {
    expect(() => new MaxPool2d(2).forward(randomTensor([3, 4, 5], 1))).toThrow(/MaxPool2d expects \[N, C, H, W\].*got shape \[3, 4, 5\]/);
    expect(() => new MaxPool1d(2).forward(randomTensor([3, 4], 1))).toThrow(/MaxPool1d expects \[N, C, L\]/);
    expect(() => new AvgPool3d(2).forward(randomTensor([1, 2, 3, 4], 1))).toThrow(/AvgPool3d expects \[N, C, D, H, W\]/);
    expect(() => new AdaptiveAvgPool2d(2).forward(randomTensor([1, 2, 3, 4, 5], 1))).toThrow(/AdaptiveAvgPool2d expects \[N, C, H, W\]/);
  });

  it('the maxPool and maxPoolTranspose ops: wrong ranks, dtypes and shapes, with the numbers', () => {
    const window = g([2, 2], [2, 2], [0, 0]);
    expect(() => maxPoolOp(randomTensor([4, 4], 1), window)).toThrow(/maxPool: expects \[N, C, \.\.\.spatial\], got \[4, 4\]/);
    expect(() => maxPoolOp(t([1, 2, 3, 4], [1, 1, 2, 2], 'int32'), window)).toThrow(/maxPool: expects a float tensor, got int32/);
    const mat = randomTensor([1, 1, 2, 4], 2);
    const positions = t([0, 1, 2, 3, 0, 1, 2, 3], [2, 1, 4], 'int32');
    expect(() => maxPoolTransposeOp(mat, positions, [4, 4], window)).toThrow(
      /maxPoolTranspose: expects mat \[V, N, C, 4\] and int32 argmax \[N, C, 4\] for spatial size \[4, 4\], got \[1, 1, 2, 4\] and int32 \[2, 1, 4\]/,
    );
    expect(() => maxPoolTransposeOp(mat, randomTensor([1, 2, 4], 3), [4, 4], window)).toThrow(/got \[1, 1, 2, 4\] and float64 \[1, 2, 4\]/);
  });

  it('a kernel larger than the padded input', () => {
    expect(() => new MaxPool2d(5).forward(randomTensor([1, 1, 4, 6], 1))).toThrow(
      /MaxPool2d: the kernel spans 5 elements .* spatial dimension 0, but the padded input has only 4 \(size 4 \+ 2 × padding 0\)/,
    );
    expect(() => new AvgPool1d(5, { padding: 1 }).forward(randomTensor([1, 1, 2], 1))).toThrow(
      /AvgPool1d: the kernel spans 5 elements .* padded input has only 4 \(size 2 \+ 2 × padding 1\)/,
    );
    expect(() => new MaxPool1d(3, { dilation: 3 }).forward(randomTensor([1, 1, 6], 1))).toThrow(
      /MaxPool1d: the kernel spans 7 elements \(kernel 3, dilation 3\)/,
    );
  });

  it('padding more than half the kernel, as PyTorch', () => {
    expect(() => new MaxPool2d(3, { padding: 2 })).toThrow(
      /MaxPool2d: padding should be at most half of kernel size, but got padding \[2, 2\] and kernel size \[3, 3\]/,
    );
    expect(() => new AvgPool1d(2, { padding: 2 })).toThrow(/AvgPool1d: padding should be at most half of kernel size/);
    expect(() => new MaxPool1d(2, { padding: 1 })).not.toThrow();
  });

  it('bad geometry arguments', () => {
    expect(() => new MaxPool2d(0)).toThrow(/MaxPool2d: kernelSize must be an integer >= 1 or 2 of them, got 0/);
    expect(() => new MaxPool3d([2, 2])).toThrow(/MaxPool3d: kernelSize must be .* 3 of them, got \[2, 2\]/);
    expect(() => new AvgPool2d(2, { stride: 0 })).toThrow(/AvgPool2d: stride must be an integer >= 1/);
    expect(() => new AdaptiveAvgPool1d(0)).toThrow(/AdaptiveAvgPool1d: outputSize must be an integer >= 1/);
  });

  it('an int32 input', () => {
    expect(() => new MaxPool1d(2).forward(t([1, 2, 3, 4], [1, 1, 4], 'int32'))).toThrow(/MaxPool1d: expects a float input, got int32/);
  });

  it('names the module by its path inside a model', () => {
    const model = extend(new Sequential(new AvgPool2d(2), new MaxPool2d(2)));
    expect(() => model.forward(randomTensor([1, 1, 3, 3], 1))).toThrow(/MaxPool2d '1': the kernel spans 2 elements/);
  });
});
