/**
 * What operator handlers work with: the import's state (values by name,
 * the steps built so far, who consumes what) and the helpers to read
 * inputs, define outputs, make parameters and run a module on the trace,
 * each allocation checked against the memory limit first.
 */
import { Generator, formatShape, sizeOf, tensor, type Backend, type FloatDType, type LeafModule, type Tensor } from '@backpack-ts/core';
import { OnnxImportError } from '../errors.js';
import type { NodeProto } from '../proto/onnx-proto.js';
import { describeNode } from './describe.js';
import type { TensorContext } from './initializers.js';
import { forwardElements } from './trace-memory.js';
import type { BuiltModule, ConstValue, DataValue, ParamSpec, Value } from './values.js';

/** Imports one node (or a pattern starting at it) into `ctx`. */
export type Handler = (ctx: ImportContext, node: NodeProto) => void;

/**
 * The state of one import while it walks the graph: the value of every
 * ONNX name so far, the modules built, and the services handlers use to
 * read their inputs, produce outputs and build steps.
 */
export class ImportContext {
  readonly values = new Map<string, Value>();
  readonly built: BuiltModule[] = [];
  readonly consumed = new Set<NodeProto>();
  readonly notes: string[] = [];
  /** Initializer -> the node whose module holds it (weight sharing is refused). */
  private readonly parameterUse = new Map<string, NodeProto>();
  readonly generator = new Generator(0);

  constructor(
    readonly backend: Backend,
    readonly dtype: FloatDType,
    readonly opset: number,
    readonly traceBatch: number,
    /** The model's batch dimension is symbolic (the trace batch size is arbitrary). */
    readonly batchIsSymbolic: boolean,
    /** Live consumers of each value (a graph output counts as a consumer `null`). */
    readonly consumers: ReadonlyMap<string, readonly (NodeProto | null)[]>,
    /** Where tensors' external data is read from, and the memory limit. */
    readonly tensors: TensorContext,
  ) {}

  /** Bytes per element of the model's float type. */
  get elementBytes(): number {
    return this.dtype === 'float64' ? 8 : 4;
  }

  /**
   * The values (and, with `withBatch`, the batch mask) of a constant of
   * `shape` that `node` computes at import, their memory reserved first.
   */
  constantOutput(node: NodeProto, shape: readonly number[], withBatch: boolean): { values: Float64Array; batch: boolean[] | undefined } {
    const count = sizeOf(shape);
    // A JavaScript array of booleans takes about 8 bytes an entry, as the float64 values.
    this.tensors.budget.reserve(count * 8 * (withBatch ? 2 : 1), `${describeNode(node)}: the constant ${formatShape(shape)} it computes at import`);
    return { values: new Float64Array(count), batch: withBatch ? new Array<boolean>(count).fill(false) : undefined };
  }

  /** The value of input `i` of `node`, undefined where the input is absent or empty. */
  value(node: NodeProto, i: number): Value | undefined {
    const name = node.input[i];
    if (name === undefined || name === '') return undefined;
    const value = this.values.get(name);
    if (value === undefined) throw new OnnxImportError(`${describeNode(node)}: input '${name}' is not produced by any node, initializer or graph input`);
    return value;
  }

  /** Input `i`, which must be data (computed from the model input); `what` names it in errors. */
  data(node: NodeProto, i: number, what = `input ${i}`): DataValue {
    const value = this.value(node, i);
    if (value === undefined) throw new OnnxImportError(`${describeNode(node)}: ${what} is missing`);
    if (value.kind === 'data') return value;
    if (value.kind === 'pad') throw new OnnxImportError(`${describeNode(node)}: internal error: pending Pad consumed by another node`);
    throw new OnnxImportError(
      `${describeNode(node)}: ${what} ('${node.input[i]}') is a constant, but must be computed from the model input here`,
    );
  }

  /** Input `i`, which must be a constant. */
  constant(node: NodeProto, i: number, what = `input ${i}`): ConstValue {
    const value = this.value(node, i);
    if (value === undefined) throw new OnnxImportError(`${describeNode(node)}: ${what} is missing`);
    if (value.kind !== 'const') {
      throw new OnnxImportError(
        `${describeNode(node)}: ${what} ('${node.input[i]}') must be a constant (an initializer), but it is computed from the model input`,
      );
    }
    return value;
  }

  /** Input `i` as a constant, or undefined where the node leaves it out. */
  optionalConstant(node: NodeProto, i: number, what: string): ConstValue | undefined {
    return node.input[i] === undefined || node.input[i] === '' ? undefined : this.constant(node, i, what);
  }

  /** The one live node that consumes `name`, or undefined (several, none, or a graph output). */
  soleConsumer(name: string): NodeProto | undefined {
    const list = this.consumers.get(name) ?? [];
    return list.length === 1 && list[0] !== null ? list[0] : undefined;
  }

  /** Whether anything (a node, the graph output) uses the value `name`. */
  isLive(name: string | undefined): boolean {
    return name !== undefined && name !== '' && (this.consumers.get(name)?.length ?? 0) > 0;
  }

  /** Defines `name` as a constant. */
  setConst(name: string, value: Omit<ConstValue, 'kind'>): void {
    this.values.set(name, { kind: 'const', ...value });
  }

  /** Defines `name` as another value (Identity, a reshape that changes nothing). */
  alias(name: string, value: Value): void {
    this.values.set(name, value);
  }

  /**
   * A parameter `local` of the module `node` becomes, holding `values` of
   * `shape` made from `constant` (transposed or scaled as `transform` says);
   * an initializer that is already another module's parameter is refused.
   */
  param(node: NodeProto, local: string, constant: ConstValue, values: Float64Array, shape: readonly number[], transform: { transposed?: boolean; scale?: number } = {}): ParamSpec {
    const initializer = constant.source ?? `${node.name || node.opType}.${local}`;
    const previous = this.parameterUse.get(initializer);
    if (previous !== undefined && constant.source !== undefined) {
      throw new OnnxImportError(
        `${describeNode(node)}: initializer '${initializer}' is also a parameter of ${describeNode(previous)}; shared weights are not supported by the importer`,
      );
    }
    this.parameterUse.set(initializer, node);
    const scale = transform.scale ?? 1;
    // A folded Transpose of the initializer: relative to the initializer itself, the transposes cancel or add up.
    const transposed = (transform.transposed ?? false) !== (constant.sourceTransposed ?? false);
    const onnxShape = constant.sourceTransposed === true ? [...constant.shape].reverse() : constant.shape;
    return { local, values, shape, source: { initializer, onnxShape, transposed, scale } };
  }

  /** Loads the parameters into `module`, runs it on the trace and records it as a step. */
  emit(nodes: readonly NodeProto[], module: LeafModule, inputs: readonly DataValue[], params: readonly ParamSpec[], output: string): DataValue {
    const shapes = inputs.map((v) => v.tensor.shape);
    // The module's initial parameters, the loaded ones, and what its forward pass allocates.
    const elements = forwardElements(module, shapes) + 2 * params.reduce((total, p) => total + p.values.length, 0);
    this.tensors.budget.reserve(
      elements * this.elementBytes,
      `${describeNode(nodes[0]!)} as ${module.typeName} on ${shapes.map(formatShape).join(', ')}`,
      `check the node's attributes (pads, strides, dilations, kernel_shape) and the input's shape (the import runs the model on a batch of ${this.traceBatch})`,
    );
    // Local names are the modules' own ('weight', 'running_mean', ...), never the file's.
    const state: Record<string, Tensor> = {};
    for (const p of params) state[p.local] = tensor(p.values, p.shape, { backend: this.backend, dtype: this.dtype });
    try {
      if (params.length > 0) module.loadStateDict(state);
    } catch (error) {
      throw new OnnxImportError(`${describeNode(nodes[0]!)}: ${(error as Error).message}`);
    }
    module.eval();
    let out: Tensor;
    try {
      out = module.forward(...inputs.map((v) => v.tensor));
    } catch (error) {
      throw new OnnxImportError(`${describeNode(nodes[0]!)} as ${module.typeName}: ${(error as Error).message}`);
    }
    const value: DataValue = { kind: 'data', name: output, tensor: out };
    this.values.set(output, value);
    this.built.push({ module, inputs: inputs.map((v) => v.name), output, nodes, params });
    return value;
  }

  /**
   * When the only consumer of `name` is an Add of a constant that broadcasts
   * along the channel axis (`axis` of a rank-`rank` result), returns that
   * constant as a bias of `channels` entries and marks the Add as absorbed.
   */
  fuseBias(name: string, channels: number, axis: number, rank: number): { bias: ConstValue; values: Float64Array; add: NodeProto } | undefined {
    const add = this.soleConsumer(name);
    if (add === undefined || add.opType !== 'Add' || add.input.length !== 2 || add.input[0] === add.input[1]) return undefined;
    const otherName = add.input[0] === name ? add.input[1]! : add.input[0]!;
    const other = this.values.get(otherName);
    if (other?.kind !== 'const' || other.batch !== undefined) return undefined;
    const values = channelVector(other.shape, other.values, channels, axis, rank);
    if (values === undefined) return undefined;
    this.consumed.add(add);
    return { bias: other, values, add };
  }
}

/**
 * The `channels` values of a constant that broadcasts against a rank-`rank`
 * tensor along `axis` only (shapes `[C]` for the last axis, `[C, 1, 1]`,
 * `[1, C, 1, 1]`, or a single value), or undefined.
 */
export function channelVector(shape: readonly number[], values: Float64Array, channels: number, axis: number, rank: number): Float64Array | undefined {
  if (shape.length > rank) return undefined;
  const aligned = [...new Array<number>(rank - shape.length).fill(1), ...shape];
  if (aligned.some((d, i) => i !== axis && d !== 1)) return undefined;
  const size = aligned[axis]!;
  if (size === channels) return Float64Array.from(values);
  if (size === 1) return new Float64Array(channels).fill(values[0]!);
  return undefined;
}
