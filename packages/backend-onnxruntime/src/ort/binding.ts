/**
 * The one file that reaches into onnxruntime-node's internals.
 *
 * Core's kernels are synchronous, but onnxruntime-node's public
 * `InferenceSession.create` / `session.run` return promises (they wrap a
 * synchronous native call in `setImmediate`). The native binding underneath,
 * `onnxruntime-node/dist/binding.js`, exposes the synchronous calls:
 *
 * - `binding.InferenceSession`: `new` it, then `loadModel(arrayBuffer,
 *   byteOffset, byteLength, sessionOptions)`;
 * - `session.run(feeds, fetches, runOptions)`: returns the outputs; a fetch
 *   that is a tensor (rather than `null`) is a preallocated output that ORT
 *   writes into;
 * - `initOrt()`: once per process, before the first session.
 *
 * A tensor passed to the binding is any object with `type`, `dims`, `data`
 * (a typed array of the type) and `location: 'cpu'`; inputs are read in place
 * (no copy). onnxruntime-node 1.30.0 returns every output as a fresh copy
 * (also preallocated ones, into which ORT wrote first).
 *
 * `test/binding.test.ts` fails loudly if a future version moves any of this.
 */
import { createRequire } from 'node:module';

/** The onnxruntime-node version this file was written against (pinned exactly in package.json). */
export const ORT_NODE_VERSION = '1.30.0';

/** A tensor as the binding reads it. */
export interface BindingTensor {
  readonly type: 'float32' | 'float64' | 'int32' | 'int64' | 'bool';
  readonly dims: readonly number[];
  readonly data: Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array;
  readonly location: 'cpu';
}

/** The session options this backend passes (a subset of ORT's `SessionOptions`). */
export interface BindingSessionOptions {
  readonly intraOpNumThreads: number;
  readonly interOpNumThreads?: number;
  readonly graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'all';
  readonly enableCpuMemArena?: boolean;
  readonly executionMode?: 'sequential' | 'parallel';
  /** Session config entries, nested by dots: `{ session: { intra_op: { allow_spinning: '0' } } }`. */
  readonly extra?: Record<string, unknown>;
}

/** A loaded model with a synchronous `run`. */
export interface SyncSession {
  /** Runs the model; `fetches[name]` is a preallocated output or `null` (ORT allocates). */
  run(feeds: Record<string, BindingTensor>, fetches: Record<string, BindingTensor | null>): Record<string, { readonly cpuData?: unknown; readonly data?: unknown; readonly dims: readonly number[] }>;
  dispose(): void;
}

interface NativeSession {
  loadModel(buffer: ArrayBuffer, byteOffset: number, byteLength: number, options: object): void;
  run(feeds: object, fetches: object, options: object): Record<string, { readonly cpuData?: unknown; readonly dims: readonly number[] }>;
  dispose(): void;
}

interface BindingModule {
  binding: { InferenceSession: new () => NativeSession };
  initOrt: () => void;
}

let loaded: { binding: BindingModule['binding']; version: string } | undefined;
let loadError: Error | undefined;

function describe(value: unknown): string {
  return value === undefined ? 'missing' : `a ${typeof value}`;
}

/**
 * Loads onnxruntime-node's native binding (once) and checks that it still has
 * the shape this file relies on. Sets `ORT_DISABLE_TELEMETRY=1` first unless
 * the environment already says otherwise.
 */
export function loadBinding(): { binding: BindingModule['binding']; version: string } {
  if (loaded !== undefined) return loaded;
  if (loadError !== undefined) throw loadError;
  try {
    process.env['ORT_DISABLE_TELEMETRY'] ??= '1';
    const require = createRequire(import.meta.url);
    const version = (require('onnxruntime-node/package.json') as { version: string }).version;
    const module = require('onnxruntime-node/dist/binding.js') as Partial<BindingModule>;
    const problems: string[] = [];
    if (typeof module.initOrt !== 'function') problems.push(`initOrt is ${describe(module.initOrt)}`);
    const ctor = module.binding?.InferenceSession;
    if (typeof ctor !== 'function') problems.push(`binding.InferenceSession is ${describe(ctor)}`);
    else {
      for (const method of ['loadModel', 'run', 'dispose'] as const) {
        if (typeof (ctor.prototype as Record<string, unknown>)[method] !== 'function') {
          problems.push(`binding.InferenceSession.prototype.${method} is ${describe((ctor.prototype as Record<string, unknown>)[method])}`);
        }
      }
    }
    if (problems.length > 0) {
      throw new Error(
        `onnxruntime-node ${version}: its synchronous native binding moved (written for ${ORT_NODE_VERSION}): ${problems.join('; ')}. ` +
          'Update packages/backend-onnxruntime/src/ort/binding.ts.',
      );
    }
    module.initOrt!();
    loaded = { binding: module.binding!, version };
    return loaded;
  } catch (error) {
    loadError = error instanceof Error ? error : new Error(String(error));
    throw loadError;
  }
}

/** Creates a session from a serialised model, synchronously. Throws ORT's message if the model is refused. */
export function createSyncSession(model: Uint8Array, options: BindingSessionOptions): SyncSession {
  const { binding } = loadBinding();
  const native = new binding.InferenceSession();
  native.loadModel(model.buffer as ArrayBuffer, model.byteOffset, model.byteLength, options);
  const runOptions = {};
  return {
    run: (feeds, fetches) => native.run(feeds, fetches, runOptions),
    dispose: () => native.dispose(),
  };
}
