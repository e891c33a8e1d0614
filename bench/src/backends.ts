/**
 * The backends the benchmark knows, each loaded by dynamic import so that one
 * that is missing or fails to load is skipped (with the reason) instead of
 * taking the run down.
 *
 * A backend package is looked up by name first (a dependency of this package
 * or hoisted), then as workspace source (`packages/<dir>/src/index.ts`), so a
 * backend being written in the workspace is picked up without editing
 * bench/package.json.
 */
import { BACKENDS, BACKEND_NAMES, type BackendEntry, type BackendName } from '@backpack-ts/catalog';
import type { Backend } from '@backpack-ts/core';
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

export { BACKEND_NAMES, type BackendName };

/** A step compiled by the backend (onnxruntime's `compileStep`): `reason` says why the last run was not replayed. */
export interface CompiledStepLike<R> {
  run(): R;
  readonly reason: string | undefined;
}

/** A loaded backend and what the table says about its threads. */
export interface LoadedBackend {
  readonly backend: Backend;
  /** Threads it really computes with. */
  readonly threads: number;
  /** Shown under the table, e.g. "pure TypeScript, single-threaded: --threads is only recorded". */
  readonly note: string;
  /** Compiles a step into one graph (`--compiled`), where the backend can. */
  readonly compileStep?: <R>(step: () => R) => CompiledStepLike<R>;
}

interface BackendSpec {
  create(module: Record<string, unknown>, threads: number): LoadedBackend | Promise<LoadedBackend>;
}

const SPECS: Readonly<Record<BackendName, BackendSpec>> = {
  cpu: {
    create(module) {
      return {
        backend: expectBackend(module['cpu'], 'export `cpu`'),
        threads: 1,
        note: 'pure TypeScript, single-threaded (--threads is recorded, not used)',
      };
    },
  },
  onnxruntime: {
    create(module, threads) {
      // The constructor loads the native binding and throws if it cannot.
      const OrtBackend = module['OrtBackend'] as (new (options: object) => Backend) | undefined;
      if (typeof OrtBackend !== 'function') throw new Error('the package has no export `OrtBackend`');
      const extra = ortOptionsFromEnvironment();
      const backend = new OrtBackend({ ...extra, intraOpNumThreads: threads });
      const version = (backend as { ortVersion?: unknown }).ortVersion;
      const options = Object.keys(extra).length === 0 ? '' : `, options ${JSON.stringify(extra)} (${ORT_OPTIONS_VARIABLE})`;
      const compile = module['compileStep'] as ((backend: Backend, step: () => unknown) => CompiledStepLike<unknown>) | undefined;
      return {
        backend,
        threads,
        note: `onnxruntime-node${typeof version === 'string' ? ` ${version}` : ''}, ${threads} intra-op thread${threads === 1 ? '' : 's'}${options}`,
        ...(typeof compile === 'function' && { compileStep: <R>(step: () => R) => compile(backend, step) as CompiledStepLike<R> }),
      };
    },
  },
  tfjs: {
    async create(module, threads) {
      // loadTfjsBackend() starts the fastest engine (tfjs-node, else wasm, else
      // tfjs's JS kernels) and says in `name` which one runs, e.g. "tfjs (wasm)".
      const load = module['loadTfjsBackend'];
      if (typeof load === 'function') {
        const backend = expectBackend(await (load as () => Promise<unknown>)(), 'result of `loadTfjsBackend()`');
        const skipped = (backend as { skipped?: readonly { engine: string; reason: string }[] }).skipped ?? [];
        const passedOver = skipped.length === 0 ? '' : `; not used: ${skipped.map((s) => `${s.engine} (${shorten(s.reason, 70)})`).join(', ')}`;
        return { backend, threads, note: `${backend.name}, threads as the engine decides${passedOver}` };
      }
      // Other export shapes: a loader function, a backend class, or a ready instance.
      for (const key of ['loadBackend', 'loadFastestBackend', 'createBackend']) {
        const load = module[key];
        if (typeof load === 'function') {
          const loaded = (await (load as (options: object) => unknown)({ threads })) as { backend?: unknown } | undefined;
          const backend = expectBackend(loaded?.backend ?? loaded, `result of \`${key}()\``);
          return { backend, threads, note: `tfjs (${key}), threads as the package decides` };
        }
      }
      for (const [key, value] of Object.entries(module)) {
        if (typeof value === 'function' && /Backend$/.test(key)) {
          const backend = expectBackend(new (value as new (options: object) => unknown)({ threads }), `new ${key}()`);
          return { backend, threads, note: `tfjs (${key}), threads as the package decides` };
        }
      }
      for (const [key, value] of Object.entries(module)) {
        if (isBackend(value)) return { backend: value, threads, note: `tfjs (export \`${key}\`)` };
      }
      throw new Error(`no backend among the exports (${Object.keys(module).join(', ')})`);
    },
  },
};

/** Environment variable with more `OrtBackendOptions` as JSON, e.g. `{"convolutions":false}`, to compare a setting with the default. */
export const ORT_OPTIONS_VARIABLE = 'BACKPACK_BENCH_ORT_OPTIONS';

function ortOptionsFromEnvironment(): Record<string, unknown> {
  const text = process.env[ORT_OPTIONS_VARIABLE];
  if (text === undefined || text.trim() === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new Error(`${ORT_OPTIONS_VARIABLE} is not JSON: ${describeError(error)}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error(`${ORT_OPTIONS_VARIABLE} must be a JSON object of OrtBackend options, got ${text}`);
  return parsed as Record<string, unknown>;
}

/** Loads a backend, or throws an error saying why it cannot be used here. */
export async function loadBackend(name: BackendName, threads: number): Promise<LoadedBackend> {
  const spec = SPECS[name];
  const module = await importBackendModule(BACKENDS.get(name)!);
  const loaded = await spec.create(module, threads);
  smokeTest(loaded.backend);
  return loaded;
}

async function importBackendModule(spec: BackendEntry): Promise<Record<string, unknown>> {
  try {
    return (await import(spec.packageName)) as Record<string, unknown>;
  } catch (error) {
    if (!isNotFound(error, spec.packageName)) throw error;
  }
  const source = fileURLToPath(new URL(`../../packages/${spec.workspaceDir}/src/index.ts`, import.meta.url));
  if (!existsSync(source)) throw new Error(`${spec.packageName} is not installed and not in the workspace`);
  return (await import(pathToFileURL(source).href)) as Record<string, unknown>;
}

function isNotFound(error: unknown, packageName: string): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && String((error as Error).message).includes(packageName);
}

function isBackend(value: unknown): value is Backend {
  const candidate = value as { name?: unknown; fromData?: unknown; read?: unknown } | null;
  return typeof value === 'object' && candidate !== null && typeof candidate.name === 'string' && typeof candidate.fromData === 'function';
}

function expectBackend(value: unknown, what: string): Backend {
  if (!isBackend(value)) throw new Error(`${what} is not a backpack-ts backend`);
  return value;
}

/** `[1, 2] · [3, 4]ᵀ` must be 11: a backend that loads but cannot compute is not benchmarked. */
function smokeTest(backend: Backend): void {
  const dtype = backend.dtypes.includes('float32') ? 'float32' : 'float64';
  const a = backend.fromData([1, 2], [1, 1, 2], dtype);
  const b = backend.fromData([3, 4], [1, 1, 2], dtype);
  const product = backend.matmul(a, [1, 1, 2], b, [1, 1, 2], false, true, dtype);
  const value = backend.read(product, [1, 1, 1], dtype)[0];
  for (const handle of [a, b, product]) backend.dispose(handle);
  if (value !== 11) throw new Error(`smoke test: [1, 2]·[3, 4] gave ${String(value)}`);
}

function shorten(text: string, length: number): string {
  const line = text.split('\n')[0]!.trim();
  return line.length <= length ? line : `${line.slice(0, length - 1)}…`;
}

/** The error message of a failed load, on one line. */
export function describeError(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split('\n')[0]!.trim();
}
