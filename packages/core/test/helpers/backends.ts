import type { Backend } from '@backpack-ts/core';

/**
 * Another backend object that runs `base`'s kernels under another name:
 * core must treat it as a different backend. `overrides` replace kernels.
 */
export function wrapBackend(base: Backend, name: string, overrides: Partial<Backend> = {}): Backend {
  return new Proxy(base, {
    get(target, property) {
      if (property === 'name') return name;
      const own = (overrides as Record<PropertyKey, unknown>)[property];
      if (own !== undefined) return own;
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

/** Kernels that return new storage (everything but read-back, dispose and the live count). */
const creatingKernels = [
  'fromData', 'full', 'reshape', 'permute', 'slice', 'concat', 'pad', 'cast',
  'unary', 'binary', 'binaryScalar', 'reduce', 'matmul', 'softmax', 'logSoftmax', 'oneHot',
  'unfold', 'fold', 'argmax',
] as const satisfies readonly Exclude<keyof Backend, 'name' | 'dtypes' | 'read' | 'dispose' | 'liveCount'>[];

/** Handle counts of a {@link countingBackend}. */
export interface HandleCounts {
  created: number;
  disposed: number;
}

/** `base` wrapped so that every created and every disposed handle is counted. */
export function countingBackend(base: Backend, name = 'counting'): { backend: Backend; counts: HandleCounts } {
  const counts: HandleCounts = { created: 0, disposed: 0 };
  const overrides: Record<string, unknown> = {
    dispose(handle: unknown) {
      counts.disposed += 1;
      base.dispose(handle);
    },
  };
  for (const kernel of creatingKernels) {
    const original = (base[kernel] as (...args: unknown[]) => unknown).bind(base);
    overrides[kernel] = (...args: unknown[]) => {
      counts.created += 1;
      return original(...args);
    };
  }
  return { backend: wrapBackend(base, name, overrides as Partial<Backend>), counts };
}
