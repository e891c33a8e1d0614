/**
 * Backends by name, loaded by dynamic import so that only the ones used
 * need to be installed (`@backpack-ts/backend-onnxruntime` and
 * `@backpack-ts/backend-tfjs` are optional peer dependencies).
 */
import { BACKENDS, findBackend } from '@backpack-ts/catalog';
import type { Backend } from '@backpack-ts/core';
import { UserError } from './errors.js';

/** Backend names the CLI accepts, with the package that provides each (from `@backpack-ts/catalog`'s `BACKENDS`). */
export const BACKEND_PACKAGES: ReadonlyMap<string, string> = new Map([...BACKENDS].map(([name, entry]) => [name, entry.packageName]));

function isBackend(value: unknown): value is Backend {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as Backend).name === 'string' &&
    typeof (value as Backend).fromData === 'function' &&
    typeof (value as Backend).matmul === 'function'
  );
}

/**
 * Finds the backend a package exports: the catalog's way for a known
 * backend (the full-speed one, never a silent fallback to another
 * backend), an instance, or a class or factory whose name says Backend.
 */
async function backendFrom(name: string, module: Record<string, unknown>): Promise<Backend | undefined> {
  const known: unknown = await findBackend(name)?.fromModule(module);
  if (isBackend(known)) return known;
  const entries = Object.entries(module);
  const instance = entries.find(([, v]) => isBackend(v));
  if (instance !== undefined) return instance[1] as Backend;
  for (const [name, value] of entries) {
    if (typeof value !== 'function') continue;
    if (/^[A-Z]\w*Backend$/.test(name)) {
      const created: unknown = new (value as new () => unknown)();
      if (isBackend(created)) return created;
    } else if (/^(create|load)\w*Backend$/.test(name)) {
      const created: unknown = await (value as () => unknown)();
      if (isBackend(created)) return created;
      const inner = (created as { backend?: unknown } | undefined)?.backend;
      if (isBackend(inner)) return inner;
    }
  }
  return undefined;
}

/**
 * The backend called `name` (`cpu`, `onnxruntime`, `tfjs`), or a UserError
 * saying which package to install. `packages` maps names to packages.
 */
export async function loadBackend(name: string, packages: ReadonlyMap<string, string> = BACKEND_PACKAGES): Promise<Backend> {
  const pkg = packages.get(name);
  if (pkg === undefined) throw new UserError(`unknown backend '${name}'; available: ${[...packages.keys()].join(', ')}`);
  let module: Record<string, unknown>;
  try {
    module = (await import(/* @vite-ignore */ pkg)) as Record<string, unknown>;
  } catch (error) {
    const code = (error as { code?: string }).code;
    const message = (error as Error).message;
    if (code === 'ERR_MODULE_NOT_FOUND' || /Cannot find (package|module)/.test(message)) {
      throw new UserError(`backend '${name}' is not available: the package ${pkg} is not installed (install it next to @backpack-ts/onnx)`);
    }
    throw new UserError(`backend '${name}' (${pkg}) failed to load: ${message}`);
  }
  let backend: Backend | undefined;
  try {
    backend = await backendFrom(name, module);
  } catch (error) {
    throw new UserError(`backend '${name}' (${pkg}) could not be created: ${(error as Error).message}`);
  }
  if (backend === undefined) throw new UserError(`backend '${name}': ${pkg} exports no backend this CLI recognizes`);
  return backend;
}
