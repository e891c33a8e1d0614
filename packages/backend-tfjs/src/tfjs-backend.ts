import * as tf from '@tensorflow/tfjs';
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
import { sizeOf, windowOutputSize } from '@backpack-ts/core';
import { ensureJsKernels, foldJs, unfoldJs } from './js-kernels.js';
import { batchedMatmul } from './matmul.js';
import { WindowIndexCache } from './window.js';
import type { SkippedEngine } from './engine.js';

/** The handle of this backend: a `tf.Tensor` (float32 or int32) of the shape core tracks. */
export type TfjsHandle = tf.Tensor;

/** Bookkeeping of a {@link TfjsBackend}, for leak tests and tuning. */
export interface TfjsBackendStats {
  /** Handles this backend created and that were not disposed yet (also {@link TfjsBackend.liveCount}). */
  readonly liveHandles: number;
  /** Tensors the backend keeps for reuse: window index tables and scalar constants. */
  readonly cachedTensors: number;
  /** `tf.memory()`: every tfjs tensor of the process, this backend's and the caller's. */
  readonly tfMemory: tf.MemoryInfo;
}

/** The error for a dtype tfjs cannot hold; float64 is the one users ask for. */
export function unsupportedDType(dtype: string, where: string): TypeError {
  if (dtype === 'float64') {
    return new TypeError(
      `backend-tfjs ${where}: TensorFlow.js is float32 only (no float64 tensors): ` +
        `create the model and data with { dtype: 'float32' } (the default on this backend), or use backend-cpu for float64`,
    );
  }
  return new TypeError(`backend-tfjs ${where}: dtype ${dtype} is not supported (float32 for values, int32 for indices)`);
}

/** The dtypes tfjs holds for this backend. */
type TfDType = 'float32' | 'int32';

function tfDType(dtype: DType, where: string): TfDType {
  if (dtype !== 'float32' && dtype !== 'int32') throw unsupportedDType(dtype, where);
  return dtype;
}

const SCALAR_CACHE_SIZE = 256;

/**
 * A second tensor on the same data (no copy). tf.clone would do, but wasm's
 * Identity kernel copies; a reshape only takes a reference.
 */
export function share(x: tf.Tensor): tf.Tensor {
  return tf.reshape(x, x.shape);
}

/**
 * `x` in the shape core says it has. Core treats handles as flat row-major
 * data and may give one a new shape without a kernel call (a matmul's
 * `[1, m, n]` result becomes `[m, n]`, a reduction keeps its dimensions), so
 * a kernel that depends on the shape views its input first. A tf.reshape
 * shares the data; call inside tf.tidy.
 */
function view(x: tf.Tensor, shape: Shape): tf.Tensor {
  if (x.rank === shape.length && x.shape.every((d, i) => d === shape[i])) return x;
  return tf.reshape(x, [...shape]);
}

/**
 * The backpack-ts backend on TensorFlow.js. Kernels are tfjs ops on the
 * engine tfjs runs: native TensorFlow (tfjs-node), WebAssembly or tfjs's
 * JavaScript cpu kernels. Start the fastest with {@link loadTfjsBackend}; its
 * name then says which one runs, e.g. `tfjs (wasm)`.
 *
 * float32 for values, int32 for indices (tfjs has no float64). Handles are
 * `tf.Tensor`s; {@link fromTf} and {@link toTf} convert without copying data.
 * Every handle is `tf.keep`-ed: it lives until core disposes it (core's
 * `tidy` scopes), whatever `tf.tidy` the caller's code runs in.
 *
 * tfjs has one global engine, so one instance ({@link tfjs}) is enough; its
 * name and {@link engine} always describe the engine active right now.
 */
export class TfjsBackend implements Backend<TfjsHandle> {
  readonly dtypes: readonly DType[] = ['float32', 'int32'];
  /** Engines {@link loadTfjsBackend} tried before the one running, and why each was passed over. */
  skipped: readonly SkippedEngine[] = [];
  /**
   * How `unfold`/`fold` run. `'auto'`: TypeScript kernels on the tensor's own
   * memory on the `wasm` and `cpu` engines (see `js-kernels.ts`), a gather
   * with cached indices elsewhere. `'gather'`: the gather everywhere.
   */
  windowKernels: 'auto' | 'gather' = 'auto';

  private live = 0;
  private readonly windows = new WindowIndexCache();
  private readonly scalars = new Map<string, tf.Scalar>();

  /** `tfjs (ENGINE)`, e.g. `tfjs (wasm)`, or `tfjs` before tfjs started an engine. */
  get name(): string {
    const engine = tf.getBackend();
    return engine ? `tfjs (${engine})` : 'tfjs';
  }

  /** The tfjs engine that runs the kernels: `'tensorflow'`, `'wasm'`, `'cpu'`, ... (tfjs starts its default on first use). */
  get engine(): string {
    return tf.getBackend();
  }

  // ---- bookkeeping ----

  /** Handles not disposed yet (the conformance kit checks that this returns to its start). */
  liveCount(): number {
    return this.live;
  }

  /** A snapshot of live handles, cached tensors and tfjs's own memory counters. */
  stats(): TfjsBackendStats {
    return { liveHandles: this.live, cachedTensors: this.windows.size + this.scalars.size, tfMemory: tf.memory() };
  }

  /** Disposes the cached index tables and constants (rebuilt on demand). */
  release(): void {
    this.windows.clear();
    for (const s of this.scalars.values()) s.dispose();
    this.scalars.clear();
  }

  /** Makes `t` a handle of this backend: kept out of tfjs scopes, counted until disposed (used by {@link fromTf}). */
  adopt(t: tf.Tensor): TfjsHandle {
    this.live += 1;
    return tf.keep(t);
  }

  /** Runs `fn` in a tf.tidy (its intermediates are disposed) and adopts the result, cast to `dtype`. */
  private run(dtype: DType, fn: () => tf.Tensor, inputs: readonly tf.Tensor[] = []): TfjsHandle {
    const target = tfDType(dtype, 'kernel');
    let result = tf.tidy(() => {
      const out = fn();
      return out.dtype === target ? out : tf.cast(out, target);
    });
    // A fresh handle every time: core disposes each handle it gets.
    if (inputs.includes(result)) result = share(result);
    return this.adopt(result);
  }

  private scalar(value: number, dtype: TfDType): tf.Scalar {
    const key = `${dtype}:${Object.is(value, -0) ? '-0' : value}`;
    let s = this.scalars.get(key);
    if (s === undefined) {
      s = tf.keep(tf.scalar(value, dtype));
      this.scalars.set(key, s);
      if (this.scalars.size > SCALAR_CACHE_SIZE) {
        const [oldest, evicted] = this.scalars.entries().next().value as [string, tf.Scalar];
        this.scalars.delete(oldest);
        evicted.dispose();
      }
    }
    return s;
  }

  // ---- creation and read-back ----

  fromData(data: ArrayLike<number>, shape: Shape, dtype: DType): TfjsHandle {
    const d = tfDType(dtype, 'fromData');
    // tfjs's cpu engine keeps the array it is given: always hand it a copy.
    const values = d === 'float32' ? Float32Array.from(data) : Int32Array.from(data);
    return this.adopt(tf.tensor(values, [...shape], d));
  }

  full(shape: Shape, value: number, dtype: DType): TfjsHandle {
    return this.adopt(tf.fill([...shape], value, tfDType(dtype, 'full')));
  }

  read(x: TfjsHandle, _shape: Shape, dtype: DType): DataArray {
    const data = x.dataSync() as Float32Array | Int32Array | Uint8Array;
    // tfjs's cpu engine returns its own storage, which a lossless cast shares
    // (an int32 or bool array labelled float32): copy, into the right array type.
    // wasm and tfjs-node return a fresh array of the tensor's dtype.
    if (dtype === 'float32') return data instanceof Float32Array && tf.getBackend() !== 'cpu' ? data : Float32Array.from(data);
    return data instanceof Int32Array && tf.getBackend() !== 'cpu' ? data : Int32Array.from(data);
  }

  /** Disposes the tf.Tensor. Idempotent. */
  dispose(x: TfjsHandle): void {
    if (x.isDisposed) return;
    x.dispose();
    this.live -= 1;
  }

  // ---- layout ----

  reshape(x: TfjsHandle, _shape: Shape, newShape: Shape, dtype: DType): TfjsHandle {
    return this.run(dtype, () => tf.reshape(x, [...newShape]), [x]);
  }

  permute(x: TfjsHandle, shape: Shape, perm: readonly number[], dtype: DType): TfjsHandle {
    return this.run(dtype, () => tf.transpose(view(x, shape), [...perm]), [x]);
  }

  slice(x: TfjsHandle, shape: Shape, begin: readonly number[], size: readonly number[], dtype: DType): TfjsHandle {
    // tf.slice refuses scalars; the only slice of a scalar is itself.
    if (shape.length === 0) return this.run(dtype, () => share(x), [x]);
    return this.run(dtype, () => tf.slice(view(x, shape), [...begin], [...size]), [x]);
  }

  concat(xs: readonly TfjsHandle[], shapes: readonly Shape[], axis: number, dtype: DType): TfjsHandle {
    return this.run(dtype, () => tf.concat(xs.map((x, i) => view(x, shapes[i]!)), axis), xs);
  }

  pad(
    x: TfjsHandle,
    shape: Shape,
    before: readonly number[],
    after: readonly number[],
    value: number,
    dtype: DType,
  ): TfjsHandle {
    const paddings = before.map((b, i): [number, number] => [b, after[i]!]);
    return this.run(dtype, () => tf.pad(view(x, shape), paddings, value), [x]);
  }

  /** Float to int32 truncates toward zero. */
  cast(x: TfjsHandle, _shape: Shape, _from: DType, to: DType): TfjsHandle {
    const d = tfDType(to, 'cast');
    return this.run(to, () => tf.cast(x, d), [x]);
  }

  // ---- elementwise ----

  unary(op: UnaryOp, x: TfjsHandle, _shape: Shape, dtype: DType): TfjsHandle {
    const d = tfDType(dtype, 'unary');
    // tfjs's cpu kernels and native TensorFlow compute sign and log1p right; wasm's do not (see unaryOp).
    const exact = tf.getBackend() === 'cpu' || tf.getBackend() === 'tensorflow';
    return this.run(dtype, () => unaryOp(op, x, (v) => this.scalar(v, d), exact), [x]);
  }

  binary(
    op: BinaryOp,
    a: TfjsHandle,
    aShape: Shape,
    b: TfjsHandle,
    bShape: Shape,
    _outShape: Shape,
    dtype: DType,
  ): TfjsHandle {
    return this.run(dtype, () => binaryOp(op, view(a, aShape), view(b, bShape), dtype));
  }

  binaryScalar(op: BinaryOp, x: TfjsHandle, _shape: Shape, scalar: number, dtype: DType): TfjsHandle {
    const s = this.scalar(scalar, tfDType(dtype, 'binaryScalar'));
    return this.run(dtype, () => binaryOp(op, x, s, dtype));
  }

  // ---- reductions ----

  reduce(op: ReduceOp, x: TfjsHandle, shape: Shape, axes: readonly number[], dtype: DType): TfjsHandle {
    if (axes.length === 0) return this.run(dtype, () => share(x), [x]);
    return this.run(dtype, () => {
      const f = op === 'sum' ? tf.sum : op === 'max' ? tf.max : tf.min;
      return f(view(x, shape), [...axes]);
    });
  }

  // ---- linear algebra ----

  matmul(
    a: TfjsHandle,
    aShape: Shape,
    b: TfjsHandle,
    bShape: Shape,
    transA: boolean,
    transB: boolean,
    dtype: DType,
  ): TfjsHandle {
    const native = tf.getBackend() === 'tensorflow';
    return this.run(dtype, () => batchedMatmul(view(a, aShape), aShape, view(b, bShape), bShape, transA, transB, native));
  }

  // ---- sliding windows ----

  unfold(x: TfjsHandle, shape: Shape, window: WindowGeometry, dtype: DType): TfjsHandle {
    const [n, c, ...spatial] = shape as [number, number, ...number[]];
    const outShape = [n, c * sizeOf(window.kernel), sizeOf(windowOutputSize(spatial, window))];
    if (this.windowKernels === 'auto' && ensureJsKernels(this.engine)) {
      const d = tfDType(dtype, 'unfold');
      return this.run(dtype, () => unfoldJs(x, { shape, window, outShape, dtype: d }));
    }
    const { plan, indices, readsPadding } = this.windows.unfold(spatial, window);
    return this.run(dtype, () => {
      let planes = tf.reshape(x, [n, c, plan.planeSize]);
      if (readsPadding) planes = tf.concat([planes, tf.zeros([n, c, 1], x.dtype)], 2);
      return tf.reshape(tf.gather(planes, indices, 2), outShape);
    });
  }

  fold(
    cols: TfjsHandle,
    colsShape: Shape,
    spatial: readonly number[],
    window: WindowGeometry,
    dtype: DType,
  ): TfjsHandle {
    const [n, rows] = colsShape as [number, number, number];
    const c = rows / sizeOf(window.kernel);
    const outShape = [n, c, ...spatial];
    if (this.windowKernels === 'auto' && ensureJsKernels(this.engine)) {
      const d = tfDType(dtype, 'fold');
      return this.run(dtype, () => foldJs(cols, { colsShape, spatial, window, outShape, dtype: d }));
    }
    const { plan, indices, width, readsZero } = this.windows.fold(spatial, window);
    return this.run(dtype, () => {
      let columns = tf.reshape(cols, [n, c, plan.kernelSize * plan.positions]);
      if (readsZero) columns = tf.concat([columns, tf.zeros([n, c, 1], cols.dtype)], 2);
      const gathered = tf.gather(columns, indices, 2); // [n, c, P * width]
      const summed = width === 1 ? gathered : tf.sum(tf.reshape(gathered, [n, c, plan.planeSize, width]), 3);
      return tf.reshape(summed, outShape);
    });
  }

  /** First maximum on ties. */
  argmax(x: TfjsHandle, shape: Shape, axis: number, _dtype: DType): TfjsHandle {
    return this.run('int32', () => tf.argMax(view(x, shape), axis));
  }

  // ---- neural-network kernels ----

  softmax(x: TfjsHandle, shape: Shape, axis: number, dtype: DType): TfjsHandle {
    return this.run(dtype, () => {
      const v = view(x, shape);
      if (axis === shape.length - 1) return tf.softmax(v);
      const shifted = tf.sub(v, tf.max(v, axis, true));
      const e = tf.exp(shifted);
      return tf.div(e, tf.sum(e, axis, true));
    });
  }

  logSoftmax(x: TfjsHandle, shape: Shape, axis: number, dtype: DType): TfjsHandle {
    return this.run(dtype, () => {
      const v = view(x, shape);
      const shifted = tf.sub(v, tf.max(v, axis, true));
      return tf.sub(shifted, tf.log(tf.sum(tf.exp(shifted), axis, true)));
    });
  }

  oneHot(indices: TfjsHandle, shape: Shape, depth: number, dtype: FloatDType): TfjsHandle {
    const d = tfDType(dtype, 'oneHot');
    // wasm's OneHot writes int32 ones whatever dtype it is asked for: build int32, then cast.
    // Indices flattened (the result is the same row-major data; tf.oneHot wants rank >= 1).
    return this.run(dtype, () => tf.cast(tf.oneHot(tf.reshape(indices, [-1]), depth), d));
  }
}

/**
 * One unary op. `scalar(v)` gives a cached constant of the op's dtype.
 * Unless `exact` (engines whose kernels are right), two kernels are rebuilt
 * from others: wasm's Sign returns 0 for every |x| < 1, and its Log1p is
 * log(1 + x), which is 0 for |x| below float32's epsilon.
 */
function unaryOp(op: UnaryOp, x: tf.Tensor, scalar: (v: number) => tf.Scalar, exact: boolean): tf.Tensor {
  switch (op) {
    case 'neg':
      return tf.neg(x);
    case 'abs':
      return tf.abs(x);
    case 'sign': {
      if (exact) return tf.sign(x);
      const zero = scalar(0);
      // NaN compares false both ways: 0, as the contract says.
      return tf.sub(tf.cast(tf.greater(x, zero), x.dtype), tf.cast(tf.less(x, zero), x.dtype));
    }
    case 'exp':
      return tf.exp(x);
    case 'expm1':
      return tf.expm1(x);
    case 'log':
      return tf.log(x);
    case 'log1p':
      return exact ? tf.log1p(x) : log1p(x, scalar);
    case 'sqrt':
      return tf.sqrt(x);
    case 'square':
      return tf.square(x);
    case 'reciprocal':
      return tf.reciprocal(x);
    case 'tanh':
      return tf.tanh(x);
    case 'sigmoid':
      return tf.sigmoid(x);
    case 'relu':
      return tf.relu(x);
    case 'step':
      // 1 where x > 0, else 0 (also for NaN, where tf.step gives NaN).
      return tf.greater(x, scalar(0));
    case 'softplus':
      return tf.softplus(x);
  }
}

/**
 * log(1 + x) to float32 accuracy from log alone (Goldberg's trick): with
 * u = fl(1 + x), log1p(x) = log(u) · x / (u - 1), exact where u - 1 = 0.
 * Used for |x| < 1; beyond, log(1 + x) loses nothing (and the trick would
 * give inf / inf at x = inf).
 */
function log1p(x: tf.Tensor, scalar: (v: number) => tf.Scalar): tf.Tensor {
  const one = scalar(1);
  const u = tf.add(x, one);
  const d = tf.sub(u, one);
  const logU = tf.log(u);
  const small = tf.where(tf.equal(d, scalar(0)), x, tf.mul(logU, tf.div(x, d)));
  return tf.where(tf.less(tf.abs(x), one), small, logU);
}

function binaryOp(op: BinaryOp, a: tf.Tensor, b: tf.Tensor, dtype: DType): tf.Tensor {
  switch (op) {
    case 'add':
      return tf.add(a, b);
    case 'sub':
      return tf.sub(a, b);
    case 'mul':
      return tf.mul(a, b);
    case 'div':
      // tfjs floors int32 quotients; the contract truncates toward zero (as a cast does).
      return dtype === 'int32' ? tf.cast(tf.div(tf.cast(a, 'float32'), tf.cast(b, 'float32')), 'int32') : tf.div(a, b);
    case 'pow':
      return tf.pow(a, b);
    case 'maximum':
      return tf.maximum(a, b);
    case 'minimum':
      return tf.minimum(a, b);
    case 'greater':
      return tf.greater(a, b);
    case 'greaterEqual':
      return tf.greaterEqual(a, b);
    case 'equal':
      return tf.equal(a, b);
  }
}
