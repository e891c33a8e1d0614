import type {
  Backend,
  BinaryOp,
  DataArray,
  DType,
  FloatDType,
  ReduceOp,
  Shape,
  UnaryOp,
  WindowGeometry,
} from '@backpack-ts/core';
import { CpuBackend } from './cpu-backend.js';
import type { CpuHandle } from './storage.js';

/**
 * The methods a {@link CpuFallbackBackend} runs on backend-cpu unless a subclass writes them:
 * the contract's required members (the optional kernels and `liveCount` left out), less
 * `name`, `dtypes`, `read` and `dispose`.
 */
export type CpuKernel = Exclude<
  { [K in keyof Backend]-?: {} extends Pick<Backend, K> ? never : K }[keyof Backend],
  'name' | 'dtypes' | 'read' | 'dispose'
>;

/**
 * A backend whose kernels run on backend-cpu until you write them: the way
 * to hand kernels to the reference backend. A subclass says how its handles
 * and backend-cpu's typed arrays convert ({@link toCpu}, {@link fromCpu}) and
 * overrides the kernels it does itself, calling `super` for the calls it
 * leaves to backend-cpu; every other kernel reads its operands with `toCpu`,
 * runs backend-cpu's kernel and wraps the result with `fromCpu`. The result
 * is a complete, correct backend from the first line.
 *
 * `read` copies what `toCpu` gives; `dispose` does nothing, which is right
 * for garbage-collected storage (override it, and `liveCount`, otherwise).
 * The optional kernels (`maxPool`, `conv`, ...) are left out: core has its
 * own path.
 *
 * ```ts
 * class MyBackend extends CpuFallbackBackend<MyHandle> {
 *   readonly name = 'mine';
 *   readonly dtypes: readonly DType[] = ['float32', 'int32'];
 *   protected toCpu(x: MyHandle): CpuHandle { return x.data; }
 *   protected fromCpu(result: CpuHandle): MyHandle { return new MyHandle(result); }
 *   override matmul(...): MyHandle { ... } // the kernels you write
 * }
 * ```
 */
export abstract class CpuFallbackBackend<H> implements Backend<H> {
  abstract readonly name: string;
  abstract readonly dtypes: readonly DType[];
  /** The kernels that run what the subclass does not. */
  protected readonly cpu = new CpuBackend();

  /**
   * The elements of `x` as backend-cpu's typed array of `dtype` (dense,
   * row-major), which its kernels read and never modify: the handle's own
   * memory where it can be, else a copy.
   */
  protected abstract toCpu(x: H, shape: Shape, dtype: DType): CpuHandle;

  /**
   * A handle holding `result`, what backend-cpu's `kernel` returned for
   * `inputs`: a new array, or one of the arrays `toCpu` gave for the inputs
   * (a reshape, or a cast to the same dtype, returns its input's).
   */
  protected abstract fromCpu(result: CpuHandle, inputs: readonly H[], kernel: CpuKernel): H;

  // ---- creation and read-back ----

  fromData(data: ArrayLike<number>, shape: Shape, dtype: DType): H {
    return this.fromCpu(this.cpu.fromData(data, shape, dtype), [], 'fromData');
  }

  full(shape: Shape, value: number, dtype: DType): H {
    return this.fromCpu(this.cpu.full(shape, value, dtype), [], 'full');
  }

  /** A copy of what {@link toCpu} gives. */
  read(x: H, shape: Shape, dtype: DType): DataArray {
    return this.cpu.read(this.toCpu(x, shape, dtype), shape, dtype);
  }

  /** Nothing: right for garbage-collected storage. */
  dispose(_x: H): void {}

  // ---- layout ----

  reshape(x: H, shape: Shape, newShape: Shape, dtype: DType): H {
    return this.fromCpu(this.cpu.reshape(this.toCpu(x, shape, dtype), shape, newShape, dtype), [x], 'reshape');
  }

  permute(x: H, shape: Shape, perm: readonly number[], dtype: DType): H {
    return this.fromCpu(this.cpu.permute(this.toCpu(x, shape, dtype), shape, perm, dtype), [x], 'permute');
  }

  slice(x: H, shape: Shape, begin: readonly number[], size: readonly number[], dtype: DType): H {
    return this.fromCpu(this.cpu.slice(this.toCpu(x, shape, dtype), shape, begin, size, dtype), [x], 'slice');
  }

  concat(xs: readonly H[], shapes: readonly Shape[], axis: number, dtype: DType): H {
    const arrays = xs.map((x, i) => this.toCpu(x, shapes[i]!, dtype));
    return this.fromCpu(this.cpu.concat(arrays, shapes, axis, dtype), xs, 'concat');
  }

  pad(x: H, shape: Shape, before: readonly number[], after: readonly number[], value: number, dtype: DType): H {
    return this.fromCpu(this.cpu.pad(this.toCpu(x, shape, dtype), shape, before, after, value, dtype), [x], 'pad');
  }

  cast(x: H, shape: Shape, from: DType, to: DType): H {
    return this.fromCpu(this.cpu.cast(this.toCpu(x, shape, from), shape, from, to), [x], 'cast');
  }

  // ---- elementwise ----

  unary(op: UnaryOp, x: H, shape: Shape, dtype: DType): H {
    return this.fromCpu(this.cpu.unary(op, this.toCpu(x, shape, dtype), shape, dtype), [x], 'unary');
  }

  binary(op: BinaryOp, a: H, aShape: Shape, b: H, bShape: Shape, outShape: Shape, dtype: DType): H {
    const result = this.cpu.binary(op, this.toCpu(a, aShape, dtype), aShape, this.toCpu(b, bShape, dtype), bShape, outShape, dtype);
    return this.fromCpu(result, [a, b], 'binary');
  }

  binaryScalar(op: BinaryOp, x: H, shape: Shape, scalar: number, dtype: DType): H {
    return this.fromCpu(this.cpu.binaryScalar(op, this.toCpu(x, shape, dtype), shape, scalar, dtype), [x], 'binaryScalar');
  }

  // ---- reductions and linear algebra ----

  reduce(op: ReduceOp, x: H, shape: Shape, axes: readonly number[], dtype: DType): H {
    return this.fromCpu(this.cpu.reduce(op, this.toCpu(x, shape, dtype), shape, axes, dtype), [x], 'reduce');
  }

  matmul(a: H, aShape: Shape, b: H, bShape: Shape, transA: boolean, transB: boolean, dtype: DType): H {
    const result = this.cpu.matmul(this.toCpu(a, aShape, dtype), aShape, this.toCpu(b, bShape, dtype), bShape, transA, transB, dtype);
    return this.fromCpu(result, [a, b], 'matmul');
  }

  // ---- sliding windows ----

  unfold(x: H, shape: Shape, window: WindowGeometry, dtype: DType): H {
    return this.fromCpu(this.cpu.unfold(this.toCpu(x, shape, dtype), shape, window, dtype), [x], 'unfold');
  }

  fold(cols: H, colsShape: Shape, spatial: readonly number[], window: WindowGeometry, dtype: DType): H {
    return this.fromCpu(this.cpu.fold(this.toCpu(cols, colsShape, dtype), colsShape, spatial, window, dtype), [cols], 'fold');
  }

  argmax(x: H, shape: Shape, axis: number, dtype: DType): H {
    return this.fromCpu(this.cpu.argmax(this.toCpu(x, shape, dtype), shape, axis, dtype), [x], 'argmax');
  }

  // ---- neural-network kernels ----

  softmax(x: H, shape: Shape, axis: number, dtype: DType): H {
    return this.fromCpu(this.cpu.softmax(this.toCpu(x, shape, dtype), shape, axis, dtype), [x], 'softmax');
  }

  logSoftmax(x: H, shape: Shape, axis: number, dtype: DType): H {
    return this.fromCpu(this.cpu.logSoftmax(this.toCpu(x, shape, dtype), shape, axis, dtype), [x], 'logSoftmax');
  }

  oneHot(indices: H, shape: Shape, depth: number, dtype: FloatDType): H {
    return this.fromCpu(this.cpu.oneHot(this.toCpu(indices, shape, 'int32'), shape, depth, dtype), [indices], 'oneHot');
  }
}
