import { cpu } from '@backpack-ts/backend-cpu';
import type { Backend } from '@backpack-ts/core';

/** Backend members that create no storage. */
const NOT_CREATING: ReadonlySet<PropertyKey> = new Set(['name', 'dtypes', 'read', 'dispose', 'liveCount']);

/**
 * backend-cpu under another name, counting the handles its kernels create
 * and those disposed: `live()` is their difference, for leak tests
 * (backend-cpu's storage is garbage-collected and keeps no such count).
 */
export function countingCpu(): { backend: Backend; live: () => number } {
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
