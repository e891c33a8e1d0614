import { cpu } from '@backpack-ts/backend-cpu';
import type { Backend } from '@backpack-ts/core';
import { OrtBackend } from './ort-backend.js';
import type { OrtBackendOptions } from './ort-backend-options.js';

/** The backend {@link loadFastestBackend} picked, and why faster ones were passed over. */
export interface FastestBackend {
  /** The backend to use. */
  readonly backend: Backend;
  /** Backends tried before this one, with the reason each was not used. */
  readonly skipped: readonly {
    /** The backend's name (`'onnxruntime'`). */
    readonly name: string;
    /** Why it did not load. */
    readonly reason: string;
  }[];
}

/**
 * The fastest backend that loads in this Node process: onnxruntime (after a
 * smoke test: one small matrix product through ORT), else the pure
 * TypeScript `cpu` backend. Never throws.
 */
export function loadFastestBackend(options: OrtBackendOptions = {}): FastestBackend {
  try {
    const backend = new OrtBackend(options);
    smokeTest(options);
    return { backend, skipped: [] };
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    return { backend: cpu, skipped: [{ name: 'onnxruntime', reason }] };
  }
}

/** 2x2 @ 2x2 through an ORT session (forced: the backend would do so small a product in TypeScript). */
function smokeTest(options: OrtBackendOptions): void {
  const probe = new OrtBackend({ ...options, minMatmulMacs: 0, maxSessions: 1 });
  const a = probe.fromData([1, 2, 3, 4], [1, 2, 2], 'float32');
  const product = probe.matmul(a, [1, 2, 2], a, [1, 2, 2], false, false, 'float32');
  const values = Array.from(probe.read(product, [1, 2, 2], 'float32'));
  probe.release();
  if (values.join(',') !== '7,10,15,22' || probe.stats().kernels['matmul:ort'] !== 1) {
    throw new Error(`onnxruntime smoke test: [[1, 2], [3, 4]]² gave [${values.join(', ')}]`);
  }
}
