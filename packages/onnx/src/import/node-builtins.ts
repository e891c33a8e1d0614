/**
 * Node's built-in modules without a static import: the importer also runs in
 * browsers, where it takes the model's bytes and reads no files.
 */

interface Builtins {
  'node:fs': typeof import('node:fs');
  'node:path': typeof import('node:path');
  'node:os': typeof import('node:os');
}

/** The built-in module `id`, or undefined where there is none (a browser). */
export function nodeBuiltin<K extends keyof Builtins>(id: K): Builtins[K] | undefined {
  const process = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  return process?.getBuiltinModule?.(id) as Builtins[K] | undefined;
}
