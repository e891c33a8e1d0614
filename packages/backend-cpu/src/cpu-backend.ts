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
import { binary, binaryScalar, unary } from './kernels/elementwise.js';
import { concat, pad, permute, slice } from './kernels/layout.js';
import { GemmWorkspace, matmul } from './kernels/matmul.js';
import { oneHot } from './kernels/one-hot.js';
import { reduce } from './kernels/reduce.js';
import { logSoftmax, softmax } from './kernels/softmax.js';
import { argmax, fold, unfold } from './kernels/window.js';
import { Float64Scratch } from './scratch.js';
import type { CpuHandle } from './storage.js';
import { cast, fromData, full } from './storage.js';

/**
 * The pure TypeScript backend: float64, float32 and int32 tensors held in
 * dense row-major typed arrays, computed on the calling thread. Runs anywhere
 * JavaScript does (Node, browsers, workers) with no dependencies.
 *
 * Handles are the typed arrays themselves (`Float64Array` for float64,
 * `Float32Array` for float32, `Int32Array` for int32). Kernels never write
 * into their inputs, so `reshape` (and a cast to the same dtype) may return
 * the input array. Memory is garbage collected: `dispose` does nothing.
 *
 * An instance owns scratch buffers (GEMM pack panels, reduction accumulators)
 * that are reused across calls; share one instance per thread, e.g. {@link cpu}.
 */
export class CpuBackend implements Backend<CpuHandle> {
  readonly name = 'cpu';
  readonly dtypes: readonly DType[] = ['float64', 'float32', 'int32'];

  private readonly gemmWorkspace = new GemmWorkspace();
  private readonly reduceScratch = new Float64Scratch();
  private readonly windowScratch = new Float64Scratch();

  fromData(data: ArrayLike<number>, shape: Shape, dtype: DType): CpuHandle {
    return fromData(data, shape, dtype);
  }

  full(shape: Shape, value: number, dtype: DType): CpuHandle {
    return full(shape, value, dtype);
  }

  /** A copy of the elements, which the caller may modify. */
  read(x: CpuHandle, _shape: Shape, _dtype: DType): DataArray {
    return x.slice();
  }

  /** Nothing to release: typed arrays are garbage collected. */
  dispose(_x: CpuHandle): void {}

  /** Returns `x` itself: a dense row-major array already has every shape of its size. */
  reshape(x: CpuHandle, _shape: Shape, _newShape: Shape, _dtype: DType): CpuHandle {
    return x;
  }

  permute(x: CpuHandle, shape: Shape, perm: readonly number[], dtype: DType): CpuHandle {
    return permute(x, shape, perm, dtype);
  }

  slice(x: CpuHandle, shape: Shape, begin: readonly number[], size: readonly number[], dtype: DType): CpuHandle {
    return slice(x, shape, begin, size, dtype);
  }

  concat(xs: readonly CpuHandle[], shapes: readonly Shape[], axis: number, dtype: DType): CpuHandle {
    return concat(xs, shapes, axis, dtype);
  }

  pad(
    x: CpuHandle,
    shape: Shape,
    before: readonly number[],
    after: readonly number[],
    value: number,
    dtype: DType,
  ): CpuHandle {
    return pad(x, shape, before, after, value, dtype);
  }

  /** Float to int32 truncates toward zero; a cast to the same dtype returns `x`. */
  cast(x: CpuHandle, _shape: Shape, from: DType, to: DType): CpuHandle {
    return cast(x, from, to);
  }

  unary(op: UnaryOp, x: CpuHandle, _shape: Shape, dtype: DType): CpuHandle {
    return unary(op, x, dtype);
  }

  binary(
    op: BinaryOp,
    a: CpuHandle,
    aShape: Shape,
    b: CpuHandle,
    bShape: Shape,
    outShape: Shape,
    dtype: DType,
  ): CpuHandle {
    return binary(op, a, aShape, b, bShape, outShape, dtype);
  }

  binaryScalar(op: BinaryOp, x: CpuHandle, _shape: Shape, scalar: number, dtype: DType): CpuHandle {
    return binaryScalar(op, x, scalar, dtype);
  }

  /** Accumulates in doubles whatever the dtype; an empty sum is 0, max -Infinity, min +Infinity. */
  reduce(op: ReduceOp, x: CpuHandle, shape: Shape, axes: readonly number[], dtype: DType): CpuHandle {
    return reduce(op, x, shape, axes, dtype, this.reduceScratch);
  }

  /** A cache-blocked, register-tiled GEMM; transposes are absorbed by packing. */
  matmul(
    a: CpuHandle,
    aShape: Shape,
    b: CpuHandle,
    bShape: Shape,
    transA: boolean,
    transB: boolean,
    dtype: DType,
  ): CpuHandle {
    return matmul(a, aShape, b, bShape, transA, transB, dtype, this.gemmWorkspace);
  }

  /**
   * im2col, walking only the taps inside the input (the padding stays 0).
   * Beyond the `Backend` contract, `out` lets a backend that recycles its
   * buffers (backend-onnxruntime) have the result written into one of them.
   */
  unfold(x: CpuHandle, shape: Shape, window: WindowGeometry, dtype: DType, out?: CpuHandle): CpuHandle {
    return unfold(x, shape, window, dtype, out);
  }

  /** col2im; float32 overlaps are summed in doubles and rounded once. */
  fold(
    cols: CpuHandle,
    colsShape: Shape,
    spatial: readonly number[],
    window: WindowGeometry,
    dtype: DType,
  ): CpuHandle {
    return fold(cols, colsShape, spatial, window, dtype, this.windowScratch);
  }

  /** First maximum on ties; NaN counts as the largest value, as in PyTorch. */
  argmax(x: CpuHandle, shape: Shape, axis: number, _dtype: DType): CpuHandle {
    return argmax(x, shape, axis, this.windowScratch);
  }

  softmax(x: CpuHandle, shape: Shape, axis: number, dtype: DType): CpuHandle {
    return softmax(x, shape, axis, dtype);
  }

  logSoftmax(x: CpuHandle, shape: Shape, axis: number, dtype: DType): CpuHandle {
    return logSoftmax(x, shape, axis, dtype);
  }

  oneHot(indices: CpuHandle, _shape: Shape, depth: number, dtype: FloatDType): CpuHandle {
    return oneHot(indices, depth, dtype);
  }
}
