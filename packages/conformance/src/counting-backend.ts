import { cpu } from '@backpack-ts/backend-cpu';
import type { Backend } from '@backpack-ts/core';

/** Backend members that create no storage. */
const NOT_CREATING: ReadonlySet<PropertyKey> = new Set(['name', 'dtypes', 'read', 'dispose', 'liveCount']);

/** What {@link countingCpu} returns. */
export interface CountingBackend {
  /** backend-cpu under the name `'counting-cpu'`, counting handles. */
  readonly backend: Backend;
  /** Handles created minus handles disposed so far. */
  live(): number;
}

/**
 * backend-cpu under another name (`'counting-cpu'`), counting the handles its
 * kernels create and those disposed: `live()` is their difference, for leak
 * tests (backend-cpu's storage is garbage-collected and keeps no such count).
 * Tensors made on it mix only with tensors on the same returned backend.
 *
 * ```ts
 * const { backend, live } = countingCpu();
 * const before = live();
 * operator.matmat(x).dispose();
 * expect(live()).toBe(before);
 * ```
 */
export function countingCpu(): CountingBackend {
  let live = 0;
  const backend = new Proxy(cpu as Backend, {
    get(target, property) {
      if (property === 'name') return 'counting-cpu';
      const value: unknown = Reflect.get(target, property, target);
      if (typeof value !== 'function') return value;
      const kernel = value as (...args: unknown[]) => unknown;
      if (property === 'dispose') {
        return (handle: unknown) => {
          live -= 1;
          kernel.call(target, handle);
        };
      }
      if (NOT_CREATING.has(property)) return kernel.bind(target);
      return (...args: unknown[]) => {
        const result = kernel.apply(target, args);
        // An optional kernel may decline (undefined) and leave the work to core.
        if (result !== undefined) live += 1;
        return result;
      };
    },
  });
  return { backend, live: () => live };
}
