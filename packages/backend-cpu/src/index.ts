/**
 * `@backpack-ts/backend-cpu`: a pure TypeScript backend for backpack-ts.
 * Pass {@link cpu} (or your own {@link CpuBackend}) to core; extend
 * {@link CpuFallbackBackend} to write a backend that runs on backend-cpu
 * every kernel it does not do itself.
 *
 * @module \@backpack-ts/backend-cpu
 */
import { CpuBackend } from './cpu-backend.js';

export { CpuBackend } from './cpu-backend.js';
export { CpuFallbackBackend, type CpuKernel } from './cpu-fallback-backend.js';
export type { CpuHandle } from './storage.js';

/** A ready-to-use backend instance. */
export const cpu = new CpuBackend();
