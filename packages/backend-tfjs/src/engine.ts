/**
 * Choosing and starting the TensorFlow.js engine (tfjs calls it a "backend";
 * here "backend" is the backpack-ts backend and "engine" the tfjs one under it).
 *
 * In order: `tensorflow` (native TensorFlow through the optional peer
 * `@tensorflow/tfjs-node`), `wasm` (`@tensorflow/tfjs-backend-wasm`, SIMD),
 * `cpu` (tfjs's JavaScript kernels). The first that starts wins; the others
 * are recorded with the reason they were passed over.
 *
 * Two ways to start: {@link startEngine} (async, tfjs's own path; works in
 * browsers too) and {@link startEngineSync} (Node only): the wasm engine
 * normally starts asynchronously (it compiles the WebAssembly module), but
 * Node may compile and instantiate a module of any size synchronously, so
 * here the backend instantiates `@tensorflow/tfjs-backend-wasm`'s own
 * Emscripten module and `.wasm` file itself and registers the engine with a
 * synchronous factory. Nothing is downloaded on either path.
 */
import * as tf from '@tensorflow/tfjs';

/** The tfjs engines this package can start, fastest first. */
export type TfjsEngine = 'tensorflow' | 'wasm' | 'cpu';

/** The default order of {@link LoadTfjsOptions.engines}. */
export const ENGINE_ORDER: readonly TfjsEngine[] = ['tensorflow', 'wasm', 'cpu'];

/** Options of `loadTfjsBackend` and `loadTfjsBackendSync`: which engines to try and where wasm finds its files. */
export interface LoadTfjsOptions {
  /** Engines to try, in order. Default `['tensorflow', 'wasm', 'cpu']`. */
  readonly engines?: readonly TfjsEngine[];
  /**
   * Where the wasm engine finds its `.wasm` files (async start only): a
   * directory path or URL ending in `/`, or a map from file name to path
   * (tfjs's `setWasmPaths`). Default in Node: the installed
   * `@tensorflow/tfjs-backend-wasm/dist/`. In browsers, serve the package's
   * `dist/*.wasm` files and pass their location.
   */
  readonly wasmPaths?: string | Readonly<Record<string, string>>;
}

/** An engine that was tried and not used, and why. */
export interface SkippedEngine {
  /** The engine. */
  readonly engine: TfjsEngine;
  /** Why it did not start (the error's message). */
  readonly reason: string;
}

/** Result of {@link startEngine}. */
export interface StartedEngine {
  readonly engine: TfjsEngine;
  readonly skipped: readonly SkippedEngine[];
}

const isNode = typeof process !== 'undefined' && typeof process.versions?.node === 'string';

function message(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  // tfjs-node's "addon not found" message runs over several lines; the first says it all.
  return text.split('\n')[0]!.trim();
}

/** Node's built-in modules, synchronously (`process.getBuiltinModule`, Node >= 20.16). */
function builtin<T>(name: string): T {
  const get = isNode ? (process as { getBuiltinModule?: (id: string) => unknown }).getBuiltinModule : undefined;
  if (get === undefined) throw new Error('needs Node.js >= 20.16 (process.getBuiltinModule)');
  return get(name) as T;
}

/** Node's `require`, relative to this file (tfjs-node and the wasm files are resolved from here). */
function nodeRequire(): NodeJS.Require {
  if (!isNode) throw new Error('runs in Node.js only');
  return builtin<typeof import('node:module')>('node:module').createRequire(import.meta.url);
}

/** tfjs's engine internals this file reads: which engines are initialised. */
function initialised(name: string): boolean {
  return (tf.engine() as unknown as { registry: Record<string, unknown> }).registry[name] != null;
}

/** Makes an initialised engine (or one with a synchronous factory) active, synchronously. */
function activate(name: string): void {
  // setBackend is async, but runs to completion synchronously when the engine needs no async start.
  void tf.setBackend(name);
  if (tf.getBackend() !== name || !initialised(name)) throw new Error(`tf.setBackend("${name}") did not start it`);
}

/**
 * Loads `@tensorflow/tfjs-node` (synchronous). Its failures (package absent,
 * native addon not built because its installer could not download
 * libtensorflow, ABI mismatch) carry no error code, so any error means "not
 * available". A failed load is not retried: tfjs-node registers its kernels
 * before it looks for the addon, and a second try would register them twice.
 */
let tensorflowFailure: Error | undefined;
function loadTensorflow(): void {
  if (tensorflowFailure !== undefined) throw tensorflowFailure;
  if (tf.engine().backendNames().includes('tensorflow')) return;
  try {
    nodeRequire()('@tensorflow/tfjs-node');
    // A tfjs-node built against another copy of tfjs-core registers its engine there, not here.
    if (!tf.engine().backendNames().includes('tensorflow')) {
      throw new Error('@tensorflow/tfjs-node loaded another copy of @tensorflow/tfjs-core: pin every @tensorflow/* package to 4.22.0');
    }
  } catch (error) {
    tensorflowFailure = new Error(`@tensorflow/tfjs-node: ${message(error)}`);
    throw tensorflowFailure;
  }
}

async function startTensorflow(): Promise<void> {
  loadTensorflow();
  if (!(await tf.setBackend('tensorflow'))) throw new Error('tf.setBackend("tensorflow") failed');
}

function startTensorflowSync(): void {
  loadTensorflow();
  activate('tensorflow');
}

function defaultWasmDir(): string {
  const require = nodeRequire();
  // The package's `main` is dist/tf-backend-wasm.node.js; the .wasm files sit beside it.
  const path = builtin<typeof import('node:path')>('node:path');
  return path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm')) + path.sep;
}

async function startWasm(options: LoadTfjsOptions): Promise<void> {
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  if (!initialised('wasm')) {
    const paths = options.wasmPaths ?? (isNode ? defaultWasmDir() : undefined);
    if (typeof paths === 'string') wasm.setWasmPaths(paths);
    else if (paths !== undefined) wasm.setWasmPaths({ ...paths });
  }
  if (!(await tf.setBackend('wasm'))) throw new Error('tf.setBackend("wasm") failed');
}

/** The parts of an Emscripten module of tfjs-backend-wasm that BackendWasm uses. */
interface EmscriptenModule {
  calledRun?: boolean;
  cwrap(name: string, returnType: string | null, argTypes: string[]): unknown;
  tfjs?: Record<string, unknown>;
}

type WasmFactory = (config: Record<string, unknown>) => unknown;

/** The WebAssembly API this file uses (the repository's `lib` setting declares no DOM/WebAssembly types). */
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: object };
}
const WebAssemblyApi = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

/**
 * Starts the wasm engine synchronously (Node): compiles the SIMD binary (or
 * the plain one where SIMD is missing) with `new WebAssembly.Module`, hands
 * the instance to tfjs-backend-wasm's Emscripten factory through its
 * `instantiateWasm` hook (so the runtime starts before the factory returns),
 * wraps the same C entry points as the package's own `init()` and registers
 * the engine under `wasm` with a synchronous factory. All kernels of the
 * package are registered by importing it, as usual.
 */
function startWasmSync(): void {
  const require = nodeRequire();
  const wasmPackage = require('@tensorflow/tfjs-backend-wasm') as typeof import('@tensorflow/tfjs-backend-wasm');
  if (!initialised('wasm')) {
    const path = builtin<typeof import('node:path')>('node:path');
    const fs = builtin<typeof import('node:fs')>('node:fs');
    const dist = defaultWasmDir();
    let compiled: object | undefined;
    let lastError: unknown;
    for (const file of ['tfjs-backend-wasm-simd.wasm', 'tfjs-backend-wasm.wasm']) {
      try {
        compiled = new WebAssemblyApi.Module(fs.readFileSync(path.join(dist, file)));
        break;
      } catch (error) {
        lastError = error;
      }
    }
    if (compiled === undefined) throw new Error(`cannot compile the wasm engine: ${message(lastError)}`);
    const module = compiled;
    // One Emscripten loader serves the plain and the SIMD binary (as in the package's init()).
    const factory = require(path.join(dist, '..', 'wasm-out', 'tfjs-backend-wasm.js')) as WasmFactory;
    const settings: Record<string, unknown> = {
      instantiateWasm(imports: object, receive: (instance: { exports: object }, module: object) => void) {
        const instance = new WebAssemblyApi.Instance(module, imports);
        receive(instance, module);
        return instance.exports;
      },
    };
    // Emscripten fills in the object it is given (and resolves its promise to it).
    void Promise.resolve(factory(settings)).catch(() => undefined);
    const config = settings as unknown as EmscriptenModule;
    if (config.calledRun !== true) throw new Error('the wasm runtime did not start synchronously');
    config.tfjs = {
      init: config.cwrap('init', null, []),
      initWithThreadsCount: config.cwrap('init_with_threads_count', null, ['number']),
      getThreadsCount: config.cwrap('get_threads_count', 'number', []),
      registerTensor: config.cwrap('register_tensor', null, ['number', 'number', 'number']),
      disposeData: config.cwrap('dispose_data', null, ['number']),
      dispose: config.cwrap('dispose', null, []),
    };
    const Backend = wasmPackage.BackendWasm as unknown as new (wasm: unknown) => tf.KernelBackend;
    const priority = 2; // the package's own
    tf.removeBackend('wasm');
    tf.registerBackend('wasm', () => new Backend(config), priority);
  }
  activate('wasm');
}

function silenceCpuBanner(): void {
  // Chosen on purpose (the reasons are in `skipped`): silence tfjs's "install tfjs-node" banner.
  const instance = tf.backend() as { firstUse?: boolean };
  if (typeof instance.firstUse === 'boolean') instance.firstUse = false;
}

function fail(skipped: readonly SkippedEngine[]): Error {
  return new Error(`backend-tfjs: no TensorFlow.js engine started: ${skipped.map((s) => `${s.engine}: ${s.reason}`).join('; ')}`);
}

function checkEngines(options: LoadTfjsOptions): readonly TfjsEngine[] {
  const engines = options.engines ?? ENGINE_ORDER;
  if (engines.length === 0) throw new Error('backend-tfjs: no engine to try (options.engines is empty)');
  for (const engine of engines) {
    if (!ENGINE_ORDER.includes(engine)) throw new Error(`backend-tfjs: unknown engine '${String(engine)}' (known: ${ENGINE_ORDER.join(', ')})`);
  }
  return engines;
}

/**
 * Starts the first engine of `options.engines` that works and makes it tfjs's
 * active engine. Throws only when none starts, listing every reason.
 */
export async function startEngine(options: LoadTfjsOptions = {}): Promise<StartedEngine> {
  const skipped: SkippedEngine[] = [];
  for (const engine of checkEngines(options)) {
    try {
      if (engine === 'tensorflow') await startTensorflow();
      else if (engine === 'wasm') await startWasm(options);
      else {
        if (!(await tf.setBackend('cpu'))) throw new Error('tf.setBackend("cpu") failed');
        silenceCpuBanner();
      }
      return { engine, skipped };
    } catch (error) {
      skipped.push({ engine, reason: message(error) });
    }
  }
  throw fail(skipped);
}

/** {@link startEngine} without waiting: Node only for `tensorflow` and `wasm` (`cpu` starts anywhere). */
export function startEngineSync(options: LoadTfjsOptions = {}): StartedEngine {
  const skipped: SkippedEngine[] = [];
  for (const engine of checkEngines(options)) {
    try {
      if (engine === 'tensorflow') startTensorflowSync();
      else if (engine === 'wasm') startWasmSync();
      else {
        activate('cpu');
        silenceCpuBanner();
      }
      return { engine, skipped };
    } catch (error) {
      skipped.push({ engine, reason: message(error) });
    }
  }
  throw fail(skipped);
}
