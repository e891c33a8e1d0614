/**
 * The backends the page offers. Each is loaded when chosen (TensorFlow.js
 * and its WebAssembly binaries are fetched only then).
 */
import type { Backend, FloatDType } from '@backpack-ts/core';

export type BackendChoice = 'cpu' | 'tfjs-wasm' | 'tfjs-webgl';

export const backendLabels: Readonly<Record<BackendChoice, string>> = {
  cpu: 'backend-cpu (TypeScript, float64)',
  'tfjs-wasm': 'backend-tfjs on WebAssembly (float32)',
  'tfjs-webgl': 'backend-tfjs on WebGL (float32)',
};

export interface LoadedBackend {
  readonly backend: Backend;
  readonly dtype: FloatDType;
  /** What runs the kernels, as the page reports it, e.g. `tfjs (wasm), SIMD, 1 thread`. */
  readonly engine: string;
}

/** Why WebGL cannot run here, or undefined when this browser gives a WebGL context. */
export function webglUnavailable(): string | undefined {
  const canvas = document.createElement('canvas');
  return canvas.getContext('webgl2') ?? canvas.getContext('webgl') ? undefined : 'this browser gives no WebGL context';
}

export async function loadBackend(choice: BackendChoice): Promise<LoadedBackend> {
  if (choice === 'cpu') {
    const { cpu } = await import('@backpack-ts/backend-cpu');
    return { backend: cpu, dtype: 'float64', engine: cpu.name };
  }
  const [tf, { loadTfjsBackend, tfjs }] = await Promise.all([import('@tensorflow/tfjs'), import('@backpack-ts/backend-tfjs')]);
  // Tensors the backend keeps for reuse belong to the engine they were made on.
  tfjs.release();
  if (choice === 'tfjs-webgl') {
    // backend-tfjs's loader knows tensorflow, wasm and cpu; WebGL is started here and the backend runs on whatever engine is active.
    if (!(await tf.setBackend('webgl'))) throw new Error(`tfjs could not start WebGL (${webglUnavailable() ?? 'see the console'})`);
    return { backend: tfjs, dtype: 'float32', engine: `${tfjs.name}, WebGL ${tf.env().getNumber('WEBGL_VERSION')}` };
  }
  const { wasmPaths } = await import('./wasm-paths.js');
  const backend = await loadTfjsBackend({ engines: ['wasm'], wasmPaths });
  const simd = (await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')) === true;
  const threads = (await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT')) === true;
  return { backend, dtype: 'float32', engine: `${backend.name}, ${simd ? 'SIMD' : 'no SIMD'}, ${threads ? 'threads' : '1 thread'}` };
}
