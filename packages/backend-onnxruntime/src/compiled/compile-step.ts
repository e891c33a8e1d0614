/**
 * Compiled steps: a step function (forward, loss, `backpack(...)`) traced
 * once into one ONNX graph and then replayed with one ORT `run()` per call.
 *
 * Every run calls the step function: the first one eagerly, recording each
 * kernel call (`trace`); later ones with the kernels intercepted
 * (`replay`): each call is matched against the recorded one at the same
 * position and answered with a placeholder handle, `fromData` (inputs made
 * in JavaScript, such as Monte-Carlo draws from a seeded generator) runs for
 * real and becomes a graph input, and when the function returns, the graph
 * runs once and fills the placeholders still alive (the loss, `.grad`,
 * every quantity). So JavaScript behaves as in eager mode (random draws,
 * checks that read inputs, parameters replaced between steps) and only the
 * kernels are batched. A call that differs from every recorded sequence
 * (another batch size, extension set or model) computes what was replayed so
 * far eagerly and records the rest: the new sequence is compiled too.
 */
import { tidy, type DataArray } from '@backpack-ts/core';
import type { OrtBackend } from '../ort-backend.js';
import type { SyncSession } from '../ort/binding.js';
import { runNamed, type Feed } from '../sessions.js';
import { OrtHandle } from '../storage.js';
import { stepGraph, type StepGraph } from './graph.js';
import { KERNEL_NAMES, KERNELS, type Operand, type Result } from './kernels.js';
import { RefArg, sameArg, type Call, type Ref, type Trace, type ValueInfo } from './trace.js';

/** Options of {@link compileStep}. */
export interface CompileStepOptions {
  /** Compiled graphs kept (different batch sizes, extension sets, ...), least recently used dropped. Default 4. */
  readonly maxGraphs?: number;
}

/** Counts of a compiled step's runs. */
export interface CompiledStepStats {
  /** Runs replayed as one graph. */
  readonly replayed: number;
  /** Runs that ran eagerly (traced, or where no graph could be built). */
  readonly eager: number;
  /** Graphs built. */
  readonly compiled: number;
}

/** A step function with its compiled graphs (see {@link compileStep}). */
export interface CompiledStep<A extends unknown[], R> {
  /**
   * Runs the step: the function, its kernels replayed as one graph when a
   * recorded sequence fits. Returns what the function returns; as in
   * `tidy`, every tensor the function makes and neither returns nor keeps
   * (`.grad` and the extensions' quantities are kept) is disposed.
   */
  run(...args: A): R;
  /**
   * Why the last run was not replayed (`undefined` when it was): the first
   * run of a sequence of kernels (traced, compiled for the next), or why
   * the step cannot be compiled (then every run is eager).
   */
  readonly reason: string | undefined;
  /** How many runs were replayed, ran eagerly, and how many graphs were compiled so far. */
  readonly stats: CompiledStepStats;
  /** Releases the compiled graphs' sessions. The step stays usable (it traces again). */
  dispose(): void;
}

interface Compiled {
  readonly trace: Trace;
  readonly graph: StepGraph;
  readonly session: SyncSession;
}

const FIRST_RUN = 'the first run of this sequence of kernels ran eagerly and was traced; the next runs replay its graph';

/**
 * Compiles `fn` for `backend`: the kernels of each run are replayed as one
 * ONNX graph, which ORT optimises and plans as a whole, in place of one
 * native call (and one fresh output array) per kernel. A graph is kept per
 * sequence of kernel calls, which is fixed by the model, the shapes, the
 * dtypes and the extensions, and is rebuilt when any of them changes.
 *
 * ```ts
 * const step = compileStep(backend, (x: Tensor, y: Tensor) => {
 *   const loss = lossFunction.forward(model.forward(x), y);
 *   backpack([new BatchGrad(), new KFAC({ seed: 0 })], () => loss.backward());
 *   return loss;
 * });
 * for (const [x, y] of batches) {
 *   model.zeroGrad();
 *   tidy(() => step.run(x, y).item()); // .grad and the quantities are on the parameters
 * }
 * ```
 *
 * Results equal the eager ones to rounding (the graph runs every kernel on
 * ORT, where eager mode runs small ones in TypeScript). Limits: a step that
 * reads a value it computed before it ends (`loss.item()` inside `fn`,
 * BatchNorm's running average in training mode) runs eagerly, as does one
 * with a kernel the graph does not express (int32 arithmetic beyond
 * comparisons and sums); `reason` says which. Random draws are made in
 * JavaScript on every run, exactly as in eager mode, and fed to the graph.
 */
export function compileStep<A extends unknown[], R>(backend: OrtBackend, fn: (...args: A) => R, options: CompileStepOptions = {}): CompiledStep<A, R> {
  const maxGraphs = options.maxGraphs ?? 4;
  if (!Number.isInteger(maxGraphs) || maxGraphs < 1) throw new RangeError(`compileStep: maxGraphs must be a positive integer, got ${maxGraphs}`);
  let compiled: Compiled[] = [];
  let eagerOnly: string | undefined;
  let reason: string | undefined;
  const stats = { replayed: 0, eager: 0, compiled: 0 };

  return {
    run(...args: A): R {
      // As `tidy`: what the step makes and neither returns nor keeps is disposed, so the graph outputs only what survives.
      const body = () => tidy(() => fn(...args));
      if (eagerOnly !== undefined) {
        stats.eager += 1;
        return body();
      }
      const run = new StepRun(backend, compiled);
      const result = run.execute(body);
      if (run.replayed !== undefined) {
        stats.replayed += 1;
        reason = undefined;
        compiled = [run.replayed, ...compiled.filter((c) => c !== run.replayed)];
        return result;
      }
      stats.eager += 1;
      const outcome = run.compile();
      if (typeof outcome === 'string') {
        eagerOnly = outcome;
        reason = outcome;
      } else {
        stats.compiled += 1;
        reason = FIRST_RUN;
        compiled = [outcome, ...compiled];
        for (const dropped of compiled.splice(maxGraphs)) dropped.session.dispose();
      }
      return result;
    },
    get reason() {
      return reason;
    },
    get stats() {
      return { ...stats };
    },
    dispose() {
      for (const c of compiled) c.session.dispose();
      compiled = [];
    },
  };
}

/** The handles a kernel returned, in the order of its results. */
function resultHandles(kernel: string, result: unknown): OrtHandle[] {
  if (result === undefined || kernel === 'read' || kernel === 'dispose') return [];
  if (kernel === 'maxPool') {
    const { values, argmax } = result as { values: OrtHandle; argmax: OrtHandle };
    return [values, argmax];
  }
  return [result as OrtHandle];
}

/** One run of a step: traced, or replayed against the compiled candidates until a call differs. */
class StepRun {
  /** The graph this run replayed, if it did. */
  replayed: Compiled | undefined;

  private mode: 'trace' | 'replay';
  private candidates: Compiled[];
  /** Calls so far: recorded (trace) or matched (replay: those of the candidates). */
  private position = 0;
  private readonly calls: Call[] = [];
  private readonly values = new Map<number, ValueInfo>();
  private readonly externals = new Map<number, Result>();
  private readonly ids = new WeakMap<OrtHandle, number>();
  private readonly slots = new WeakMap<OrtHandle, number>();
  private readonly externalHandles: OrtHandle[] = [];
  /** The handle of each value made in this run: real, or a placeholder (replay). */
  private readonly handles = new Map<number, OrtHandle>();
  private readonly live = new Set<number>();
  /** Disposals postponed in a replay: handles whose data the graph reads when it runs. */
  private readonly deferred: OrtHandle[] = [];
  private uncompilable: string | undefined;

  constructor(
    private readonly backend: OrtBackend,
    compiled: readonly Compiled[],
  ) {
    this.candidates = [...compiled];
    this.mode = compiled.length > 0 ? 'replay' : 'trace';
  }

  /** Runs `body` with the backend's kernels intercepted; in a replay, runs the graph at the end. */
  execute<R>(body: () => R): R {
    const restore = this.backend.intercept(KERNEL_NAMES, (kernel, args, eager) => this.call(kernel, args, eager));
    let result: R;
    try {
      result = body();
    } catch (error) {
      restore();
      // Everything before the throw is computed, as in eager mode.
      if (this.mode === 'replay') this.materialize();
      throw error;
    }
    restore();
    if (this.mode === 'replay') {
      const complete = this.candidates.find((c) => c.trace.calls.length === this.position);
      if (complete === undefined) this.materialize();
      else this.runGraph(complete);
    }
    return result;
  }

  /** The graph of the traced run, or why there is none. */
  compile(): Compiled | string {
    if (this.uncompilable !== undefined) return this.uncompilable;
    const trace: Trace = { calls: this.calls, values: this.values, externals: this.externals, live: [...this.live] };
    const built = stepGraph(trace);
    if ('reason' in built) return built.reason;
    try {
      return { trace, graph: built, session: this.backend.buildSession(built.graph) };
    } catch (error) {
      return `ORT refused the step's graph: ${error instanceof Error ? error.message : String(error)}`;
    }
  }

  private call(kernel: string, args: unknown[], eager: () => unknown): unknown {
    if (kernel === 'dispose' && !this.ids.has(args[0] as OrtHandle)) {
      // An external: not part of the sequence (nor numbered), since whether a step replaces earlier results
      // (extension fields) changes nothing it computes; in a replay it waits until the graph has read it.
      if (this.mode === 'trace') return eager();
      this.deferred.push(args[0] as OrtHandle);
      return undefined;
    }
    const info = KERNELS[kernel]!;
    const operands = info.operands(args);
    const refs = operands.map((operand) => this.ref(operand));
    const encoded = this.encode(kernel, args, operands, refs);
    if (this.mode === 'replay') {
      const matching = this.candidates.filter((c) => {
        const recorded = c.trace.calls[this.position];
        return recorded !== undefined && recorded.kernel === kernel && recorded.args.length === encoded.length && recorded.args.every((arg, i) => sameArg(arg, encoded[i]));
      });
      if (matching.length > 0) {
        this.candidates = matching;
        return this.replayCall(kernel, args, refs, matching[0]!.trace.calls[this.position]!, eager);
      }
      this.materialize();
    }
    return this.traceCall(kernel, args, encoded, refs, eager);
  }

  /** The operand's ref: a value of this run, or an external (numbered by first appearance, its first declared shape kept). */
  private ref(operand: Operand): Ref {
    const handle = operand.handle as OrtHandle;
    const id = this.ids.get(handle);
    if (id !== undefined) return { kind: 'value', id };
    let slot = this.slots.get(handle);
    if (slot === undefined) {
      slot = this.externalHandles.length;
      this.slots.set(handle, slot);
      this.externalHandles.push(handle);
    }
    if (operand.shape !== undefined && !this.externals.has(slot)) this.externals.set(slot, { shape: [...operand.shape], dtype: operand.dtype! });
    return { kind: 'external', slot };
  }

  /** The call's arguments with handles as {@link RefArg}s and `fromData`'s data left out. */
  private encode(kernel: string, args: readonly unknown[], operands: readonly Operand[], refs: readonly Ref[]): unknown[] {
    const encodeArg = (arg: unknown): unknown => {
      if (arg instanceof OrtHandle) return new RefArg(refs[operands.findIndex((operand) => operand.handle === arg)]!);
      if (Array.isArray(arg) && arg.some((item) => item instanceof OrtHandle)) return arg.map(encodeArg);
      return arg;
    };
    return args.map((arg, i) => (kernel === 'fromData' && i === 0 ? null : encodeArg(arg)));
  }

  private addValue(handle: OrtHandle, info: Result, fed: boolean): number {
    const id = this.values.size;
    this.values.set(id, { shape: [...info.shape], dtype: info.dtype, fed });
    this.ids.set(handle, id);
    this.handles.set(id, handle);
    this.live.add(id);
    return id;
  }

  private isComputed(ref: Ref): boolean {
    return ref.kind === 'value' && !this.values.get(ref.id)!.fed;
  }

  private traceCall(kernel: string, args: readonly unknown[], encoded: readonly unknown[], refs: readonly Ref[], eager: () => unknown): unknown {
    if (kernel === 'read' && this.isComputed(refs[0]!)) {
      this.uncompilable ??= 'the step reads a value it computed before it ends (e.g. loss.item() inside the step, or BatchNorm in training mode); read after run() instead';
    }
    const result = eager();
    if (kernel === 'dispose') this.live.delete((refs[0] as { id: number }).id);
    const results = KERNELS[kernel]!.results(args);
    const outputs = resultHandles(kernel, result).map((handle, i) => this.addValue(handle, results[i]!, kernel === 'fromData'));
    this.calls.push({ kernel, args: encoded, operands: refs, outputs });
    this.position += 1;
    return result;
  }

  private replayCall(kernel: string, args: readonly unknown[], refs: readonly Ref[], recorded: Call, eager: () => unknown): unknown {
    this.position += 1;
    const ref = refs[0];
    switch (kernel) {
      case 'fromData': {
        const handle = eager() as OrtHandle;
        this.addValue(handle, KERNELS[kernel]!.results(args)[0]!, true);
        return handle;
      }
      case 'read':
        // Only external and fed values are read in a compiled sequence: their data is real.
        return eager();
      case 'dispose':
        this.live.delete((ref as { id: number }).id);
        if (this.isComputed(ref!)) return eager();
        this.deferred.push(args[0] as OrtHandle); // fed: the graph reads it
        return undefined;
    }
    if (recorded.outputs.length === 0) return undefined; // an optional kernel that declined: core takes its own path, as recorded
    const results = KERNELS[kernel]!.results(args);
    const placeholders = recorded.outputs.map((_, i) => {
      const handle = this.backend.handles.placeholder();
      this.addValue(handle, results[i]!, false);
      return handle;
    });
    return kernel === 'maxPool' ? { values: placeholders[0], argmax: placeholders[1] } : placeholders[0];
  }

  /** Runs the compiled graph on this run's externals and fed values and gives the live placeholders their values. */
  private runGraph(compiled: Compiled): void {
    const { graph, trace } = compiled;
    const feeds = new Map<string, Feed>();
    graph.graph.inputs.forEach((spec, i) => {
      const ref = graph.inputs[i]!;
      const handle = ref.kind === 'external' ? this.externalHandles[ref.slot]! : this.handles.get(ref.id)!;
      feeds.set(spec.name, { data: handle.data, dims: spec.dims as number[] });
    });
    const outputs = graph.outputs.map((id) => {
      const info = trace.values.get(id)!;
      return { name: `v${id}`, dtype: info.dtype, length: info.shape.reduce((a, b) => a * b, 1) };
    });
    if (graph.outputs.length + graph.aliases.length !== [...this.live].filter((id) => !this.values.get(id)!.fed).length) {
      throw new Error('compiled step: the values alive at the end differ from the recorded ones (internal error)');
    }
    const data: DataArray[] = runNamed(compiled.session, feeds, outputs);
    graph.outputs.forEach((id, i) => this.backend.handles.fill(this.handles.get(id)!, data[i]!));
    for (const [id, source] of graph.aliases) this.backend.handles.shareInto(this.handles.get(source)!, this.handles.get(id)!);
    this.flushDeferred();
    this.replayed = compiled;
  }

  /**
   * Computes every value replayed so far eagerly (the calls of a matched
   * prefix, through the backend's kernels), gives the live placeholders
   * their values, and goes on tracing: the run is then eager, as if it had
   * been traced from the start.
   */
  private materialize(): void {
    const prefix = this.candidates[0]!.trace.calls.slice(0, this.position);
    const real = new Map<number, OrtHandle>();
    const resolve = (ref: Ref): OrtHandle => (ref.kind === 'external' ? this.externalHandles[ref.slot]! : (real.get(ref.id) ?? this.handles.get(ref.id)!));
    const decode = (arg: unknown): unknown => (arg instanceof RefArg ? resolve(arg.ref) : Array.isArray(arg) ? arg.map(decode) : arg);
    const kernels = this.backend as unknown as Record<string, (...args: unknown[]) => unknown>;
    for (const call of prefix) {
      const ref = call.operands[0];
      if (call.kernel === 'dispose') {
        if (this.isComputed(ref!)) {
          const id = (ref as { id: number }).id;
          this.backend.dispose(real.get(id)!);
          real.delete(id);
        }
      } else if (call.kernel !== 'fromData' && call.kernel !== 'read' && call.outputs.length > 0) {
        const handles = resultHandles(call.kernel, kernels[call.kernel]!(...call.args.map(decode)));
        // Only maxPool declines on the data (NaN), where core would have taken another path than the one recorded.
        if (handles.length === 0) throw new Error(`compiled step: ${call.kernel} declined values it accepted when traced (NaN in its input); run this step without compileStep`);
        handles.forEach((handle, i) => real.set(call.outputs[i]!, handle));
      }
      this.calls.push(call);
    }
    for (const [id, handle] of real) this.backend.handles.transplant(handle, this.handles.get(id)!);
    this.flushDeferred();
    this.mode = 'trace';
    this.candidates = [];
  }

  private flushDeferred(): void {
    for (const handle of this.deferred.splice(0)) this.backend.dispose(handle);
  }
}
