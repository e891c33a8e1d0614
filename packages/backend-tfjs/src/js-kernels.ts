/**
 * unfold and fold as tfjs kernels written in TypeScript, for the engines
 * whose memory JavaScript can see: `wasm` (the WebAssembly heap, viewed in
 * place: no read-back) and tfjs's `cpu` (typed arrays). They run
 * `@backpack-ts/backend-cpu`'s kernels on the tensor's own storage.
 *
 * Why: wasm has no fast kernel to build them from. Measured on tfjs-backend-wasm
 * 4.22 (one thread, a shared 2-core machine), `[64, 16, 32, 32]` with a 3x3
 * window (9.4 M column entries): a gather with precomputed indices takes
 * ~650 ms (GatherV2 costs ~70 ns per element), strided slices or pads per
 * kernel offset 60 ms to seconds (slow generic kernels, one call per
 * offset), a conv2d with one-hot filters ~90 ms for unfold but
 * conv2dTranspose ~320 ms for fold; these kernels take ~90 ms and ~50 ms,
 * and ~0.2 ms on small inputs where the gather takes 1.3 ms.
 *
 * Other engines (native TensorFlow, WebGL, WebGPU) have fast gathers: there
 * the backend uses the gather form of `window.ts`.
 */
import * as tf from '@tensorflow/tfjs';
import { CpuBackend } from '@backpack-ts/backend-cpu';
import type { DType, Shape, WindowGeometry } from '@backpack-ts/core';

export const UNFOLD_KERNEL = 'BackpackTsUnfold';
export const FOLD_KERNEL = 'BackpackTsFold';

/** The engines these kernels are registered for. */
export const JS_KERNEL_ENGINES: readonly string[] = ['wasm', 'cpu'];

type TfDType = 'float32' | 'int32';
type HeapArray = Float32Array | Int32Array;

interface UnfoldAttrs {
  readonly shape: Shape;
  readonly window: WindowGeometry;
  readonly outShape: Shape;
  readonly dtype: TfDType;
}

interface FoldAttrs {
  readonly colsShape: Shape;
  readonly spatial: readonly number[];
  readonly window: WindowGeometry;
  readonly outShape: Shape;
  readonly dtype: TfDType;
}

/** What the kernels need of tfjs's wasm engine (BackendWasm, tfjs-backend-wasm 4.22). */
interface WasmEngine {
  typedArrayFromHeap(t: tf.TensorInfo): HeapArray;
  makeOutput(shape: number[], dtype: TfDType, memoryOffset?: number, values?: HeapArray): tf.TensorInfo;
}

/** What the kernels need of tfjs's cpu engine (MathBackendCPU). */
interface CpuEngine {
  readSync(dataId: tf.DataId): HeapArray;
  makeTensorInfo(shape: number[], dtype: TfDType, values: HeapArray): tf.TensorInfo;
}

/** The elements of `t` where they live, and how to wrap a result array as an output. */
interface Storage {
  input(t: tf.TensorInfo): HeapArray;
  output(shape: Shape, dtype: TfDType, values: HeapArray): tf.TensorInfo;
}

function storage(engine: string, backend: unknown): Storage {
  if (engine === 'wasm') {
    const wasm = backend as WasmEngine;
    // A view on the heap; valid until the heap grows, so the result is computed before makeOutput allocates.
    return { input: (t) => wasm.typedArrayFromHeap(t), output: (shape, dtype, values) => wasm.makeOutput([...shape], dtype, undefined, values) };
  }
  const cpuEngine = backend as CpuEngine;
  // readSync returns the engine's own array (the kernels only read it) and makeTensorInfo adopts the result.
  return { input: (t) => cpuEngine.readSync(t.dataId), output: (shape, dtype, values) => cpuEngine.makeTensorInfo([...shape], dtype, values) };
}

const kernels = new CpuBackend();

/** Registers the kernels for `engine` once; returns whether it is one they serve. */
export function ensureJsKernels(engine: string): boolean {
  if (!JS_KERNEL_ENGINES.includes(engine)) return false;
  if (tf.getKernel(UNFOLD_KERNEL, engine) !== undefined) return true;
  tf.registerKernel({
    kernelName: UNFOLD_KERNEL,
    backendName: engine,
    kernelFunc: ({ inputs, backend, attrs }) => {
      const a = attrs as unknown as UnfoldAttrs;
      const io = storage(engine, backend);
      const result = kernels.unfold(io.input(inputs['x'] as tf.TensorInfo), a.shape, a.window, a.dtype as DType);
      return io.output(a.outShape, a.dtype, result as HeapArray);
    },
  });
  tf.registerKernel({
    kernelName: FOLD_KERNEL,
    backendName: engine,
    kernelFunc: ({ inputs, backend, attrs }) => {
      const a = attrs as unknown as FoldAttrs;
      const io = storage(engine, backend);
      const result = kernels.fold(io.input(inputs['cols'] as tf.TensorInfo), a.colsShape, a.spatial, a.window, a.dtype as DType);
      return io.output(a.outShape, a.dtype, result as HeapArray);
    },
  });
  return true;
}

export function unfoldJs(x: tf.Tensor, attrs: UnfoldAttrs): tf.Tensor {
  return tf.engine().runKernel(UNFOLD_KERNEL, { x }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
}

export function foldJs(cols: tf.Tensor, attrs: FoldAttrs): tf.Tensor {
  return tf.engine().runKernel(FOLD_KERNEL, { cols }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
}
