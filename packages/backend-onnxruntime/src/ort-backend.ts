import { CpuFallbackBackend, type CpuHandle, type CpuKernel } from '@backpack-ts/backend-cpu';
import type {
  BinaryOp,
  DType,
  FloatDType,
  ReduceOp,
  Shape,
  UnaryOp,
  WindowGeometry,
} from '@backpack-ts/core';
import { matmulDims, sizeOf, windowOutputSize } from '@backpack-ts/core';
import { availableParallelism } from 'node:os';
import {
  argmaxGraph,
  batchedMatmulGraph,
  binaryGraph,
  convGraph,
  convOnOrt,
  convTransposeGraph,
  convWeightGradGraph,
  foldGraph,
  foldOnOrt,
  gemmGraph,
  matmulKind,
  maxPoolGraph,
  maxPoolOnOrt,
  maxPoolTransposeGraph,
  oneHotGraph,
  reduceGraph,
  softmaxGraph,
  transposeGraph,
  unaryGraph,
  uncoveredTail,
} from './onnx/graphs.js';
import type { GraphSpec } from './onnx/proto.js';
import { loadBinding } from './ort/binding.js';
import { SessionCache, type Feed } from './sessions.js';
import type { KernelCounts, KernelHandler, OrtBackendOptions, OrtBackendStats } from './ort-backend-options.js';
import type { SyncSession } from './ort/binding.js';
import { aroundAxis, coalesceBroadcast, coalescePermute, coalesceReduce, isIdentity } from './shapes.js';
import { BufferPool, HandleRegistry, OrtHandle } from './storage.js';

/** A window in a session key: kernel, stride, padding and dilation. */
function describeWindow(window: WindowGeometry): string {
  return [window.kernel, window.stride, window.padding, window.dilation].map((values) => values.join(',')).join(':');
}

const DEFAULTS = {
  minElements: 4_096,
  minMatmulMacs: 16_384,
  maxPoolBytes: 256 * 1024 * 1024,
  maxSessions: 256,
};

/**
 * A backend on onnxruntime-node's CPU execution provider (MLAS,
 * multithreaded). Big matrix products, elementwise kernels, reductions,
 * softmax, transposes, col2im (`fold`), argmax, one-hot, max pooling
 * over tiling windows (the optional `maxPool` and `maxPoolTranspose`) and
 * float32 convolutions (the optional `conv`, `convTranspose` and
 * `convWeightGrad`) run as small cached ONNX models; small ones, and
 * kernels that are plain copies (layout, `unfold`), run in TypeScript on
 * `@backpack-ts/backend-cpu`'s kernels ({@link CpuFallbackBackend}), since a
 * call into ORT costs 10-20 µs.
 *
 * float32 and float64 everywhere (a float64 kernel ORT lacks, such as
 * col2im, runs in TypeScript); int32 for indices. Handles are
 * {@link OrtHandle}s; `dispose` returns a buffer made by `fromData` or
 * `full` to a pool that later ones reuse.
 *
 * Construction loads the native binding and throws if it cannot.
 */
export class OrtBackend extends CpuFallbackBackend<OrtHandle> {
  readonly name = 'onnxruntime';
  readonly dtypes: readonly DType[] = ['float32', 'float64', 'int32'];
  /** The onnxruntime-node version in use. */
  readonly ortVersion: string;
  /** The intra-op thread count of every session. */
  readonly threads: number;

  private readonly registry: HandleRegistry;
  private readonly sessions: SessionCache;
  private readonly minElements: number;
  private readonly minMatmulMacs: number;
  private readonly convolutions: boolean;
  private readonly counts: KernelCounts = {};

  constructor(options: OrtBackendOptions = {}) {
    super();
    for (const [name, value, min] of [
      ['intraOpNumThreads', options.intraOpNumThreads, 1],
      ['minElements', options.minElements, 0],
      ['minMatmulMacs', options.minMatmulMacs, 0],
      ['maxPoolBytes', options.maxPoolBytes, 0],
      ['maxSessions', options.maxSessions, 1],
    ] as const) {
      if (value !== undefined && !(Number.isInteger(value) && value >= min)) {
        throw new RangeError(`OrtBackend: ${name} must be an integer >= ${min}, got ${value}`);
      }
    }
    this.ortVersion = loadBinding().version;
    this.threads = options.intraOpNumThreads ?? availableParallelism();
    const spin = options.allowSpinning === true ? '1' : '0';
    this.sessions = new SessionCache(
      {
        intraOpNumThreads: this.threads,
        interOpNumThreads: 1,
        executionMode: 'sequential',
        graphOptimizationLevel: 'all',
        extra: { session: { intra_op: { allow_spinning: spin }, inter_op: { allow_spinning: spin } } },
      },
      options.maxSessions ?? DEFAULTS.maxSessions,
    );
    this.registry = new HandleRegistry(new BufferPool(options.maxPoolBytes ?? DEFAULTS.maxPoolBytes));
    this.minElements = options.minElements ?? DEFAULTS.minElements;
    this.minMatmulMacs = options.minMatmulMacs ?? DEFAULTS.minMatmulMacs;
    this.convolutions = options.convolutions ?? true;
  }

  // ---- bookkeeping ----

  /** Handles not disposed yet (the conformance kit checks that this returns to its start). */
  liveCount(): number {
    return this.registry.handles;
  }

  /** A snapshot of memory, sessions and where kernels ran. */
  stats(): OrtBackendStats {
    const pool = this.registry.pool;
    return {
      liveHandles: this.registry.handles,
      liveBuffers: this.registry.buffers,
      liveBytes: this.registry.bytes,
      pooledBuffers: pool.pooledBuffers,
      pooledBytes: pool.pooledBytes,
      sessions: this.sessions.stats(),
      kernels: { ...this.counts },
    };
  }

  /** Releases every cached session and pooled buffer. The backend stays usable (sessions are re-created on demand). */
  release(): void {
    this.sessions.dispose();
    this.registry.pool.clear();
  }

  /**
   * @internal Routes the calls of `kernels` on this instance through
   * `handler` until the returned function is called (the compiled step's
   * recorder, `compiled/`). Calls made while a handler runs (a kernel calling
   * another, the handler calling kernels) go to the kernels directly.
   */
  intercept(kernels: readonly string[], handler: KernelHandler): () => void {
    const self = this as unknown as Record<string, unknown>;
    if (Object.prototype.hasOwnProperty.call(self, kernels[0]!)) throw new Error('onnxruntime backend: a compiled step is already running on this backend');
    let depth = 0;
    for (const kernel of kernels) {
      const method = self[kernel] as (...args: unknown[]) => unknown;
      const call = (...args: unknown[]): unknown => {
        if (depth > 0) return method.apply(this, args);
        depth += 1;
        try {
          return handler(kernel, args, () => method.apply(this, args));
        } finally {
          depth -= 1;
        }
      };
      Object.defineProperty(this, kernel, { value: call, configurable: true, writable: true });
    }
    return () => {
      // Last added, first deleted: V8 then returns the object to its earlier shape instead of a slow dictionary.
      for (let i = kernels.length - 1; i >= 0; i--) delete self[kernels[i]!];
    };
  }

  /** @internal A session for `graph` with this backend's options, owned by the caller (a compiled step). */
  buildSession(graph: GraphSpec): SyncSession {
    return this.sessions.build(graph);
  }

  /** @internal The handle registry (compiled steps create placeholders in it). */
  get handles(): HandleRegistry {
    return this.registry;
  }

  private count(kernel: string, where: 'ort' | 'ts'): void {
    const key = `${kernel}:${where}`;
    this.counts[key] = (this.counts[key] ?? 0) + 1;
  }

  /** The handle's own array: backend-cpu's kernels read it in place. */
  protected toCpu(x: OrtHandle): CpuHandle {
    return x.data;
  }

  /**
   * Wraps the result of a backend-cpu kernel (counted as run in TypeScript);
   * a result that is an input's array (reshape, a cast to the same dtype)
   * shares that input's storage.
   */
  protected fromCpu(result: CpuHandle, inputs: readonly OrtHandle[], kernel: CpuKernel): OrtHandle {
    this.count(kernel, 'ts');
    for (const input of inputs) if (input.data === result) return this.registry.share(input);
    return this.registry.create(result);
  }

  /**
   * Runs the session `key` (built from `graph` on first use); the output
   * lives in the buffer ORT returns. Undefined if ORT refused the graph (the
   * caller falls back).
   */
  private runOrt(
    kernel: string,
    key: string,
    graph: () => GraphSpec,
    inputs: readonly Feed[],
    outDims: readonly number[],
    dtype: DType,
  ): OrtHandle | undefined {
    const session = this.sessions.get(key, graph);
    if (session === undefined) return undefined;
    const out = this.sessions.run(session, inputs, dtype, sizeOf(outDims));
    this.count(kernel, 'ort');
    return this.registry.create(out);
  }

  // ---- creation and read-back ----

  override fromData(data: ArrayLike<number>, shape: Shape, dtype: DType): OrtHandle {
    const size = sizeOf(shape);
    if (data.length !== size) {
      throw new RangeError(`onnxruntime.fromData: ${data.length} values do not fill shape [${shape.join(', ')}]`);
    }
    const out = this.registry.pool.take(dtype, size);
    out.set(data);
    return this.registry.create(out, true);
  }

  override full(shape: Shape, value: number, dtype: DType): OrtHandle {
    const out = this.registry.pool.take(dtype, sizeOf(shape));
    out.fill(value);
    return this.registry.create(out, true);
  }

  /** Releases the handle; its buffer is reused once no handle views it. Idempotent. */
  override dispose(x: OrtHandle): void {
    this.registry.dispose(x);
  }

  // ---- layout (on backend-cpu: reshape shares the storage; slice, concat, pad and cast copy) ----

  override permute(x: OrtHandle, shape: Shape, perm: readonly number[], dtype: DType): OrtHandle {
    const simple = coalescePermute(shape, perm);
    if (isIdentity(simple.perm)) return this.registry.share(x);
    if (x.data.length >= this.minElements) {
      const outDims = simple.perm.map((d) => simple.shape[d]!);
      const result = this.runOrt(
        'permute',
        `transpose:${dtype}:${simple.perm.join(',')}`,
        () => transposeGraph(dtype, simple.perm),
        [{ data: x.data, dims: simple.shape }],
        outDims,
        dtype,
      );
      if (result !== undefined) return result;
    }
    return super.permute(x, shape, perm, dtype);
  }

  // ---- elementwise ----

  override unary(op: UnaryOp, x: OrtHandle, shape: Shape, dtype: DType): OrtHandle {
    const n = x.data.length;
    if (n >= this.minElements && dtype !== 'int32') {
      const result = this.runOrt(
        'unary',
        `unary:${op}:${dtype}`,
        () => unaryGraph(op, dtype),
        [{ data: x.data, dims: [n] }],
        [n],
        dtype,
      );
      if (result !== undefined) return result;
    }
    return super.unary(op, x, shape, dtype);
  }

  override binary(
    op: BinaryOp,
    a: OrtHandle,
    aShape: Shape,
    b: OrtHandle,
    bShape: Shape,
    outShape: Shape,
    dtype: DType,
  ): OrtHandle {
    const n = sizeOf(outShape);
    if (n >= this.minElements && this.ortHasBinary(op, dtype)) {
      const simple = coalesceBroadcast(aShape, bShape, outShape);
      const rank = simple.out.length;
      const result = this.runOrt(
        'binary',
        `binary:${op}:${dtype}:${rank}`,
        () => binaryGraph(op, dtype, rank, rank),
        [
          { data: a.data, dims: simple.a },
          { data: b.data, dims: simple.b },
        ],
        simple.out,
        dtype,
      );
      if (result !== undefined) return result;
    }
    return super.binary(op, a, aShape, b, bShape, outShape, dtype);
  }

  override binaryScalar(op: BinaryOp, x: OrtHandle, shape: Shape, scalar: number, dtype: DType): OrtHandle {
    const n = x.data.length;
    // An int32 op with a fractional scalar is computed in doubles by the contract; ORT would round the scalar first.
    const exactScalar = dtype !== 'int32' || Number.isInteger(scalar);
    if (n >= this.minElements && exactScalar && this.ortHasBinary(op, dtype)) {
      const b = dtype === 'float32' ? new Float32Array([scalar]) : dtype === 'float64' ? new Float64Array([scalar]) : new Int32Array([scalar]);
      const result = this.runOrt(
        'binaryScalar',
        `binary:${op}:${dtype}:1:0`,
        () => binaryGraph(op, dtype, 1, 0),
        [
          { data: x.data, dims: [n] },
          { data: b, dims: [] },
        ],
        [n],
        dtype,
      );
      if (result !== undefined) return result;
    }
    return super.binaryScalar(op, x, shape, scalar, dtype);
  }

  /** int32 division and powers follow JavaScript (x / 0 is 0 after truncation); ORT throws or differs, so they stay in TypeScript. */
  private ortHasBinary(op: BinaryOp, dtype: DType): boolean {
    return dtype !== 'int32' || (op !== 'div' && op !== 'pow');
  }

  // ---- reductions ----

  override reduce(op: ReduceOp, x: OrtHandle, shape: Shape, axes: readonly number[], dtype: DType): OrtHandle {
    const n = x.data.length;
    if (n >= this.minElements) {
      const simple = coalesceReduce(shape, axes);
      if (simple.axes.length > 0) {
        const outDims = simple.shape.filter((_, d) => !simple.axes.includes(d));
        const result = this.runOrt(
          'reduce',
          `reduce:${op}:${dtype}:${simple.shape.length}:${simple.axes.join(',')}`,
          () => reduceGraph(op, dtype, simple.shape.length, simple.axes),
          [{ data: x.data, dims: simple.shape }],
          outDims,
          dtype,
        );
        if (result !== undefined) return result;
      }
    }
    return super.reduce(op, x, shape, axes, dtype);
  }

  // ---- linear algebra ----

  override matmul(
    a: OrtHandle,
    aShape: Shape,
    b: OrtHandle,
    bShape: Shape,
    transA: boolean,
    transB: boolean,
    dtype: DType,
  ): OrtHandle {
    const { batchA, batchB, batch, m, k, n } = matmulDims(aShape, bShape, transA, transB);
    const outShape = [batch, m, n];
    if (matmulKind(aShape, bShape, transA, transB, dtype) === 'outer') {
      return this.binary('mul', a, [batchA, m, 1], b, [batchB, 1, n], outShape, dtype);
    }
    const macs = batch * m * n * k;
    if (macs >= this.minMatmulMacs && dtype !== 'int32') {
      const result = this.matmulOrt(a, aShape, b, bShape, transA, transB, dtype, m, n);
      if (result !== undefined) return result;
    }
    return super.matmul(a, aShape, b, bShape, transA, transB, dtype);
  }

  private matmulOrt(
    a: OrtHandle,
    aShape: Shape,
    b: OrtHandle,
    bShape: Shape,
    transA: boolean,
    transB: boolean,
    dtype: DType,
    m: number,
    n: number,
  ): OrtHandle | undefined {
    const [batchA, aRows, aCols] = aShape as [number, number, number];
    const [batchB, bRows, bCols] = bShape as [number, number, number];
    const t = `${transA ? 't' : 'n'}${transB ? 't' : 'n'}`;
    const kind = matmulKind(aShape, bShape, transA, transB, dtype);
    if (kind === 'gemm') {
      return this.runOrt(
        'matmul',
        `gemm:${dtype}:${t}`,
        () => gemmGraph(dtype, transA, transB),
        [
          { data: a.data, dims: [batchA * aRows, aCols] },
          { data: b.data, dims: [bRows, bCols] },
        ],
        [batchA * m, n],
        dtype,
      );
    }
    const feeds = [
      { data: a.data, dims: aShape },
      { data: b.data, dims: bShape },
    ];
    const outDims = [batchA === 1 ? batchB : batchA, m, n];
    if (kind === 'fused') {
      const fused = this.runOrt('matmul', `fusedmatmul:${dtype}:${t}`, () => batchedMatmulGraph(dtype, transA, transB, true), feeds, outDims, dtype);
      if (fused !== undefined) return fused;
    }
    return this.runOrt('matmul', `matmul:${dtype}:${t}`, () => batchedMatmulGraph(dtype, transA, transB, false), feeds, outDims, dtype);
  }

  // ---- sliding windows ----

  /**
   * im2col stays in TypeScript, a plain copy: ONNX has no im2col, and the
   * one-hot Conv that would compute it sums products, where max pooling's
   * `-Infinity` padding times 0 gives NaN. Neither it nor exact ONNX copies
   * were clearly faster (measurements: docs/PERFORMANCE.md).
   */
  override unfold(x: OrtHandle, shape: Shape, window: WindowGeometry, dtype: DType): OrtHandle {
    this.count('unfold', 'ts');
    // Into a recycled buffer: the copy itself is cheap next to first-touching fresh pages.
    const [n, c] = [shape[0]!, shape[1]!];
    const length = n * c * sizeOf(window.kernel) * sizeOf(windowOutputSize(shape.slice(2), window, 'unfold'));
    const out = this.registry.pool.take(dtype, length);
    this.cpu.unfold(x.data, shape, window, dtype, out);
    return this.registry.create(out, true);
  }

  /**
   * col2im runs on ORT's Col2Im where it has a correct kernel (float32, see
   * `foldOnOrt`); float64 and 3-d dilated windows stay in TypeScript,
   * since ORT has no float64 Col2Im, ConvTranspose or Conv (measurements:
   * docs/PERFORMANCE.md).
   */
  override fold(cols: OrtHandle, colsShape: Shape, spatial: readonly number[], window: WindowGeometry, dtype: DType): OrtHandle {
    const n = cols.data.length;
    const outDims = [colsShape[0]!, colsShape[1]! / sizeOf(window.kernel), ...spatial];
    if (n >= this.minElements && foldOnOrt(dtype, window)) {
      const result = this.runOrt(
        'fold',
        `fold:${dtype}:${spatial.join(',')}:${describeWindow(window)}`,
        () => foldGraph(dtype, spatial, window),
        [{ data: cols.data, dims: colsShape }],
        outDims,
        dtype,
      );
      if (result !== undefined) return result;
    }
    return super.fold(cols, colsShape, spatial, window, dtype);
  }

  override argmax(x: OrtHandle, shape: Shape, axis: number, dtype: DType): OrtHandle {
    const n = x.data.length;
    if (n >= this.minElements) {
      const { dims, rank, withoutAxis } = aroundAxis(shape, axis);
      const result = this.runOrt(
        'argmax',
        `argmax:${dtype}:${rank}`,
        () => argmaxGraph(dtype, rank),
        [{ data: x.data, dims }],
        withoutAxis,
        'int32',
      );
      if (result !== undefined) return result;
    }
    return super.argmax(x, shape, axis, dtype);
  }

  /**
   * Max pooling in one ORT graph (a transpose and two reductions) instead of
   * im2col in TypeScript, argmax and a max reduction, for windows that tile
   * the input (`maxPoolOnOrt`). Falls back (`undefined`: core unfolds)
   * for other windows, below `minElements`, where ORT refuses the graph, and
   * where `x` holds NaN (see `maxPoolGraph`).
   */
  maxPool(
    x: OrtHandle,
    shape: Shape,
    window: WindowGeometry,
    dtype: FloatDType,
  ):
    | {
        /** The maxima, `[N, C, ...out]`. */
        values: OrtHandle;
        /** Position of each maximum inside its window, `[N, C, L]` int32. */
        argmax: OrtHandle;
      }
    | undefined {
    if (x.data.length < this.minElements || !maxPoolOnOrt(window)) return undefined;
    const spatial = shape.slice(2);
    const outSpatial = windowOutputSize(spatial, window, 'maxPool');
    // Tiling windows: the kernel fixes stride, padding and dilation.
    const geometry = `${spatial.join(',')}:${window.kernel.join(',')}`;
    const session = this.sessions.get(`maxPool:${dtype}:${geometry}`, () => maxPoolGraph(dtype, spatial, window, outSpatial));
    if (session === undefined) return undefined;
    const planes = shape[0]! * shape[1]!;
    const positions = sizeOf(outSpatial);
    const [values, argmax, inputHasNaN] = this.sessions.runOutputs(session, [{ data: x.data, dims: shape }], [
      { name: 'y', dtype, length: planes * positions },
      { name: 'k', dtype: 'int32', length: planes * positions },
      { name: 'hasNaN', dtype, length: 1 },
    ]);
    if (inputHasNaN![0] !== 0) return undefined;
    this.count('maxPool', 'ort');
    return { values: this.registry.create(values!), argmax: this.registry.create(argmax!) };
  }

  /**
   * The transpose of {@link maxPool} in one ORT graph (one-hot product and a
   * transpose back to the input grid) for windows that tile the input;
   * `undefined` (core folds) for other windows, below `minElements` and where
   * ORT refuses the graph.
   */
  maxPoolTranspose(
    mat: OrtHandle,
    matShape: Shape,
    argmax: OrtHandle,
    spatial: readonly number[],
    window: WindowGeometry,
    dtype: FloatDType,
  ): OrtHandle | undefined {
    const size = mat.data.length * sizeOf(window.kernel);
    if (size < this.minElements || !maxPoolOnOrt(window)) return undefined;
    const channels = matShape[2]!;
    const outSpatial = windowOutputSize(spatial, window, 'maxPoolTranspose');
    const geometry = `${spatial.join(',')}:${window.kernel.join(',')}`;
    return this.runOrt(
      'maxPoolTranspose',
      `maxPoolTranspose:${dtype}:${channels}:${geometry}`,
      () => maxPoolTransposeGraph(dtype, channels, spatial, window, outSpatial),
      [
        { data: mat.data, dims: matShape },
        { data: argmax.data, dims: matShape.slice(1) },
      ],
      [matShape[0]! * matShape[1]!, channels, ...spatial],
      dtype,
    );
  }

  /**
   * Whether a convolution runs on ORT: float32 (ORT has no float64 Conv or
   * ConvTranspose), with at least `minMatmulMacs` multiply-adds (`macs`).
   */
  private convOnOrt(dtype: FloatDType, macs: number): boolean {
    return this.convolutions && convOnOrt(dtype) && macs >= this.minMatmulMacs;
  }

  /**
   * ORT's Conv, bias included: one call instead of im2col in TypeScript, a
   * GEMM and an addition. `undefined` (core unfolds) for float64 and small ones.
   */
  conv(
    x: OrtHandle,
    xShape: Shape,
    weight: OrtHandle,
    weightShape: Shape,
    bias: OrtHandle | undefined,
    window: WindowGeometry,
    groups: number,
    dtype: FloatDType,
  ): OrtHandle | undefined {
    const outSpatial = windowOutputSize(xShape.slice(2), window, 'conv');
    const outDims = [xShape[0]!, weightShape[0]!, ...outSpatial];
    if (!this.convOnOrt(dtype, sizeOf(outDims) * sizeOf(weightShape.slice(1)))) return undefined;
    const inputs = [
      { data: x.data, dims: xShape },
      { data: weight.data, dims: weightShape },
    ];
    if (bias !== undefined) inputs.push({ data: bias.data, dims: [weightShape[0]!] });
    const withBias = bias !== undefined;
    return this.runOrt('conv', `conv:${dtype}:${describeWindow(window)}:${groups}:${withBias}`, () => convGraph(dtype, window, groups, withBias), inputs, outDims, dtype);
  }

  /** ORT's ConvTranspose: the input gradient in one call instead of a GEMM and col2im. `undefined` (core folds) for float64 and small ones. */
  convTranspose(
    mat: OrtHandle,
    matShape: Shape,
    weight: OrtHandle,
    weightShape: Shape,
    spatial: readonly number[],
    window: WindowGeometry,
    groups: number,
    dtype: FloatDType,
  ): OrtHandle | undefined {
    if (!this.convOnOrt(dtype, mat.data.length * sizeOf(weightShape.slice(1)))) return undefined;
    const outputPadding = uncoveredTail(spatial, matShape.slice(2), window);
    return this.runOrt(
      'convTranspose',
      `convTranspose:${dtype}:${describeWindow(window)}:${groups}:${outputPadding.join(',')}`,
      () => convTransposeGraph(dtype, window, groups, outputPadding),
      [
        { data: mat.data, dims: matShape },
        { data: weight.data, dims: weightShape },
      ],
      [matShape[0]!, weightShape[1]! * groups, ...spatial],
      dtype,
    );
  }

  /** The weight gradient as one ORT Conv of the transposed operands (see `convWeightGradGraph`). `undefined` (core unfolds) for float64 and small ones. */
  convWeightGrad(x: OrtHandle, xShape: Shape, mat: OrtHandle, matShape: Shape, window: WindowGeometry, groups: number, dtype: FloatDType): OrtHandle | undefined {
    const [v, , o] = matShape as [number, number, number];
    const weightSize = o * (xShape[1]! / groups) * sizeOf(window.kernel);
    if (!this.convOnOrt(dtype, mat.data.length * (weightSize / o))) return undefined;
    return this.runOrt(
      'convWeightGrad',
      `convWeightGrad:${dtype}:${xShape.join(',')}:${matShape.join(',')}:${describeWindow(window)}:${groups}`,
      () => convWeightGradGraph(dtype, xShape, matShape, window, groups),
      [
        { data: x.data, dims: xShape },
        { data: mat.data, dims: matShape },
      ],
      [v * weightSize],
      dtype,
    );
  }

  // ---- neural-network kernels ----

  override softmax(x: OrtHandle, shape: Shape, axis: number, dtype: DType): OrtHandle {
    return this.softmaxLike(false, x, shape, axis, dtype);
  }

  override logSoftmax(x: OrtHandle, shape: Shape, axis: number, dtype: DType): OrtHandle {
    return this.softmaxLike(true, x, shape, axis, dtype);
  }

  private softmaxLike(log: boolean, x: OrtHandle, shape: Shape, axis: number, dtype: DType): OrtHandle {
    const kernel = log ? 'logSoftmax' : 'softmax';
    const n = x.data.length;
    if (n >= this.minElements && dtype !== 'int32') {
      const { dims, rank } = aroundAxis(shape, axis);
      const result = this.runOrt(
        kernel,
        `${kernel}:${dtype}:${rank}`,
        () => softmaxGraph(log, dtype, rank),
        [{ data: x.data, dims }],
        dims,
        dtype,
      );
      if (result !== undefined) return result;
    }
    return log ? super.logSoftmax(x, shape, axis, dtype) : super.softmax(x, shape, axis, dtype);
  }

  override oneHot(indices: OrtHandle, shape: Shape, depth: number, dtype: FloatDType): OrtHandle {
    const n = indices.data.length;
    if (n * depth >= this.minElements) {
      const result = this.runOrt('oneHot', `oneHot:${dtype}:${depth}`, () => oneHotGraph(dtype, depth), [{ data: indices.data, dims: [n] }], [n, depth], dtype);
      if (result !== undefined) return result;
    }
    return super.oneHot(indices, shape, depth, dtype);
  }
}
