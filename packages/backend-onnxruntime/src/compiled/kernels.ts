/**
 * What a compiled step needs to know of each kernel of the backend contract:
 * which arguments are handles (with the shape and dtype the call gives them)
 * and the shapes and dtypes of its results, from the arguments alone.
 */
import { matmulDims, sizeOf, windowOutputSize, type DType, type Shape, type WindowGeometry } from '@backpack-ts/core';

/** A handle operand of a call, with the shape and dtype the call declares for it (none for `dispose`). */
export interface Operand {
  readonly handle: unknown;
  readonly shape?: Shape;
  readonly dtype?: DType;
}

/** A result of a call. */
export interface Result {
  readonly shape: Shape;
  readonly dtype: DType;
}

interface KernelInfo {
  operands(args: readonly unknown[]): Operand[];
  results(args: readonly unknown[]): Result[];
}

type Args = readonly any[];

/** Operand `i` of a call whose shape is argument `i + 1` and dtype the last argument: most kernels. */
const unaryLayout = (a: Args): Operand[] => [{ handle: a[0], shape: a[1], dtype: a[a.length - 1] }];
const same = (a: Args): Result[] => [{ shape: a[1], dtype: a[a.length - 1] }];
const without = (shape: Shape, axes: readonly number[]): number[] => shape.filter((_, d) => !axes.includes(d));

/** Every kernel a compiled step records, by name (the contract's methods other than `name`, `dtypes` and `liveCount`). */
export const KERNELS: Readonly<Record<string, KernelInfo>> = {
  fromData: { operands: () => [], results: (a: Args) => [{ shape: a[1], dtype: a[2] }] },
  full: { operands: () => [], results: (a: Args) => [{ shape: a[0], dtype: a[2] }] },
  read: { operands: (a: Args) => [{ handle: a[0], shape: a[1], dtype: a[2] }], results: () => [] },
  dispose: { operands: (a: Args) => [{ handle: a[0] }], results: () => [] },
  reshape: { operands: unaryLayout, results: (a: Args) => [{ shape: a[2], dtype: a[3] }] },
  permute: { operands: unaryLayout, results: (a: Args) => [{ shape: (a[2] as number[]).map((d) => a[1][d]), dtype: a[3] }] },
  slice: { operands: unaryLayout, results: (a: Args) => [{ shape: a[3], dtype: a[4] }] },
  concat: {
    operands: (a: Args) => (a[0] as unknown[]).map((handle, i) => ({ handle, shape: a[1][i], dtype: a[3] })),
    results: (a: Args) => {
      const shapes = a[1] as Shape[];
      const axis = a[2] as number;
      return [{ shape: shapes[0]!.map((size, d) => (d === axis ? shapes.reduce((total, s) => total + s[d]!, 0) : size)), dtype: a[3] }];
    },
  },
  pad: { operands: unaryLayout, results: (a: Args) => [{ shape: (a[1] as Shape).map((size, d) => size + a[2][d] + a[3][d]), dtype: a[5] }] },
  cast: { operands: (a: Args) => [{ handle: a[0], shape: a[1], dtype: a[2] }], results: (a: Args) => [{ shape: a[1], dtype: a[3] }] },
  unary: { operands: (a: Args) => [{ handle: a[1], shape: a[2], dtype: a[3] }], results: (a: Args) => [{ shape: a[2], dtype: a[3] }] },
  binary: {
    operands: (a: Args) => [
      { handle: a[1], shape: a[2], dtype: a[6] },
      { handle: a[3], shape: a[4], dtype: a[6] },
    ],
    results: (a: Args) => [{ shape: a[5], dtype: a[6] }],
  },
  binaryScalar: { operands: (a: Args) => [{ handle: a[1], shape: a[2], dtype: a[4] }], results: (a: Args) => [{ shape: a[2], dtype: a[4] }] },
  reduce: { operands: (a: Args) => [{ handle: a[1], shape: a[2], dtype: a[4] }], results: (a: Args) => [{ shape: without(a[2], a[3]), dtype: a[4] }] },
  matmul: {
    operands: (a: Args) => [
      { handle: a[0], shape: a[1], dtype: a[6] },
      { handle: a[2], shape: a[3], dtype: a[6] },
    ],
    results: (a: Args) => {
      const { batch, m, n } = matmulDims(a[1], a[3], a[4], a[5]);
      return [{ shape: [batch, m, n], dtype: a[6] }];
    },
  },
  unfold: {
    operands: unaryLayout,
    results: (a: Args) => {
      const [shape, window] = [a[1] as Shape, a[2] as WindowGeometry];
      return [{ shape: [shape[0]!, shape[1]! * sizeOf(window.kernel), sizeOf(windowOutputSize(shape.slice(2), window))], dtype: a[3] }];
    },
  },
  fold: {
    operands: unaryLayout,
    results: (a: Args) => [{ shape: [a[1][0], a[1][1] / sizeOf((a[3] as WindowGeometry).kernel), ...a[2]], dtype: a[4] }],
  },
  argmax: { operands: unaryLayout, results: (a: Args) => [{ shape: without(a[1], [a[2]]), dtype: 'int32' }] },
  maxPool: {
    operands: unaryLayout,
    results: (a: Args) => {
      const [shape, window] = [a[1] as Shape, a[2] as WindowGeometry];
      const out = windowOutputSize(shape.slice(2), window);
      return [
        { shape: [shape[0]!, shape[1]!, ...out], dtype: a[3] },
        { shape: [shape[0]!, shape[1]!, sizeOf(out)], dtype: 'int32' },
      ];
    },
  },
  maxPoolTranspose: {
    operands: (a: Args) => [
      { handle: a[0], shape: a[1], dtype: a[5] },
      { handle: a[2], shape: (a[1] as Shape).slice(1), dtype: 'int32' },
    ],
    results: (a: Args) => [{ shape: [a[1][0], a[1][1], a[1][2], ...a[3]], dtype: a[5] }],
  },
  conv: {
    operands: (a: Args) => [
      { handle: a[0], shape: a[1], dtype: a[7] },
      { handle: a[2], shape: a[3], dtype: a[7] },
      ...(a[4] === undefined ? [] : [{ handle: a[4], shape: [a[3][0]], dtype: a[7] }]),
    ],
    results: (a: Args) => [{ shape: [a[1][0], a[3][0], ...windowOutputSize((a[1] as Shape).slice(2), a[5])], dtype: a[7] }],
  },
  convTranspose: {
    operands: (a: Args) => [
      { handle: a[0], shape: a[1], dtype: a[7] },
      { handle: a[2], shape: a[3], dtype: a[7] },
    ],
    results: (a: Args) => [{ shape: [a[1][0], a[3][1] * a[6], ...a[4]], dtype: a[7] }],
  },
  convWeightGrad: {
    operands: (a: Args) => [
      { handle: a[0], shape: a[1], dtype: a[6] },
      { handle: a[2], shape: a[3], dtype: a[6] },
    ],
    results: (a: Args) => [{ shape: [a[3][0], a[3][2], a[1][1] / a[5], ...(a[4] as WindowGeometry).kernel], dtype: a[6] }],
  },
  softmax: { operands: unaryLayout, results: same },
  logSoftmax: { operands: unaryLayout, results: same },
  oneHot: { operands: (a: Args) => [{ handle: a[0], shape: a[1], dtype: 'int32' }], results: (a: Args) => [{ shape: [...a[1], a[2]], dtype: a[3] }] },
};

/** The kernels' names, for {@link OrtBackend.intercept}. */
export const KERNEL_NAMES: readonly string[] = Object.keys(KERNELS);
