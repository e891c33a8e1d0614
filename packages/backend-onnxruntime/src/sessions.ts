/**
 * ONNX Runtime sessions, one per kernel variant (op, dtype, rank,
 * attributes), created on first use and cached. Models have symbolic
 * dimensions, so a session serves every shape of its rank.
 */
import type { DataArray, DType } from '@backpack-ts/core';
import { createSyncSession, type BindingSessionOptions, type BindingTensor, type SyncSession } from './ort/binding.js';
import { encodeModel, type GraphSpec } from './onnx/proto.js';

/** An output to fetch: its name in the graph, and what it must hold. */
export interface OutputSpec {
  readonly name: string;
  readonly dtype: DType;
  readonly length: number;
}

/** A tensor fed to or fetched from a session. */
export interface Feed {
  readonly data: DataArray;
  readonly dims: readonly number[];
}

/** The graphs' input names, in the order of the feeds (see `onnx/graphs.ts`). */
const INPUT_NAMES = ['a', 'b', 'c'];

const TYPED_ARRAYS = { float32: Float32Array, float64: Float64Array, int32: Int32Array } as const;

function describeOutput(data: unknown): string {
  if (data === undefined || data === null) return 'no output';
  const { length } = data as { length?: unknown };
  return `a ${(data as object).constructor.name}${typeof length === 'number' ? ` of ${length} elements` : ''}`;
}

function bindingTensor(feed: Feed): BindingTensor {
  const type = feed.data instanceof Float32Array ? 'float32' : feed.data instanceof Float64Array ? 'float64' : 'int32';
  return { type, dims: feed.dims, data: feed.data, location: 'cpu' };
}

/** The ORT session cache of an {@link OrtBackend}: one session per kernel variant (operator, dtype, rank). */
export interface SessionCacheStats {
  /** Sessions alive now. */
  readonly sessions: number;
  /** Sessions created so far (an eviction and re-creation counts twice). */
  readonly created: number;
  /** Kernel variants ORT refused (e.g. a float64 kernel it lacks), with its message; these run in TypeScript. */
  readonly unsupported: ReadonlyMap<string, string>;
}

/**
 * Sessions by key, least recently used evicted beyond `maxSessions` (each
 * session owns a thread pool). A variant ORT refuses is remembered, so the
 * backend falls back to TypeScript without trying again.
 */
export class SessionCache {
  private readonly sessions = new Map<string, SyncSession>();
  private readonly refused = new Map<string, string>();
  private created = 0;

  constructor(
    private readonly options: BindingSessionOptions,
    private readonly maxSessions: number,
  ) {}

  /** The session for `key` (built from `graph()` on first use), or undefined if ORT refused it. */
  get(key: string, graph: () => GraphSpec): SyncSession | undefined {
    const cached = this.sessions.get(key);
    if (cached !== undefined) {
      // Move to the back: Map iteration order is the LRU order.
      this.sessions.delete(key);
      this.sessions.set(key, cached);
      return cached;
    }
    if (this.refused.has(key)) return undefined;
    let session: SyncSession;
    try {
      session = createSyncSession(encodeModel(graph()), this.options);
    } catch (error) {
      this.refused.set(key, error instanceof Error ? error.message : String(error));
      return undefined;
    }
    this.created += 1;
    this.sessions.set(key, session);
    if (this.sessions.size > this.maxSessions) {
      const [oldestKey, oldest] = this.sessions.entries().next().value as [string, SyncSession];
      this.sessions.delete(oldestKey);
      oldest.dispose();
    }
    return session;
  }

  /** A session for `graph` with this cache's options, not cached (the caller disposes it); throws ORT's message if refused. */
  build(graph: GraphSpec): SyncSession {
    return createSyncSession(encodeModel(graph), this.options);
  }

  /** Whether `key` is known to be refused (without trying). */
  isRefused(key: string): boolean {
    return this.refused.has(key);
  }

  /**
   * Runs `session` with inputs `a` (and `b`, `c`) and returns output `y` in the
   * buffer ORT allocated for it. Not preallocated on purpose: the binding
   * returns a fresh copy of a preallocated output anyway, so a preallocated
   * output is written twice (measured: an Add of 2^20 float32 took 3.6 ms
   * with a preallocated output, 1.8 ms without).
   */
  run(session: SyncSession, inputs: readonly Feed[], dtype: DType, outLength: number): DataArray {
    return this.runOutputs(session, inputs, [{ name: 'y', dtype, length: outLength }])[0]!;
  }

  /** {@link run} for a graph with several outputs: each as ORT allocated it, checked against its dtype and length. */
  runOutputs(session: SyncSession, inputs: readonly Feed[], outputs: readonly OutputSpec[]): DataArray[] {
    return runNamed(session, new Map(inputs.map((input, i) => [INPUT_NAMES[i]!, input])), outputs);
  }

  stats(): SessionCacheStats {
    return { sessions: this.sessions.size, created: this.created, unsupported: new Map(this.refused) };
  }

  /** Releases every session (and its thread pool). */
  dispose(): void {
    for (const session of this.sessions.values()) session.dispose();
    this.sessions.clear();
  }
}

/** Runs `session` on inputs by name; returns each output as ORT allocated it, checked against its dtype and length. */
export function runNamed(session: SyncSession, inputs: ReadonlyMap<string, Feed>, outputs: readonly OutputSpec[]): DataArray[] {
  const feeds = Object.fromEntries([...inputs].map(([name, input]) => [name, bindingTensor(input)]));
  const fetches = Object.fromEntries(outputs.map(({ name }) => [name, null]));
  const results = session.run(feeds, fetches);
  return outputs.map(({ name, dtype, length }) => {
    const data = results[name]?.cpuData ?? results[name]?.data;
    if (!(data instanceof TYPED_ARRAYS[dtype]) || data.length !== length) {
      throw new Error(`onnxruntime: the kernel returned ${describeOutput(data)} for '${name}' where ${length} ${dtype} numbers were expected`);
    }
    return data;
  });
}
