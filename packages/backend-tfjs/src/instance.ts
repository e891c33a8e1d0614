import { startEngine, startEngineSync, type LoadTfjsOptions } from './engine.js';
import { TfjsBackend } from './tfjs-backend.js';

/**
 * The backend instance. tfjs has one global engine, so one instance serves
 * every model; {@link fromTf} wraps into it by default. Usable as is (tfjs
 * then starts its default engine, `cpu` in Node); {@link loadTfjsBackend}
 * starts the fastest engine first.
 */
export const tfjs = new TfjsBackend();

/**
 * Starts the fastest TensorFlow.js engine that works here and returns
 * {@link tfjs} on it: native TensorFlow (`@tensorflow/tfjs-node`, if
 * installed and built), else WebAssembly (`@tensorflow/tfjs-backend-wasm`),
 * else tfjs's JavaScript `cpu` kernels. `backend.name` then says which runs,
 * e.g. `tfjs (wasm)`; `backend.skipped` says why faster ones were not used.
 * Throws only if no engine of `options.engines` starts.
 */
export async function loadTfjsBackend(options: LoadTfjsOptions = {}): Promise<TfjsBackend> {
  const { skipped } = await startEngine(options);
  tfjs.skipped = skipped;
  return tfjs;
}

/**
 * {@link loadTfjsBackend} without `await`, for synchronous code (Node only
 * for the `tensorflow` and `wasm` engines: the wasm module is compiled and
 * instantiated synchronously, which browsers refuse on the main thread).
 */
export function loadTfjsBackendSync(options: LoadTfjsOptions = {}): TfjsBackend {
  tfjs.skipped = startEngineSync(options).skipped;
  return tfjs;
}
