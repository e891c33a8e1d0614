/**
 * `@backpack-ts/backend-cpu`: a pure TypeScript backend for backpack-ts.
 * Pass {@link cpu} (or your own {@link CpuBackend}) to core.
 */
import { CpuBackend } from './cpu-backend.js';

export { CpuBackend } from './cpu-backend.js';
export type { CpuHandle } from './storage.js';

/** A ready-to-use backend instance. */
export const cpu = new CpuBackend();
