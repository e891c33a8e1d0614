/**
 * Backends by name, loaded by dynamic import so that only the ones used
 * need to be installed (`@backpack-ts/backend-onnxruntime` and
 * `@backpack-ts/backend-tfjs` are optional peer dependencies).
 */
import type { Backend } from '@backpack-ts/core';
import { UserError } from './errors.js';

/** Backend names the CLI accepts, with the package that provides each. */
export const BACKEND_PACKAGES: Readonly<Record<string, string>> = {
  cpu: '@backpack-ts/backend-cpu',
  onnxruntime: '@backpack-ts/backend-onnxruntime',
  tfjs: '@backpack-ts/backend-tfjs',
};

function isBackend(value: unknown): value is Backend {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as Backend).name === 'string' &&
    typeof (value as Backend).fromData === 'function' &&
    typeof (value as Backend).matmul === 'function'
  );
}

/** How each known package creates its backend (the full-speed one, never a silent fallback to another backend). */
const KNOWN_FACTORIES: Readonly<Record<string, (module: Record<string, unknown>) => unknown>> = {
  cpu: (m) => m['cpu'],
  onnxruntime: (m) => (typeof m['OrtBackend'] === 'function' ? new (m['OrtBackend'] as new () => unknown)() : undefined),
  tfjs: (m) => (typeof m['loadTfjsBackend'] === 'function' ? (m['loadTfjsBackend'] as () => unknown)() : undefined),
};

/** Finds the backend a package exports: the known factory, an instance, or a class or factory whose name says Backend. */
async function backendFrom(name: string, module: Record<string, unknown>): Promise<Backend | undefined> {
  const known: unknown = await KNOWN_FACTORIES[name]?.(module);
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
export async function loadBackend(name: string, packages: Readonly<Record<string, string>> = BACKEND_PACKAGES): Promise<Backend> {
  const pkg = packages[name];
  if (pkg === undefined) throw new UserError(`unknown backend '${name}'; available: ${Object.keys(packages).join(', ')}`);
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
