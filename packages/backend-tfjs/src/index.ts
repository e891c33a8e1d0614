/**
 * `@backpack-ts/backend-tfjs`: a backpack-ts backend on TensorFlow.js.
 *
 * ```ts
 * import { setDefaultBackend } from '@backpack-ts/core';
 * import { loadTfjsBackend } from '@backpack-ts/backend-tfjs';
 * setDefaultBackend(await loadTfjsBackend()); // tfjs-node, else wasm, else cpu
 * ```
 *
 * @module \@backpack-ts/backend-tfjs
 */
export { TfjsBackend, type TfjsHandle, type TfjsBackendStats } from './tfjs-backend.js';
export { tfjs, loadTfjsBackend, loadTfjsBackendSync } from './instance.js';
export { fromTf, toTf } from './interop.js';
export { ENGINE_ORDER, type TfjsEngine, type LoadTfjsOptions, type SkippedEngine } from './engine.js';
