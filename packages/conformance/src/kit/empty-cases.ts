/**
 * The kit's checks on tensors with no elements. Kernels never see one (the
 * backend contract): core's ops compute those results and call only `full`.
 * So these cases run core's ops, not kernels, on the backend under test
 * (and on the reference), and fail if core calls a kernel with an empty
 * tensor: what they check of the backend is that `fromData`, `full` and
 * `read` handle empty shapes, and that the results flow on.
 */
import {
  add,
  cast,
  concat,
  conv,
  convTranspose,
  convWeightGrad,
  formatShape,
  logSoftmax,
  matmul,
  max,
  maxPool,
  mean,
  oneHot,
  pad,
  permute,
  reshape,
  slice,
  softmax,
  sizeOf,
  sum,
  unary,
  unfold,
  type Backend,
  type DType,
  type FloatDType,
  type Shape,
  type Tensor,
  type WindowGeometry,
} from '@backpack-ts/core';
import { input, inputDType, type InputSpec, type KernelCase } from './kernel-check.js';
import { viaCore } from './via-core.js';

/** What the backend does for core beyond kernels: creation, read-back, release. */
const STORAGE: ReadonlySet<PropertyKey> = new Set(['fromData', 'full', 'read', 'dispose', 'liveCount']);

/**
 * `backend` as core sees it in one empty case: a kernel call fails when an
 * operand is one of `empty`, the handles with no elements (the case's inputs,
 * and whatever `fromData` and `full` create with an empty shape), and a call
 * of a `forbidden` kernel (one whose result would be empty) fails anyway.
 */
export function forbidEmptyKernelCalls(backend: Backend, empty: Set<unknown>, forbidden: readonly string[]): Backend {
  const isEmpty = (arg: unknown) => empty.has(arg) || (Array.isArray(arg) && arg.some((h) => empty.has(h)));
  return new Proxy(backend, {
    get(target, property) {
      const value = Reflect.get(target, property, target) as unknown;
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        if (!STORAGE.has(property)) {
          const kernel = String(property);
          const emptyOperand = args.some(isEmpty);
          if (emptyOperand || forbidden.includes(kernel)) {
            const what = emptyOperand ? 'with an empty tensor' : 'for an empty result';
            throw new Error(`core called the ${kernel} kernel ${what} (kernels never see empty tensors: core's ops compute those results)`);
          }
        }
        const result = (value as (...a: unknown[]) => unknown).apply(target, args);
        const created = property === 'full' ? args[0] : property === 'fromData' ? args[1] : undefined;
        if (created !== undefined && sizeOf(created as Shape) === 0) empty.add(result);
        return result;
      };
    },
  });
}

/**
 * A case running `op` through core on `inputs` in the run's float dtype;
 * `forbidden` are kernels that must not run although no operand is empty (the
 * result is), `needs` the dtypes the case needs besides the float one.
 */
function emptyCase(
  name: string,
  inputs: readonly InputSpec[],
  op: (xs: readonly Tensor[], dtype: FloatDType) => Tensor,
  options: { readonly forbidden?: readonly string[]; readonly needs?: readonly DType[] } = {},
): KernelCase {
  return {
    family: 'empty',
    name: `empty: ${name} of ${inputs.map((spec) => formatShape(spec.shape)).join(', ')}`,
    inputs,
    exact: true,
    ...(options.needs && { needs: () => options.needs! }),
    run: (backend, handles, dtype) => {
      const empty = new Set(handles.filter((_, i) => sizeOf(inputs[i]!.shape) === 0));
      const core = forbidEmptyKernelCalls(backend, empty, options.forbidden ?? []);
      const operands = inputs.map((spec, i) => ({ handle: handles[i], shape: spec.shape, dtype: inputDType(spec, dtype) }));
      return viaCore(core, operands, (xs) => op(xs, dtype));
    },
  };
}

/** The empty cases; `normal(n)` draws the values of non-empty operands. */
export function emptyCases(normal: (n: number) => number[]): KernelCase[] {
  const none = (shape: Shape) => input(shape, []);
  const some = (shape: Shape) => input(shape, normal(sizeOf(shape)));
  const indices = (shape: Shape) => input(shape, [], undefined, true);
  const window: WindowGeometry = { kernel: [3, 3], stride: [1, 1], padding: [1, 1], dilation: [1, 1] };
  return [
    emptyCase('unary exp', [none([2, 0, 3])], ([x]) => unary('exp', x!)),
    emptyCase('binary add', [none([2, 0, 3]), some([1, 1, 3])], ([a, b]) => add(a!, b!)),
    emptyCase('binary add (broadcast to empty)', [some([4, 1]), none([4, 0])], ([a, b]) => add(a!, b!)),
    emptyCase('binaryScalar add 2', [none([0])], ([x]) => add(x!, 2)),
    emptyCase('sum axes [1] (zeros)', [none([2, 0, 3])], ([x]) => sum(x!, 1)),
    emptyCase('sum (a zero scalar)', [none([0])], ([x]) => sum(x!)),
    emptyCase('mean axes [1] (NaN)', [none([3, 0])], ([x]) => mean(x!, 1)),
    emptyCase('max axes [0]', [none([2, 0, 3])], ([x]) => max(x!, 0)),
    emptyCase('matmul over k = 0 (zeros)', [none([1, 2, 0]), none([1, 0, 3])], ([a, b]) => matmul(a!, b!)),
    emptyCase('matmul m = 0', [none([2, 0, 3]), some([2, 3, 4])], ([a, b]) => matmul(a!, b!)),
    emptyCase('matmul n = 0', [some([2, 3, 4]), none([2, 4, 0])], ([a, b]) => matmul(a!, b!)),
    emptyCase('matmul batch 0', [none([0, 3, 4]), some([1, 4, 5])], ([a, b]) => matmul(a!, b!)),
    emptyCase('reshape to [3, 0]', [none([0, 3])], ([x]) => reshape(x!, [3, 0])),
    emptyCase('permute [2, 1, 0]', [none([2, 0, 3])], ([x]) => permute(x!, [2, 1, 0])),
    emptyCase('slice at [2, 1] size [0, 3]', [some([5, 6])], ([x]) => slice(x!, [2, 1], [0, 3]), { forbidden: ['slice'] }),
    emptyCase('concat axis 1', [some([2, 3]), none([2, 0]), some([2, 5])], (xs) => concat(xs, 1)),
    emptyCase('concat axis 0', [none([0]), some([3]), some([2])], (xs) => concat(xs, 0)),
    emptyCase('concat of one non-empty', [none([0, 4]), some([3, 4])], (xs) => concat(xs, 0)),
    emptyCase('pad by [1, 1] / [0, 0] with 2', [none([0, 3])], ([x]) => pad(x!, [1, 1], [0, 0], 2)),
    emptyCase('cast to int32', [none([0, 3])], ([x]) => cast(x!, 'int32'), { needs: ['int32'] }),
    emptyCase('unfold', [none([0, 2, 5, 5])], ([x]) => unfold(x!, window)),
    emptyCase('maxPool values', [none([0, 2, 4, 4])], ([x]) => maxPool(x!, window).values),
    emptyCase('conv with bias', [none([0, 2, 5, 5]), some([3, 2, 3, 3]), some([3])], ([x, w, b]) => conv(x!, w!, window, 1, b).output),
    emptyCase('convTranspose', [none([0, 3, 5, 5]), some([3, 2, 3, 3])], ([m, w]) => convTranspose(m!, w!, [5, 5], window)),
    emptyCase('convWeightGrad (zeros)', [none([0, 2, 5, 5]), none([1, 0, 3, 5, 5])], ([x, m]) => convWeightGrad(x!, m!, window)),
    emptyCase('softmax', [none([0, 4])], ([x]) => softmax(x!)),
    emptyCase('logSoftmax axis 0', [none([3, 0])], ([x]) => logSoftmax(x!, 0)),
    emptyCase('oneHot depth 2', [indices([0])], ([x], dtype) => oneHot(x!, 2, dtype)),
    emptyCase('oneHot depth 0', [input([2], [1, 0], undefined, true)], ([x], dtype) => oneHot(x!, 0, dtype), { forbidden: ['oneHot'] }),
  ];
}
