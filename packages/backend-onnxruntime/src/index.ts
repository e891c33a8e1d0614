/**
 * `@backpack-ts/backend-onnxruntime`: a backpack-ts backend on
 * onnxruntime-node's multithreaded CPU execution provider.
 *
 * ```ts
 * import { setDefaultBackend } from '@backpack-ts/core';
 * import { OrtBackend } from '@backpack-ts/backend-onnxruntime';
 * setDefaultBackend(new OrtBackend());
 * ```
 *
 * @module \@backpack-ts/backend-onnxruntime
 */
export { OrtBackend } from './ort-backend.js';
export type { OrtBackendOptions, OrtBackendStats, KernelCounts } from './ort-backend-options.js';
export { OrtHandle } from './storage.js';
export { compileStep, type CompiledStep, type CompiledStepStats, type CompileStepOptions } from './compiled/compile-step.js';
export type { SessionCacheStats } from './sessions.js';
export { loadFastestBackend, type FastestBackend } from './fastest.js';
export { ORT_NODE_VERSION } from './ort/binding.js';
