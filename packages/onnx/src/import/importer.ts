/**
 * `importOnnx`: decodes an ONNX model and rebuilds its graph from core's
 * leaf modules with the file's weights.
 *
 * The import runs the graph once on a small zero batch ("trace") while it
 * builds it, so every module checks its input as it would at run time and
 * the importer knows every intermediate shape (for Reshape, auto padding,
 * global pooling). Shape computations (Shape, Gather, Concat, ... on
 * constants, with the batch size kept symbolic) are evaluated at import.
 * Anything the modules cannot express exactly is refused with an error that
 * names the node, its op type and what is supported.
 */
import {
  Add,
  AdaptiveAvgPool1d,
  AdaptiveAvgPool2d,
  AdaptiveAvgPool3d,
  AvgPool1d,
  AvgPool2d,
  AvgPool3d,
  BatchNorm1d,
  BatchNorm2d,
  BatchNorm3d,
  Conv1d,
  Conv2d,
  Conv3d,
  ConvTranspose1d,
  ConvTranspose2d,
  ConvTranspose3d,
  Dropout,
  ELU,
  Embedding,
  Flatten,
  Generator,
  LeakyReLU,
  Linear,
  LogSigmoid,
  MaxPool1d,
  MaxPool2d,
  MaxPool3d,
  ReLU,
  SELU,
  Sigmoid,
  Tanh,
  ZeroPad2d,
  formatShape,
  sizeOf,
  getDefaultBackend,
  keep,
  tensor,
  tidy,
  zeros,
  type Backend,
  type FloatDType,
  type LeafModule,
  type Tensor,
} from '@backpack-ts/core';
import { OnnxImportError, UserError } from '../errors.js';
import { AttributeType, DataType, dataTypeName, decodeModel, type AttributeProto, type NodeProto } from '../proto/onnx-proto.js';
import { modelFolder, readModelFile } from './files.js';
import { isFloatType, isIntType, tensorValue, type TensorContext } from './initializers.js';
import { MAX_DIMENSION, formatInteger, isIntegerIn, rangeText } from './integers.js';
import { MemoryBudget, memoryLimit } from './memory-budget.js';
import { forwardElements } from './trace-memory.js';
import { OnnxModel, OnnxScope, type OnnxInputSpec, type OnnxParameterSource, type OnnxStep } from './onnx-model.js';

/** Options of {@link importOnnx}. */
export interface ImportOptions {
  /** Backend for the parameters (default: core's default backend). */
  readonly backend?: Backend;
  /** Float dtype of parameters and computations (default float64 where the backend has it, else float32). */
  readonly dtype?: FloatDType;
  /**
   * Shape of one sample (without the batch dimension), needed when the
   * model's input has symbolic dimensions other than the batch.
   */
  readonly inputShape?: readonly number[];
  /**
   * Most bytes the import may allocate (default `defaultMemoryLimitBytes()`:
   * a quarter of the machine's memory). What the model makes the import
   * allocate (the file, initializers, constants computed at import, the
   * trace's tensors) is estimated from the shapes before it is allocated;
   * beyond the limit the import stops with an `OnnxMemoryLimitError`.
   */
  readonly memoryLimitBytes?: number;
}

/**
 * Operator types the importer understands (some only in the patterns their
 * description names). A null-prototype object: only these keys are in it.
 */
export const SUPPORTED_OPERATORS: Readonly<Record<string, string>> = Object.assign(Object.create(null) as Record<string, string>, {
  Gemm: 'Linear (transA = 0; transB, alpha, beta any; B and C constant)',
  MatMul: 'Linear (data times a constant 2-d weight), with a following Add of a constant as its bias',
  Add: 'residual Add of two branches of equal shape; a constant bias right after MatMul, Gemm or Conv',
  Sum: 'as Add of two or more branches',
  Conv: 'Conv1d/2d/3d (strides, pads, dilations, group, auto_pad)',
  ConvTranspose: 'ConvTranspose1d/2d/3d (strides, pads, output_padding, dilations, group)',
  MaxPool: 'MaxPool1d/2d/3d',
  AveragePool: 'AvgPool1d/2d/3d (count_include_pad)',
  GlobalAveragePool: 'AdaptiveAvgPool with output size 1',
  GlobalMaxPool: 'MaxPool over the whole input',
  Pad: 'constant zero padding of the spatial dimensions (ZeroPad2d, or folded into the following Conv/AveragePool)',
  Flatten: 'Flatten keeping the batch dimension',
  Reshape: 'only reshapes that flatten (merge consecutive dimensions after the batch)',
  Squeeze: 'only where it flattens (removes size-1 dimensions after the batch)',
  Unsqueeze: 'on constants (shape computations)',
  BatchNormalization: 'BatchNorm1d/2d/3d in inference mode',
  Gather: 'on an initializer with data indices (Embedding); on constants',
  Relu: 'ReLU',
  Sigmoid: 'Sigmoid; Log(Sigmoid(x)) is LogSigmoid',
  Tanh: 'Tanh',
  LeakyRelu: 'LeakyReLU',
  Elu: 'ELU',
  Selu: "SELU (PyTorch's alpha and gamma)",
  Log: 'only as Log(Sigmoid(x)) = LogSigmoid',
  Softplus: 'only as -Softplus(-x) = LogSigmoid',
  Neg: 'only as -Softplus(-x) = LogSigmoid',
  Identity: 'identity',
  Dropout: 'Dropout (inference: identity)',
  Cast: 'to a float type on data; any numeric type on constants',
  Constant: 'constants',
  Shape: 'shape computations (batch size symbolic)',
  Concat: 'on constants',
  Slice: 'on constants',
  Sub: 'on constants',
  Mul: 'on constants',
  Div: 'on constants',
});

/** Elements one sample of the model input may hold (2^26: 512 MiB in float64). */
const MAX_SAMPLE_SIZE = 2 ** 26;

function supportedList(): string {
  return Object.keys(SUPPORTED_OPERATORS).join(', ');
}

// ---------------------------------------------------------------- values

/** A tensor known at import: an initializer, a Constant, or computed from them (shapes). */
interface ConstValue {
  readonly kind: 'const';
  readonly shape: readonly number[];
  readonly values: Float64Array;
  /** Entries equal to the batch size (from Shape of data); the number stored there is the trace's batch size. */
  readonly batch?: readonly boolean[];
  readonly dataType: number;
  /** Initializer (or Constant output) it comes from, for parameter names; undefined when computed. */
  readonly source?: string;
}

/** A tensor computed from the model input at run time; `tensor` is its value in the trace. */
interface DataValue {
  readonly kind: 'data';
  /** Name of the value in the model's run-time map (a step's output or the graph input). */
  readonly name: string;
  readonly tensor: Tensor;
}

/** Zero padding waiting to be folded into the Conv or AveragePool that consumes it. */
interface PendingPad {
  readonly kind: 'pad';
  readonly source: DataValue;
  /** Padding of the spatial dimensions (symmetric). */
  readonly spatial: readonly number[];
  readonly node: NodeProto;
}

type Value = ConstValue | DataValue | PendingPad;

/** A parameter or buffer of a module, with its values and where they came from. */
interface ParamSpec {
  readonly local: string;
  readonly values: Float64Array;
  readonly shape: readonly number[];
  readonly source: OnnxParameterSource;
}

interface BuiltModule {
  readonly module: LeafModule;
  readonly inputs: readonly string[];
  readonly output: string;
  /** Nodes it came from (the first names it). */
  readonly nodes: readonly NodeProto[];
  readonly params: readonly ParamSpec[];
}

// ---------------------------------------------------------------- helpers

function describeNode(node: NodeProto): string {
  return `ONNX node '${node.name || node.output[0] || '?'}' (op ${node.opType})`;
}

/** The shortest decimal that rounds to the same float32: float attributes were float64 literals before export. */
export function unroundFloat32(x: number): number {
  if (!Number.isFinite(x) || x === 0) return x;
  for (let p = 1; p <= 9; p++) {
    const v = Number(x.toPrecision(p));
    if (Math.fround(v) === x) return v;
  }
  return x;
}

/** An inclusive range `[min, max]` of integers. */
type Range = readonly [min: number, max: number];

/** Sizes, strides, dilations: at least 1. */
const POSITIVE: Range = [1, MAX_DIMENSION];
/** Paddings (and kernel_shape, where 0 means "the weight's"): at least 0. */
const NON_NEGATIVE: Range = [0, MAX_DIMENSION];

class Attributes {
  private readonly byName: Map<string, AttributeProto>;
  constructor(private readonly node: NodeProto) {
    this.byName = new Map(node.attribute.map((a) => [a.name, a]));
  }
  has(name: string): boolean {
    return this.byName.has(name);
  }
  /** An integer attribute (`fallback` when absent), checked to lie in `range` `[min, max]` when given. */
  int(name: string, fallback: number, range?: Range): number {
    const a = this.byName.get(name);
    if (a === undefined) return fallback;
    if (a.i === undefined) throw new OnnxImportError(`${describeNode(this.node)}: attribute '${name}' must be an integer`);
    if (range !== undefined && !isIntegerIn(a.i, ...range)) {
      throw new OnnxImportError(`${describeNode(this.node)}: attribute '${name}' is ${formatInteger(a.i)}, but ${rangeText(...range)}`);
    }
    return a.i;
  }
  float(name: string, fallback: number): number {
    const a = this.byName.get(name);
    if (a === undefined) return fallback;
    if (a.f === undefined) {
      if (a.i !== undefined) return a.i;
      throw new OnnxImportError(`${describeNode(this.node)}: attribute '${name}' must be a float`);
    }
    return unroundFloat32(a.f);
  }
  /** A list-of-integers attribute (undefined when absent), each entry checked to lie in `range` `[min, max]` when given. */
  ints(name: string, range?: Range): number[] | undefined {
    const a = this.byName.get(name);
    if (a === undefined) return undefined;
    if (a.type !== AttributeType.INTS && a.type !== AttributeType.UNDEFINED) {
      throw new OnnxImportError(`${describeNode(this.node)}: attribute '${name}' must be a list of integers`);
    }
    const bad = range === undefined ? undefined : a.ints.find((v) => !isIntegerIn(v, ...range));
    if (bad !== undefined) {
      throw new OnnxImportError(
        `${describeNode(this.node)}: attribute '${name}' [${a.ints.map(formatInteger).join(', ')}] holds ${formatInteger(bad)}, but each entry ${rangeText(...range!)}`,
      );
    }
    return a.ints;
  }
  string(name: string, fallback: string): string {
    const a = this.byName.get(name);
    if (a?.s === undefined) return fallback;
    return new TextDecoder().decode(a.s);
  }
  get(name: string): AttributeProto | undefined {
    return this.byName.get(name);
  }
}

function product(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function stridesOf(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length).fill(1);
  for (let d = shape.length - 2; d >= 0; d--) strides[d] = strides[d + 1]! * shape[d + 1]!;
  return strides;
}

/** Transposes a row-major `[rows, cols]` matrix. */
function transpose2d(values: Float64Array, rows: number, cols: number): Float64Array {
  const out = new Float64Array(values.length);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j * rows + i] = values[i * cols + j]!;
  return out;
}

function scaled(values: Float64Array, scale: number): Float64Array {
  return scale === 1 ? values : values.map((v) => v * scale);
}

function normalizeAxis(axis: number, rank: number, node: NodeProto): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!isIntegerIn(a, 0, rank - 1)) throw new OnnxImportError(`${describeNode(node)}: axis ${formatInteger(axis)} is out of range for rank ${rank}`);
  return a;
}

/** The values of a constant input that holds integers in `range` (pads, a target shape), or an error naming the node. */
function integers(value: ConstValue, what: string, range: Range, node: NodeProto): number[] {
  const bad = value.values.find((v) => !isIntegerIn(v, ...range));
  if (bad !== undefined) {
    throw new OnnxImportError(`${describeNode(node)}: ${what} [${[...value.values].map(formatInteger).join(', ')}] holds ${formatInteger(bad)}, but each entry ${rangeText(...range)}`);
  }
  return [...value.values];
}

/** PyTorch's module path from a node name such as `/layer1/layer1.0/conv1/Conv` (`layer1.0.conv1`). */
export function torchScope(nodeName: string): string | undefined {
  const match = /^\/(.+)\/[^/]+$/.exec(nodeName);
  if (match === null) return undefined;
  let current = '';
  for (const segment of match[1]!.split('/')) {
    if (segment === '') return undefined;
    current = current !== '' && segment.startsWith(`${current}.`) ? segment : current === '' ? segment : `${current}.${segment}`;
  }
  return current;
}

/** Names the PyTorch exporter gives constants it created (e.g. a transposed weight): `onnx::MatMul_7`, or a bare number. */
function isAnonymous(name: string): boolean {
  return name.startsWith('onnx::') || /^\d+$/.test(name);
}

// ---------------------------------------------------------------- the importer

class Importer {
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

  // ---- reading inputs

  value(node: NodeProto, i: number): Value | undefined {
    const name = node.input[i];
    if (name === undefined || name === '') return undefined;
    const value = this.values.get(name);
    if (value === undefined) throw new OnnxImportError(`${describeNode(node)}: input '${name}' is not produced by any node, initializer or graph input`);
    return value;
  }

  data(node: NodeProto, i: number, what = `input ${i}`): DataValue {
    const value = this.value(node, i);
    if (value === undefined) throw new OnnxImportError(`${describeNode(node)}: ${what} is missing`);
    if (value.kind === 'data') return value;
    if (value.kind === 'pad') throw new OnnxImportError(`${describeNode(node)}: internal error: pending Pad consumed by another node`);
    throw new OnnxImportError(
      `${describeNode(node)}: ${what} ('${node.input[i]}') is a constant, but must be computed from the model input here`,
    );
  }

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

  optionalConstant(node: NodeProto, i: number, what: string): ConstValue | undefined {
    return node.input[i] === undefined || node.input[i] === '' ? undefined : this.constant(node, i, what);
  }

  /** The one live node that consumes `name`, or undefined (several, none, or a graph output). */
  soleConsumer(name: string): NodeProto | undefined {
    const list = this.consumers.get(name) ?? [];
    return list.length === 1 && list[0] !== null ? list[0] : undefined;
  }

  isLive(name: string | undefined): boolean {
    return name !== undefined && name !== '' && (this.consumers.get(name)?.length ?? 0) > 0;
  }

  // ---- producing outputs

  setConst(name: string, value: Omit<ConstValue, 'kind'>): void {
    this.values.set(name, { kind: 'const', ...value });
  }

  alias(name: string, value: Value): void {
    this.values.set(name, value);
  }

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
    const transposed = transform.transposed ?? false;
    return { local, values, shape, source: { initializer, onnxShape: constant.shape, transposed, scale } };
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
function channelVector(shape: readonly number[], values: Float64Array, channels: number, axis: number, rank: number): Float64Array | undefined {
  if (shape.length > rank) return undefined;
  const aligned = [...new Array<number>(rank - shape.length).fill(1), ...shape];
  if (aligned.some((d, i) => i !== axis && d !== 1)) return undefined;
  const size = aligned[axis]!;
  if (size === channels) return Float64Array.from(values);
  if (size === 1) return new Float64Array(channels).fill(values[0]!);
  return undefined;
}

// ---------------------------------------------------------------- handlers

type Handler = (ctx: Importer, node: NodeProto) => void;

/** Spatial padding `[begin..., end...]` resolved from `pads`/`auto_pad` for an input of spatial size `spatial`. */
function resolvePads(
  node: NodeProto,
  attrs: Attributes,
  spatial: readonly number[],
  kernel: readonly number[],
  strides: readonly number[],
  dilations: readonly number[],
): { begin: number[]; end: number[] } {
  const autoPad = attrs.string('auto_pad', 'NOTSET');
  const n = spatial.length;
  if (autoPad === 'NOTSET' || autoPad === '') {
    const pads = attrs.ints('pads', NON_NEGATIVE) ?? new Array<number>(2 * n).fill(0);
    if (pads.length !== 2 * n) throw new OnnxImportError(`${describeNode(node)}: pads has ${pads.length} entries, expected ${2 * n}`);
    return { begin: pads.slice(0, n), end: pads.slice(n) };
  }
  if (autoPad === 'VALID') return { begin: new Array<number>(n).fill(0), end: new Array<number>(n).fill(0) };
  if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
    const begin: number[] = [];
    const end: number[] = [];
    spatial.forEach((size, d) => {
      const out = Math.ceil(size / strides[d]!);
      const extent = (kernel[d]! - 1) * dilations[d]! + 1;
      const total = Math.max((out - 1) * strides[d]! + extent - size, 0);
      const small = Math.floor(total / 2);
      begin.push(autoPad === 'SAME_UPPER' ? small : total - small);
      end.push(autoPad === 'SAME_UPPER' ? total - small : small);
    });
    return { begin, end };
  }
  throw new OnnxImportError(`${describeNode(node)}: auto_pad '${autoPad}' is not supported (NOTSET, VALID, SAME_UPPER, SAME_LOWER are)`);
}

/** The `n` entries of a spatial attribute (`fallback` each when absent), each in `range`. */
function spatialTuple(attrs: Attributes, name: string, n: number, fallback: number, node: NodeProto, range: Range): number[] {
  const values = attrs.ints(name, range) ?? new Array<number>(n).fill(fallback);
  if (values.length !== n) throw new OnnxImportError(`${describeNode(node)}: ${name} has ${values.length} entries, expected ${n}`);
  return values;
}

const CONV = [Conv1d, Conv2d, Conv3d] as const;
const CONV_T = [ConvTranspose1d, ConvTranspose2d, ConvTranspose3d] as const;
const MAX_POOL = [MaxPool1d, MaxPool2d, MaxPool3d] as const;
const AVG_POOL = [AvgPool1d, AvgPool2d, AvgPool3d] as const;
const ADAPTIVE = [AdaptiveAvgPool1d, AdaptiveAvgPool2d, AdaptiveAvgPool3d] as const;
const BATCH_NORM = [BatchNorm1d, BatchNorm1d, BatchNorm2d, BatchNorm3d] as const;

/** The data input of a Conv/AveragePool, with a pending Pad before it folded in. */
function paddedInput(ctx: Importer, node: NodeProto): { x: DataValue; extra: readonly number[] | undefined; padNode?: NodeProto } {
  const value = ctx.value(node, 0);
  if (value?.kind === 'pad') return { x: value.source, extra: value.spatial, padNode: value.node };
  return { x: ctx.data(node, 0, 'the data input'), extra: undefined };
}

/** A ZeroPad2d step for asymmetric 2-d padding `[top, left]`/`[bottom, right]`; returns its output. */
function zeroPad2d(ctx: Importer, node: NodeProto, x: DataValue, begin: readonly number[], end: readonly number[]): DataValue {
  const module = new ZeroPad2d([begin[1]!, end[1]!, begin[0]!, end[0]!]);
  return ctx.emit([node], module, [x], [], `${node.output[0]}::pad`);
}

function symmetric(begin: readonly number[], end: readonly number[]): boolean {
  return begin.every((b, i) => b === end[i]);
}

/** The handler of each supported op type (a `Map`: an op type such as `constructor` is not a handler). */
const handlers: ReadonlyMap<string, Handler> = new Map(Object.entries({
  Gemm(ctx, node) {
    const attrs = new Attributes(node);
    if (attrs.int('transA', 0) !== 0) {
      throw new OnnxImportError(`${describeNode(node)}: transA = 1 would put the batch in the second dimension; only transA = 0 is supported`);
    }
    const x = ctx.data(node, 0, 'input A');
    const b = ctx.constant(node, 1, 'input B (the weight)');
    const transB = attrs.int('transB', 0) !== 0;
    const alpha = attrs.float('alpha', 1);
    const beta = attrs.float('beta', 1);
    if (x.tensor.rank !== 2) throw new OnnxImportError(`${describeNode(node)}: input A must be 2-d [batch, features], got ${formatShape(x.tensor.shape)}`);
    if (b.shape.length !== 2) throw new OnnxImportError(`${describeNode(node)}: weight B must be 2-d, got ${formatShape(b.shape)}`);
    const [out, inF] = transB ? [b.shape[0]!, b.shape[1]!] : [b.shape[1]!, b.shape[0]!];
    const weight = scaled(transB ? b.values : transpose2d(b.values, b.shape[0]!, b.shape[1]!), alpha);
    const params = [ctx.param(node, 'weight', b, weight, [out, inF], { transposed: !transB, scale: alpha })];
    const c = ctx.optionalConstant(node, 2, 'input C (the bias)');
    let output = node.output[0]!;
    const nodes = [node];
    if (c !== undefined) {
      const bias = channelVector(c.shape, c.values, out, 1, 2);
      if (bias === undefined) throw new OnnxImportError(`${describeNode(node)}: bias C of shape ${formatShape(c.shape)} does not broadcast as one value per output (${out})`);
      params.push(ctx.param(node, 'bias', c, scaled(bias, beta), [out], { scale: beta }));
      if (product(c.shape) === 1 && out > 1) ctx.notes.push(`${describeNode(node)}: the single bias value of '${c.source}' is a parameter per output`);
    } else {
      const fused = ctx.fuseBias(output, out, 1, 2);
      if (fused !== undefined) {
        params.push(ctx.param(fused.add, 'bias', fused.bias, fused.values, [out]));
        output = fused.add.output[0]!;
        nodes.push(fused.add);
      }
    }
    if (alpha !== 1 || (beta !== 1 && c !== undefined)) {
      ctx.notes.push(`${describeNode(node)}: alpha = ${alpha}, beta = ${beta} are folded into the Linear's weight and bias`);
    }
    const module = new Linear(inF, out, { bias: params.length > 1, backend: ctx.backend, dtype: ctx.dtype, generator: ctx.generator });
    ctx.emit(nodes, module, [x], params, output);
  },

  MatMul(ctx, node) {
    const a = ctx.value(node, 0);
    const b = ctx.value(node, 1);
    if (a?.kind !== 'data' || b?.kind !== 'const') {
      if (a?.kind === 'const' && b?.kind === 'const') return constBinary(ctx, node, 'MatMul');
      throw new OnnxImportError(
        `${describeNode(node)}: only data times a constant weight (x · W) is supported; got ${a?.kind ?? 'nothing'} times ${b?.kind ?? 'nothing'}`,
      );
    }
    if (b.shape.length !== 2) throw new OnnxImportError(`${describeNode(node)}: the weight must be 2-d, got ${formatShape(b.shape)}`);
    const [inF, out] = [b.shape[0]!, b.shape[1]!];
    const rank = a.tensor.rank;
    if (rank < 2) throw new OnnxImportError(`${describeNode(node)}: data input of shape ${formatShape(a.tensor.shape)} has no feature dimension`);
    const params = [ctx.param(node, 'weight', b, transpose2d(b.values, inF, out), [out, inF], { transposed: true })];
    let output = node.output[0]!;
    const nodes = [node];
    const fused = ctx.fuseBias(output, out, rank - 1, rank);
    if (fused !== undefined) {
      params.push(ctx.param(fused.add, 'bias', fused.bias, fused.values, [out]));
      output = fused.add.output[0]!;
      nodes.push(fused.add);
    }
    const module = new Linear(inF, out, { bias: fused !== undefined, backend: ctx.backend, dtype: ctx.dtype, generator: ctx.generator });
    ctx.emit(nodes, module, [a], params, output);
  },

  Conv(ctx, node) {
    const attrs = new Attributes(node);
    const { x: input, extra, padNode } = paddedInput(ctx, node);
    const w = ctx.constant(node, 1, 'the weight');
    const n = w.shape.length - 2;
    if (n < 1 || n > 3) throw new OnnxImportError(`${describeNode(node)}: ${n}-d convolutions are not supported (1-d to 3-d are)`);
    if (input.tensor.rank !== n + 2) throw new OnnxImportError(`${describeNode(node)}: input ${formatShape(input.tensor.shape)} does not fit a ${n}-d weight ${formatShape(w.shape)}`);
    const group = attrs.int('group', 1, POSITIVE);
    const kernel = spatialTuple(attrs, 'kernel_shape', n, 0, node, NON_NEGATIVE).map((k, d) => (k === 0 ? w.shape[d + 2]! : k));
    if (kernel.some((k, d) => k !== w.shape[d + 2])) throw new OnnxImportError(`${describeNode(node)}: kernel_shape [${kernel.join(', ')}] does not match the weight ${formatShape(w.shape)}`);
    const strides = spatialTuple(attrs, 'strides', n, 1, node, POSITIVE);
    const dilations = spatialTuple(attrs, 'dilations', n, 1, node, POSITIVE);
    const spatial = input.tensor.shape.slice(2).map((s, d) => s + 2 * (extra?.[d] ?? 0));
    let { begin, end } = resolvePads(node, attrs, spatial, kernel, strides, dilations);
    if (extra !== undefined) {
      begin = begin.map((p, d) => p + extra[d]!);
      end = end.map((p, d) => p + extra[d]!);
    }
    const [outC, inC] = [w.shape[0]!, w.shape[1]! * group];
    const params = [ctx.param(node, 'weight', w, w.values, w.shape)];
    const b = ctx.optionalConstant(node, 2, 'the bias');
    let output = node.output[0]!;
    const nodes = padNode === undefined ? [node] : [padNode, node];
    if (b !== undefined) {
      if (product(b.shape) !== outC) throw new OnnxImportError(`${describeNode(node)}: bias ${formatShape(b.shape)} does not have ${outC} entries`);
      params.push(ctx.param(node, 'bias', b, b.values, [outC]));
    } else {
      const fused = ctx.fuseBias(output, outC, 1, n + 2);
      if (fused !== undefined) {
        params.push(ctx.param(fused.add, 'bias', fused.bias, fused.values, [outC]));
        output = fused.add.output[0]!;
        nodes.push(fused.add);
      }
    }
    let x = input;
    let padding = begin;
    if (!symmetric(begin, end)) {
      if (n !== 2) {
        throw new OnnxImportError(`${describeNode(node)}: asymmetric pads [${[...begin, ...end].join(', ')}] are supported for 2-d convolutions only (through ZeroPad2d)`);
      }
      x = zeroPad2d(ctx, node, x, begin, end);
      padding = [0, 0];
    }
    const Conv = CONV[n - 1]!;
    const module = new Conv(inC, outC, kernel, {
      stride: strides,
      padding,
      dilation: dilations,
      groups: group,
      bias: params.length > 1,
      backend: ctx.backend,
      dtype: ctx.dtype,
      generator: ctx.generator,
    });
    ctx.emit(nodes, module, [x], params, output);
  },

  ConvTranspose(ctx, node) {
    const attrs = new Attributes(node);
    const x = ctx.data(node, 0, 'the data input');
    const w = ctx.constant(node, 1, 'the weight');
    const n = w.shape.length - 2;
    if (n < 1 || n > 3) throw new OnnxImportError(`${describeNode(node)}: ${n}-d transposed convolutions are not supported (1-d to 3-d are)`);
    const group = attrs.int('group', 1, POSITIVE);
    const kernel = spatialTuple(attrs, 'kernel_shape', n, 0, node, NON_NEGATIVE).map((k, d) => (k === 0 ? w.shape[d + 2]! : k));
    if (kernel.some((k, d) => k !== w.shape[d + 2])) throw new OnnxImportError(`${describeNode(node)}: kernel_shape [${kernel.join(', ')}] does not match the weight ${formatShape(w.shape)}`);
    if (x.tensor.rank !== n + 2) throw new OnnxImportError(`${describeNode(node)}: input ${formatShape(x.tensor.shape)} does not fit a ${n}-d weight ${formatShape(w.shape)}`);
    const strides = spatialTuple(attrs, 'strides', n, 1, node, POSITIVE);
    const dilations = spatialTuple(attrs, 'dilations', n, 1, node, POSITIVE);
    const outputPadding = spatialTuple(attrs, 'output_padding', n, 0, node, NON_NEGATIVE);
    const autoPad = attrs.string('auto_pad', 'NOTSET');
    if (autoPad !== 'NOTSET' && autoPad !== '' && autoPad !== 'VALID') {
      throw new OnnxImportError(`${describeNode(node)}: auto_pad '${autoPad}' is not supported for ConvTranspose (NOTSET and VALID are; export with explicit pads)`);
    }
    const pads = autoPad === 'VALID' ? new Array<number>(2 * n).fill(0) : (attrs.ints('pads', NON_NEGATIVE) ?? new Array<number>(2 * n).fill(0));
    if (pads.length !== 2 * n) throw new OnnxImportError(`${describeNode(node)}: pads has ${pads.length} entries, expected ${2 * n}`);
    const [begin, end] = [pads.slice(0, n), pads.slice(n)];
    const [inC, outC] = [w.shape[0]!, w.shape[1]! * group];
    const padding = begin.map((b, d) => Math.min(b, end[d]!));
    const module = (bias: boolean) =>
      new CONV_T[n - 1]!(inC, outC, kernel, {
        stride: strides,
        padding,
        outputPadding,
        dilation: dilations,
        groups: group,
        bias,
        backend: ctx.backend,
        dtype: ctx.dtype,
        generator: ctx.generator,
      });
    const params = [ctx.param(node, 'weight', w, w.values, w.shape)];
    const b = ctx.optionalConstant(node, 2, 'the bias');
    if (b !== undefined) {
      if (product(b.shape) !== outC) throw new OnnxImportError(`${describeNode(node)}: bias ${formatShape(b.shape)} does not have ${outC} entries`);
      params.push(ctx.param(node, 'bias', b, b.values, [outC]));
    }
    const outputShape = attrs.ints('output_shape', POSITIVE);
    if (outputShape !== undefined) {
      const expected = x.tensor.shape.slice(2).map((s, d) => (s - 1) * strides[d]! - begin[d]! - end[d]! + dilations[d]! * (kernel[d]! - 1) + outputPadding[d]! + 1);
      const given = outputShape.slice(-n);
      if (given.some((s, d) => s !== expected[d])) {
        throw new OnnxImportError(`${describeNode(node)}: output_shape [${given.join(', ')}] differs from the size pads give ([${expected.join(', ')}]); export with explicit pads`);
      }
    }
    if (symmetric(begin, end)) {
      ctx.emit([node], module(b !== undefined), [x], params, node.output[0]!);
      return;
    }
    if (n !== 2) {
      throw new OnnxImportError(`${describeNode(node)}: asymmetric pads [${pads.join(', ')}] are supported for 2-d transposed convolutions only (cropped with ZeroPad2d)`);
    }
    // Pad the common part in the module, crop the rest afterwards.
    const y = ctx.emit([node], module(b !== undefined), [x], params, `${node.output[0]}::uncropped`);
    const crop = new ZeroPad2d([padding[1]! - begin[1]!, padding[1]! - end[1]!, padding[0]! - begin[0]!, padding[0]! - end[0]!]);
    ctx.emit([node], crop, [y], [], node.output[0]!);
  },

  MaxPool(ctx, node) {
    pool(ctx, node, 'max');
  },

  AveragePool(ctx, node) {
    pool(ctx, node, 'average');
  },

  GlobalAveragePool(ctx, node) {
    const x = ctx.data(node, 0);
    const n = x.tensor.rank - 2;
    if (n < 1 || n > 3) throw new OnnxImportError(`${describeNode(node)}: expects [N, C, ...spatial] with 1 to 3 spatial dimensions, got ${formatShape(x.tensor.shape)}`);
    ctx.emit([node], new ADAPTIVE[n - 1]!(1), [x], [], node.output[0]!);
  },

  GlobalMaxPool(ctx, node) {
    const x = ctx.data(node, 0);
    const n = x.tensor.rank - 2;
    if (n < 1 || n > 3) throw new OnnxImportError(`${describeNode(node)}: expects [N, C, ...spatial] with 1 to 3 spatial dimensions, got ${formatShape(x.tensor.shape)}`);
    const spatial = x.tensor.shape.slice(2);
    ctx.emit([node], new MAX_POOL[n - 1]!(spatial, { stride: spatial }), [x], [], node.output[0]!);
  },

  Pad(ctx, node) {
    const attrs = new Attributes(node);
    const mode = attrs.string('mode', 'constant');
    if (mode !== 'constant') throw new OnnxImportError(`${describeNode(node)}: mode '${mode}' is not supported (only constant zero padding is)`);
    const x = ctx.data(node, 0);
    const rank = x.tensor.rank;
    let pads: number[];
    let value = 0;
    if (ctx.opset >= 11) {
      const p = ctx.constant(node, 1, 'pads');
      if (p.batch !== undefined) throw new OnnxImportError(`${describeNode(node)}: pads depend on the batch size`);
      pads = integers(p, 'pads', [-MAX_DIMENSION, MAX_DIMENSION], node);
      const v = ctx.optionalConstant(node, 2, 'constant_value');
      if (v !== undefined) value = v.values[0] ?? 0;
      const axesValue = ctx.optionalConstant(node, 3, 'axes');
      if (axesValue !== undefined) {
        const axes = [...axesValue.values].map((a) => normalizeAxis(a, rank, node));
        const full = new Array<number>(2 * rank).fill(0);
        axes.forEach((a, i) => {
          full[a] = pads[i]!;
          full[a + rank] = pads[i + axes.length]!;
        });
        pads = full;
      }
    } else {
      pads = attrs.ints('pads', [-MAX_DIMENSION, MAX_DIMENSION]) ?? [];
      value = attrs.float('value', 0);
    }
    if (pads.length !== 2 * rank) throw new OnnxImportError(`${describeNode(node)}: pads has ${pads.length} entries for a rank-${rank} input (expected ${2 * rank})`);
    if (value !== 0) throw new OnnxImportError(`${describeNode(node)}: constant value ${value} is not supported (only zero padding is)`);
    const begin = pads.slice(0, rank);
    const end = pads.slice(rank);
    if (begin.every((p) => p === 0) && end.every((p) => p === 0)) {
      ctx.alias(node.output[0]!, x);
      return;
    }
    if (rank < 3 || begin[0] !== 0 || end[0] !== 0 || begin[1] !== 0 || end[1] !== 0) {
      throw new OnnxImportError(`${describeNode(node)}: pads [${pads.join(', ')}] pad the batch or channel dimension; only spatial padding of [N, C, ...spatial] is supported`);
    }
    if (rank === 4) {
      ctx.emit([node], new ZeroPad2d([begin[3]!, end[3]!, begin[2]!, end[2]!]), [x], [], node.output[0]!);
      return;
    }
    const consumer = ctx.soleConsumer(node.output[0]!);
    const spatialBegin = begin.slice(2);
    if (consumer !== undefined && (consumer.opType === 'Conv' || consumer.opType === 'AveragePool') && symmetric(spatialBegin, end.slice(2)) && spatialBegin.every((p) => p >= 0)) {
      ctx.alias(node.output[0]!, { kind: 'pad', source: x, spatial: spatialBegin, node });
      return;
    }
    throw new OnnxImportError(
      `${describeNode(node)}: zero padding of a ${rank - 2}-d input is supported only as symmetric padding right before a Conv or AveragePool (core has ZeroPad2d for 2-d inputs only)`,
    );
  },

  Flatten(ctx, node) {
    const value = ctx.value(node, 0);
    if (value?.kind === 'const') {
      const rank = value.shape.length;
      const axis = new Attributes(node).int('axis', 1);
      const a = axis < 0 ? axis + rank : axis;
      ctx.setConst(node.output[0]!, { ...value, shape: [product(value.shape.slice(0, a)), product(value.shape.slice(a))], source: undefined });
      return;
    }
    const x = ctx.data(node, 0);
    const rank = x.tensor.rank;
    const axisAttr = new Attributes(node).int('axis', 1);
    const axis = axisAttr < 0 ? axisAttr + rank : axisAttr;
    if (axis < 1 || axis > rank) throw new OnnxImportError(`${describeNode(node)}: axis ${axisAttr} merges the batch dimension of ${formatShape(x.tensor.shape)} with others; only axis >= 1 is supported`);
    if (x.tensor.shape.slice(1, axis).some((d) => d !== 1)) {
      throw new OnnxImportError(`${describeNode(node)}: axis ${axisAttr} merges the batch with dimensions of ${formatShape(x.tensor.shape)} that are not 1`);
    }
    if (rank === 2) {
      ctx.alias(node.output[0]!, x);
      return;
    }
    ctx.emit([node], new Flatten(1, -1), [x], [], node.output[0]!);
  },

  Reshape(ctx, node) {
    const value = ctx.value(node, 0);
    const shapeValue = ctx.constant(node, 1, 'the target shape');
    const allowZero = new Attributes(node).int('allowzero', 0) !== 0;
    const inShape = value?.kind === 'data' ? value.tensor.shape : value?.kind === 'const' ? value.shape : undefined;
    if (inShape === undefined) throw new OnnxImportError(`${describeNode(node)}: the data input is missing`);
    const target = integers(shapeValue, 'the target shape', [-1, MAX_DIMENSION], node).map((d, i) => (d === 0 && !allowZero ? inShape[i]! : d));
    const known = product(target.filter((d) => d !== -1));
    const total = product(inShape);
    const inferred = target.map((d) => (d === -1 ? (known === 0 ? 0 : total / known) : d));
    if (product(inferred) !== total || inferred.some((d) => !Number.isInteger(d) || d < 0)) {
      throw new OnnxImportError(`${describeNode(node)}: cannot reshape ${formatShape(inShape)} to [${[...shapeValue.values].join(', ')}]`);
    }
    if (value!.kind === 'const') {
      ctx.setConst(node.output[0]!, { shape: inferred, values: value!.values, dataType: value!.dataType, ...(value!.batch && { batch: value!.batch }) });
      return;
    }
    const first = shapeValue.values[0];
    const literalBatch = first !== undefined && first !== -1 && !(first === 0 && !allowZero) && !shapeValue.batch?.[0];
    if (literalBatch && ctx.batchIsSymbolic) {
      throw new OnnxImportError(
        `${describeNode(node)}: the target shape [${[...shapeValue.values].join(', ')}] fixes the first dimension to ${first}, but the batch size is dynamic; only reshapes that keep the batch dimension (as x.view(x.size(0), -1) exports) are supported`,
      );
    }
    flattenTo(ctx, node, ctx.data(node, 0), inferred);
  },

  Squeeze(ctx, node) {
    const value = ctx.value(node, 0);
    const inShape = value?.kind === 'data' ? value.tensor.shape : value?.kind === 'const' ? value.shape : undefined;
    if (inShape === undefined) throw new OnnxImportError(`${describeNode(node)}: the data input is missing`);
    const axesValue = ctx.opset >= 13 ? ctx.optionalConstant(node, 1, 'axes') : undefined;
    const axesList = ctx.opset >= 13 ? (axesValue === undefined ? undefined : [...axesValue.values]) : new Attributes(node).ints('axes');
    const axes = axesList === undefined ? inShape.map((d, i) => (d === 1 ? i : -1)).filter((i) => i >= 0) : axesList.map((a) => normalizeAxis(a, inShape.length, node));
    if (axes.some((a) => inShape[a] !== 1)) throw new OnnxImportError(`${describeNode(node)}: cannot squeeze axes [${axes.join(', ')}] of ${formatShape(inShape)} (not of size 1)`);
    const outShape = inShape.filter((_, i) => !axes.includes(i));
    if (value!.kind === 'const') {
      ctx.setConst(node.output[0]!, { shape: outShape, values: value!.values, dataType: value!.dataType, ...(value!.batch && { batch: value!.batch }) });
      return;
    }
    if (axes.includes(0)) throw new OnnxImportError(`${describeNode(node)}: squeezing axis 0 removes the batch dimension of ${formatShape(inShape)}`);
    flattenTo(ctx, node, ctx.data(node, 0), outShape);
  },

  Unsqueeze(ctx, node) {
    const value = ctx.value(node, 0);
    const axesList = ctx.opset >= 13 ? [...ctx.constant(node, 1, 'axes').values] : (new Attributes(node).ints('axes') ?? []);
    if (value?.kind !== 'const') {
      throw new OnnxImportError(`${describeNode(node)}: Unsqueeze of data adds dimensions, which is not a flattening; only Unsqueeze of constants (shape computations) is supported`);
    }
    const rank = value.shape.length + axesList.length;
    const axes = axesList.map((a) => normalizeAxis(a, rank, node));
    const shape: number[] = [];
    let next = 0;
    for (let i = 0; i < rank; i++) shape.push(axes.includes(i) ? 1 : value.shape[next++]!);
    ctx.setConst(node.output[0]!, { shape, values: value.values, dataType: value.dataType, ...(value.batch && { batch: value.batch }) });
  },

  BatchNormalization(ctx, node) {
    const attrs = new Attributes(node);
    if (attrs.int('training_mode', 0) !== 0 || node.output.slice(1).some((o) => ctx.isLive(o))) {
      throw new OnnxImportError(`${describeNode(node)}: training mode (batch statistics as outputs) is not supported; export the model in evaluation mode`);
    }
    const x = ctx.data(node, 0);
    const rank = x.tensor.rank;
    if (rank < 2 || rank > 5) throw new OnnxImportError(`${describeNode(node)}: input ${formatShape(x.tensor.shape)} must be [N, C] or [N, C, ...spatial] with up to 3 spatial dimensions`);
    const channels = x.tensor.shape[1]!;
    const names = ['scale', 'B', 'input_mean', 'input_var'] as const;
    const locals = ['weight', 'bias', 'running_mean', 'running_var'] as const;
    const params = names.map((name, i) => {
      const c = ctx.constant(node, i + 1, name);
      if (product(c.shape) !== channels) throw new OnnxImportError(`${describeNode(node)}: ${name} ${formatShape(c.shape)} does not have ${channels} entries`);
      return ctx.param(node, locals[i]!, c, c.values, [channels]);
    });
    const momentum = 1 - attrs.float('momentum', 0.9);
    const BatchNorm = BATCH_NORM[rank - 2]!;
    const module = new BatchNorm(channels, {
      eps: attrs.float('epsilon', 1e-5),
      momentum: momentum >= 0 && momentum <= 1 ? momentum : 0.1,
      backend: ctx.backend,
      dtype: ctx.dtype,
    });
    ctx.emit([node], module, [x], params, node.output[0]!);
  },

  Gather(ctx, node) {
    const data = ctx.value(node, 0);
    const indices = ctx.value(node, 1);
    const axisAttr = new Attributes(node).int('axis', 0);
    if (data?.kind === 'const' && indices?.kind === 'const') {
      constGather(ctx, node, data, indices, axisAttr);
      return;
    }
    if (data?.kind !== 'const' || indices?.kind !== 'data') {
      throw new OnnxImportError(`${describeNode(node)}: Gather is supported on an initializer with data indices (an embedding) or on constants; here the ${data?.kind === 'const' ? 'indices are not data' : 'gathered tensor is computed from the model input'}`);
    }
    if (data.shape.length !== 2 || normalizeAxis(axisAttr, 2, node) !== 0) {
      throw new OnnxImportError(`${describeNode(node)}: an embedding gathers rows (axis 0) of a 2-d table; got axis ${axisAttr} of ${formatShape(data.shape)}`);
    }
    if (indices.tensor.dtype !== 'int32') throw new OnnxImportError(`${describeNode(node)}: indices must be integers, got ${indices.tensor.dtype}`);
    const [count, dim] = [data.shape[0]!, data.shape[1]!];
    const module = new Embedding(count, dim, { backend: ctx.backend, dtype: ctx.dtype, generator: ctx.generator });
    ctx.emit([node], module, [indices], [ctx.param(node, 'weight', data, data.values, data.shape)], node.output[0]!);
  },

  Relu: activation(() => new ReLU()),
  Tanh: activation(() => new Tanh()),
  LeakyRelu: activation((attrs) => new LeakyReLU(attrs.float('alpha', 0.01))),
  Elu: activation((attrs) => new ELU(attrs.float('alpha', 1))),
  Selu: activation((attrs, node) => {
    const alpha = attrs.float('alpha', 1.6732632423543772);
    const gamma = attrs.float('gamma', 1.0507009873554805);
    if (Math.abs(alpha - 1.6732632423543772) > 1e-6 || Math.abs(gamma - 1.0507009873554805) > 1e-6) {
      throw new OnnxImportError(`${describeNode(node)}: alpha ${alpha} and gamma ${gamma} differ from SELU's constants (1.6733, 1.0507); only SELU is supported`);
    }
    return new SELU();
  }),

  Sigmoid(ctx, node) {
    const x = ctx.data(node, 0);
    const log = ctx.soleConsumer(node.output[0]!);
    if (log?.opType === 'Log') {
      ctx.consumed.add(log);
      ctx.emit([node, log], new LogSigmoid(), [x], [], log.output[0]!);
      return;
    }
    ctx.emit([node], new Sigmoid(), [x], [], node.output[0]!);
  },

  Neg(ctx, node) {
    const value = ctx.value(node, 0);
    if (value?.kind === 'const') return constUnary(ctx, node, (v) => -v);
    const softplus = ctx.soleConsumer(node.output[0]!);
    const neg = softplus?.opType === 'Softplus' ? ctx.soleConsumer(softplus.output[0]!) : undefined;
    if (softplus === undefined || neg?.opType !== 'Neg') {
      throw new OnnxImportError(`${describeNode(node)}: Neg of data is supported only as -Softplus(-x) (LogSigmoid)`);
    }
    ctx.consumed.add(softplus);
    ctx.consumed.add(neg);
    ctx.emit([node, softplus, neg], new LogSigmoid(), [ctx.data(node, 0)], [], neg.output[0]!);
  },

  Softplus(_ctx, node) {
    throw new OnnxImportError(`${describeNode(node)}: Softplus is supported only as -Softplus(-x) (LogSigmoid); core has no Softplus module`);
  },

  Log(ctx, node) {
    if (ctx.value(node, 0)?.kind === 'const') return constUnary(ctx, node, Math.log);
    throw new OnnxImportError(`${describeNode(node)}: Log is supported only as Log(Sigmoid(x)) (LogSigmoid)`);
  },

  Identity(ctx, node) {
    const value = ctx.value(node, 0);
    if (value === undefined) throw new OnnxImportError(`${describeNode(node)}: the input is missing`);
    ctx.alias(node.output[0]!, value);
  },

  Dropout(ctx, node) {
    if (node.output.slice(1).some((o) => ctx.isLive(o))) {
      throw new OnnxImportError(`${describeNode(node)}: the dropout mask output is used; only inference-mode Dropout is supported`);
    }
    const attrs = new Attributes(node);
    const training = ctx.opset >= 12 ? ctx.optionalConstant(node, 2, 'training_mode') : undefined;
    if (training !== undefined && training.values[0] !== 0) {
      throw new OnnxImportError(`${describeNode(node)}: training_mode is true; only inference-mode Dropout is supported`);
    }
    const ratioValue = ctx.opset >= 12 ? ctx.optionalConstant(node, 1, 'ratio') : undefined;
    const ratio = ratioValue !== undefined ? unroundFloat32(ratioValue.values[0]!) : attrs.float('ratio', 0.5);
    ctx.emit([node], new Dropout(ratio), [ctx.data(node, 0)], [], node.output[0]!);
  },

  Cast(ctx, node) {
    const to = new Attributes(node).int('to', 0);
    const value = ctx.value(node, 0);
    if (value?.kind === 'const') {
      const values = isIntType(to) ? mapConstant(ctx, node, value, Math.trunc) : value.values;
      ctx.setConst(node.output[0]!, { shape: value.shape, values, dataType: to, ...(value.batch && { batch: value.batch }) });
      return;
    }
    const x = ctx.data(node, 0);
    const dataIsFloat = x.tensor.dtype !== 'int32';
    if (dataIsFloat && isFloatType(to)) ctx.alias(node.output[0]!, x);
    else if (!dataIsFloat && isIntType(to)) ctx.alias(node.output[0]!, x);
    else throw new OnnxImportError(`${describeNode(node)}: casting ${x.tensor.dtype} data to ${dataTypeName(to)} is not supported`);
  },

  Constant(ctx, node) {
    const attrs = new Attributes(node);
    const name = node.output[0]!;
    const t = attrs.get('value')?.t;
    if (t !== undefined) {
      ctx.setConst(name, { ...tensorValue(t, `${describeNode(node)}: tensor '${t.name || name}'`, ctx.tensors), source: name });
      return;
    }
    const f = attrs.get('value_float');
    const fs = attrs.get('value_floats');
    const i = attrs.get('value_int');
    const is = attrs.get('value_ints');
    if (f?.f !== undefined) ctx.setConst(name, { shape: [], values: Float64Array.of(f.f), dataType: DataType.FLOAT, source: name });
    else if (fs !== undefined) ctx.setConst(name, { shape: [fs.floats.length], values: Float64Array.from(fs.floats), dataType: DataType.FLOAT, source: name });
    else if (i?.i !== undefined) ctx.setConst(name, { shape: [], values: Float64Array.of(i.i), dataType: DataType.INT64, source: name });
    else if (is !== undefined) ctx.setConst(name, { shape: [is.ints.length], values: Float64Array.from(is.ints), dataType: DataType.INT64, source: name });
    else throw new OnnxImportError(`${describeNode(node)}: only numeric tensor constants are supported (value, value_float(s), value_int(s))`);
  },

  Shape(ctx, node) {
    const value = ctx.value(node, 0);
    const attrs = new Attributes(node);
    let shape: readonly number[];
    let batch: boolean[];
    if (value?.kind === 'data') {
      shape = value.tensor.shape;
      batch = shape.map((_, i) => i === 0);
    } else if (value?.kind === 'const') {
      shape = value.shape;
      batch = shape.map(() => false);
    } else throw new OnnxImportError(`${describeNode(node)}: the input is missing`);
    const rank = shape.length;
    const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + rank : v, 0), rank);
    const start = clamp(attrs.int('start', 0));
    const end = clamp(attrs.int('end', rank));
    const dims = shape.slice(start, end);
    const mask = batch.slice(start, end);
    ctx.setConst(node.output[0]!, { shape: [dims.length], values: Float64Array.from(dims), dataType: DataType.INT64, ...(mask.some((b) => b) && { batch: mask }) });
  },

  Concat(ctx, node) {
    const axisAttr = new Attributes(node).int('axis', 0);
    const parts = node.input.map((_, i) => ctx.value(node, i));
    if (parts.some((p) => p?.kind !== 'const')) {
      throw new OnnxImportError(`${describeNode(node)}: Concat of data tensors is not supported (only of constants, e.g. in shape computations)`);
    }
    const consts = parts as ConstValue[];
    if (consts.length === 0) throw new OnnxImportError(`${describeNode(node)}: Concat without inputs`);
    const rank = consts[0]!.shape.length;
    const axis = normalizeAxis(axisAttr, rank, node);
    const outShape = [...consts[0]!.shape];
    if (consts.some((c) => c.shape.length !== rank || c.shape.some((d, i) => i !== axis && d !== outShape[i]))) {
      throw new OnnxImportError(`${describeNode(node)}: shapes ${consts.map((c) => formatShape(c.shape)).join(', ')} differ outside axis ${axis}`);
    }
    outShape[axis] = consts.reduce((s, c) => s + c.shape[axis]!, 0);
    const { values, batch } = ctx.constantOutput(node, outShape, consts.some((c) => c.batch !== undefined));
    const outer = product(outShape.slice(0, axis));
    let at = 0;
    for (let o = 0; o < outer; o++) {
      for (const c of consts) {
        const block = product(c.shape.slice(axis));
        values.set(c.values.subarray(o * block, (o + 1) * block), at);
        if (batch !== undefined && c.batch !== undefined) for (let k = 0; k < block; k++) batch[at + k] = c.batch[o * block + k]!;
        at += block;
      }
    }
    ctx.setConst(node.output[0]!, { shape: outShape, values, dataType: consts[0]!.dataType, ...(batch?.some((b) => b) && { batch }) });
  },

  Slice(ctx, node) {
    const value = ctx.value(node, 0);
    if (value?.kind !== 'const') throw new OnnxImportError(`${describeNode(node)}: Slice of data is not supported (only of constants, e.g. in shape computations)`);
    const attrs = new Attributes(node);
    const rank = value.shape.length;
    const list = (i: number, name: string) => {
      const values = ctx.opset >= 10 ? (node.input[i] ? [...ctx.constant(node, i, name).values] : undefined) : attrs.ints(name);
      // Any integer: starts and ends beyond the dimension (INT64_MAX, "to the end") are clamped.
      if (values !== undefined && values.some((v) => !Number.isInteger(v))) {
        throw new OnnxImportError(`${describeNode(node)}: ${name} [${values.join(', ')}] must hold integers`);
      }
      return values;
    };
    const starts = list(1, 'starts');
    const ends = list(2, 'ends');
    if (starts === undefined || ends === undefined) throw new OnnxImportError(`${describeNode(node)}: starts and ends are required`);
    const axes = (list(3, 'axes') ?? starts.map((_, i) => i)).map((a) => normalizeAxis(a, rank, node));
    const steps = list(4, 'steps') ?? starts.map(() => 1);
    if (ends.length !== starts.length || axes.length !== starts.length || steps.length !== starts.length) {
      throw new OnnxImportError(
        `${describeNode(node)}: starts, ends, axes and steps have ${starts.length}, ${ends.length}, ${axes.length} and ${steps.length} entries; they must have one each per sliced axis`,
      );
    }
    const begin = value.shape.map(() => 0);
    const step = value.shape.map(() => 1);
    const size = [...value.shape];
    axes.forEach((a, i) => {
      const dim = value.shape[a]!;
      const s = steps[i]!;
      if (s === 0) throw new OnnxImportError(`${describeNode(node)}: step 0 on axis ${a}`);
      const clampIdx = (v: number, lo: number, hi: number) => Math.min(Math.max(v < 0 ? v + dim : v, lo), hi);
      const b = s > 0 ? clampIdx(starts[i]!, 0, dim) : clampIdx(starts[i]!, -1, dim - 1);
      const e = s > 0 ? clampIdx(ends[i]!, 0, dim) : clampIdx(ends[i]!, -1, dim - 1);
      begin[a] = b;
      step[a] = s;
      size[a] = Math.max(0, Math.ceil((e - b) / s));
    });
    const inStrides = stridesOf(value.shape);
    const { values, batch } = ctx.constantOutput(node, size, value.batch !== undefined);
    const outStrides = stridesOf(size);
    for (let flat = 0; flat < values.length; flat++) {
      let src = 0;
      for (let d = 0; d < rank; d++) {
        const idx = Math.floor(flat / outStrides[d]!) % size[d]!;
        src += (begin[d]! + idx * step[d]!) * inStrides[d]!;
      }
      values[flat] = value.values[src]!;
      if (batch !== undefined) batch[flat] = value.batch![src]!;
    }
    ctx.setConst(node.output[0]!, { shape: size, values, dataType: value.dataType, ...(batch?.some((b) => b) && { batch }) });
  },

  Add(ctx, node) {
    binary(ctx, node, 'Add');
  },
  Sum(ctx, node) {
    binary(ctx, node, 'Sum');
  },
  Sub(ctx, node) {
    binary(ctx, node, 'Sub');
  },
  Mul(ctx, node) {
    binary(ctx, node, 'Mul');
  },
  Div(ctx, node) {
    binary(ctx, node, 'Div');
  },
} satisfies Record<string, Handler>));

function activation(make: (attrs: Attributes, node: NodeProto) => LeafModule): Handler {
  return (ctx, node) => {
    const x = ctx.data(node, 0);
    ctx.emit([node], make(new Attributes(node), node), [x], [], node.output[0]!);
  };
}

function pool(ctx: Importer, node: NodeProto, kind: 'max' | 'average'): void {
  const attrs = new Attributes(node);
  if (kind === 'max' && ctx.isLive(node.output[1])) {
    throw new OnnxImportError(`${describeNode(node)}: the Indices output is used; only the pooled values are supported`);
  }
  const { x: input, extra, padNode } = kind === 'average' ? paddedInput(ctx, node) : { x: ctx.data(node, 0), extra: undefined, padNode: undefined };
  const n = input.tensor.rank - 2;
  if (n < 1 || n > 3) throw new OnnxImportError(`${describeNode(node)}: expects [N, C, ...spatial] with 1 to 3 spatial dimensions, got ${formatShape(input.tensor.shape)}`);
  const kernel = attrs.ints('kernel_shape', POSITIVE);
  if (kernel === undefined || kernel.length !== n) throw new OnnxImportError(`${describeNode(node)}: kernel_shape must have ${n} entries`);
  const strides = spatialTuple(attrs, 'strides', n, 1, node, POSITIVE);
  const dilations = spatialTuple(attrs, 'dilations', n, 1, node, POSITIVE);
  if (kind === 'average' && dilations.some((d) => d !== 1)) throw new OnnxImportError(`${describeNode(node)}: dilated average pooling is not supported`);
  const spatial = input.tensor.shape.slice(2);
  const { begin, end } = resolvePads(node, attrs, spatial.map((s, d) => s + 2 * (extra?.[d] ?? 0)), kernel, strides, dilations);
  let countIncludePad = attrs.int('count_include_pad', 0) !== 0;
  let padding = begin;
  let x = input;
  if (extra !== undefined) {
    if (begin.some((p, d) => p !== 0 || end[d] !== 0) && !countIncludePad) {
      throw new OnnxImportError(`${describeNode(node)}: a Pad before an AveragePool that pads again without count_include_pad cannot be expressed`);
    }
    padding = begin.map((p, d) => p + extra[d]!);
    countIncludePad = true;
  } else if (!symmetric(begin, end)) {
    if (kind === 'average' && countIncludePad && n === 2) {
      x = zeroPad2d(ctx, node, x, begin, end);
      padding = [0, 0];
    } else {
      throw new OnnxImportError(`${describeNode(node)}: asymmetric pads [${[...begin, ...end].join(', ')}] are not supported here (only for 2-d average pooling with count_include_pad = 1)`);
    }
  }
  if (attrs.int('ceil_mode', 0) !== 0) {
    const padded = x.tensor.shape.slice(2).map((s, d) => s + 2 * padding[d]!);
    padded.forEach((size, d) => {
      const extent = (kernel[d]! - 1) * dilations[d]! + 1;
      const floorOut = Math.floor((size - extent) / strides[d]!) + 1;
      let ceilOut = Math.ceil((size - extent) / strides[d]!) + 1;
      if ((ceilOut - 1) * strides[d]! >= size - padding[d]!) ceilOut--;
      if (ceilOut !== floorOut) {
        throw new OnnxImportError(`${describeNode(node)}: ceil_mode = 1 gives a larger output (${ceilOut} instead of ${floorOut} in spatial dimension ${d}); only sizes where ceil and floor agree are supported`);
      }
    });
  }
  const module =
    kind === 'max'
      ? new MAX_POOL[n - 1]!(kernel, { stride: strides, padding, dilation: dilations })
      : new AVG_POOL[n - 1]!(kernel, { stride: strides, padding, countIncludePad });
  ctx.emit(padNode === undefined ? [node] : [padNode, node], module, [x], [], node.output[0]!);
}

/** Maps a reshape of data to Flatten(start, end) (or nothing), or refuses it. */
function flattenTo(ctx: Importer, node: NodeProto, x: DataValue, outShape: readonly number[]): void {
  const inShape = x.tensor.shape;
  if (outShape.length === inShape.length && outShape.every((d, i) => d === inShape[i])) {
    ctx.alias(node.output[0]!, x);
    return;
  }
  if (outShape[0] !== inShape[0]) {
    throw new OnnxImportError(`${describeNode(node)}: reshaping ${formatShape(inShape)} to ${formatShape(outShape)} changes the batch dimension (trace batch ${ctx.traceBatch}); only flattening after the batch is supported`);
  }
  for (let start = 1; start < inShape.length; start++) {
    for (let end = start; end < inShape.length; end++) {
      const merged = [...inShape.slice(0, start), product(inShape.slice(start, end + 1)), ...inShape.slice(end + 1)];
      if (merged.length === outShape.length && merged.every((d, i) => d === outShape[i])) {
        ctx.emit([node], new Flatten(start, end), [x], [], node.output[0]!);
        return;
      }
    }
  }
  throw new OnnxImportError(
    `${describeNode(node)}: reshaping ${formatShape(inShape)} to ${formatShape(outShape)} is not a flattening; only reshapes that merge consecutive dimensions after the batch are supported`,
  );
}

/** `f` of every value of the constant `value`, into memory reserved for `node`. */
function mapConstant(ctx: Importer, node: NodeProto, value: ConstValue, f: (v: number) => number): Float64Array {
  const { values } = ctx.constantOutput(node, value.shape, false);
  for (let i = 0; i < values.length; i++) values[i] = f(value.values[i]!);
  return values;
}

function constUnary(ctx: Importer, node: NodeProto, f: (v: number) => number): void {
  const value = ctx.constant(node, 0, 'the input');
  if (value.batch?.some((b) => b)) throw new OnnxImportError(`${describeNode(node)}: arithmetic on the batch size is not supported`);
  ctx.setConst(node.output[0]!, { shape: value.shape, values: mapConstant(ctx, node, value, f), dataType: value.dataType });
}

/** Elementwise arithmetic on constants (NumPy broadcasting), and MatMul of two constants. */
function constBinary(ctx: Importer, node: NodeProto, op: string): void {
  const operands = node.input.map((_, i) => ctx.constant(node, i, `input ${i}`));
  if (operands.some((c) => c.batch?.some((b) => b))) {
    throw new OnnxImportError(`${describeNode(node)}: arithmetic on the batch size is not supported (shape computations may only select and concatenate dimensions)`);
  }
  if (op === 'MatMul') {
    const [a, b] = operands as [ConstValue, ConstValue];
    if (a.shape.length !== 2 || b.shape.length !== 2 || a.shape[1] !== b.shape[0]) throw new OnnxImportError(`${describeNode(node)}: only 2-d constant MatMul is supported`);
    const [m, k, n] = [a.shape[0]!, a.shape[1]!, b.shape[1]!];
    const { values } = ctx.constantOutput(node, [m, n], false);
    for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
      let s = 0;
      for (let l = 0; l < k; l++) s += a.values[i * k + l]! * b.values[l * n + j]!;
      values[i * n + j] = s;
    }
    ctx.setConst(node.output[0]!, { shape: [m, n], values, dataType: a.dataType });
    return;
  }
  const intDivision = isIntType(operands[0]!.dataType);
  const f: (a: number, b: number) => number =
    op === 'Sub' ? (a, b) => a - b : op === 'Mul' ? (a, b) => a * b : op === 'Div' ? (a, b) => (intDivision ? Math.trunc(a / b) : a / b) : (a, b) => a + b;
  const rank = Math.max(...operands.map((c) => c.shape.length));
  const aligned = operands.map((c) => [...new Array<number>(rank - c.shape.length).fill(1), ...c.shape]);
  const outShape = Array.from({ length: rank }, (_, d) => Math.max(...aligned.map((s) => s[d]!)));
  if (aligned.some((s) => s.some((dim, d) => dim !== 1 && dim !== outShape[d]))) {
    throw new OnnxImportError(`${describeNode(node)}: shapes ${operands.map((c) => formatShape(c.shape)).join(', ')} do not broadcast`);
  }
  const { values } = ctx.constantOutput(node, outShape, false);
  // Row by row (the last dimension), one operand after the other: tight loops for large broadcasts.
  const row = rank === 0 ? 1 : outShape[rank - 1]!;
  const outer = rank === 0 ? [] : outShape.slice(0, -1);
  // Each operand's strides in the output's index space: 0 along the dimensions it is broadcast in.
  const strides = aligned.map((shape) => stridesOf(shape).map((stride, d) => (shape[d] === 1 ? 0 : stride)));
  const steps = strides.map((s) => (rank === 0 ? 0 : s[rank - 1]!));
  const index = new Array<number>(outer.length).fill(0);
  const offsets = new Array<number>(operands.length).fill(0);
  for (let start = 0; start < values.length; start += row) {
    for (let o = 0; o < operands.length; o++) {
      const [source, step, at] = [operands[o]!.values, steps[o]!, offsets[o]!];
      if (o === 0) for (let j = 0; j < row; j++) values[start + j] = source[at + j * step]!;
      else for (let j = 0; j < row; j++) values[start + j] = f(values[start + j]!, source[at + j * step]!);
    }
    // The next row's index, its last dimension fastest; the offsets follow.
    for (let d = outer.length - 1; d >= 0; d--) {
      index[d]!++;
      for (let o = 0; o < operands.length; o++) offsets[o]! += strides[o]![d]!;
      if (index[d]! < outer[d]!) break;
      for (let o = 0; o < operands.length; o++) offsets[o]! -= strides[o]![d]! * outer[d]!;
      index[d] = 0;
    }
  }
  ctx.setConst(node.output[0]!, { shape: outShape, values, dataType: operands[0]!.dataType });
}

function binary(ctx: Importer, node: NodeProto, op: string): void {
  if (node.input.length === 0) throw new OnnxImportError(`${describeNode(node)}: ${op} without inputs`);
  const operands = node.input.map((_, i) => ctx.value(node, i));
  if (operands.every((v) => v?.kind === 'const')) {
    constBinary(ctx, node, op);
    return;
  }
  const isAdd = op === 'Add' || op === 'Sum';
  if (!isAdd) throw new OnnxImportError(`${describeNode(node)}: ${op} of data is not supported (only of constants)`);
  if (operands.some((v) => v?.kind !== 'data')) {
    throw new OnnxImportError(`${describeNode(node)}: adding a constant to data is supported only as the bias right after MatMul, Gemm or Conv (whose output feeds nothing else)`);
  }
  const inputs = operands as DataValue[];
  if (inputs.length === 1) {
    ctx.alias(node.output[0]!, inputs[0]!);
    return;
  }
  const first = inputs[0]!.tensor.shape;
  const bad = inputs.find((v) => v.tensor.shape.length !== first.length || v.tensor.shape.some((d, i) => d !== first[i]));
  if (bad !== undefined) {
    throw new OnnxImportError(`${describeNode(node)}: residual ${op} needs branches of equal shape, got ${inputs.map((v) => formatShape(v.tensor.shape)).join(' and ')} (broadcasting is not supported)`);
  }
  ctx.emit([node], new Add(), inputs, [], node.output[0]!);
}

function constGather(ctx: Importer, node: NodeProto, data: ConstValue, indices: ConstValue, axisAttr: number): void {
  const rank = data.shape.length;
  const axis = normalizeAxis(axisAttr, Math.max(rank, 1), node);
  const dim = data.shape[axis]!;
  const outer = product(data.shape.slice(0, axis));
  const inner = product(data.shape.slice(axis + 1));
  const idx = [...indices.values].map((i) => {
    const j = i < 0 ? i + dim : i;
    if (!(j >= 0 && j < dim)) throw new OnnxImportError(`${describeNode(node)}: index ${i} is out of range for dimension ${dim}`);
    return j;
  });
  const shape = [...data.shape.slice(0, axis), ...indices.shape, ...data.shape.slice(axis + 1)];
  const { values, batch } = ctx.constantOutput(node, shape, data.batch !== undefined);
  let at = 0;
  for (let o = 0; o < outer; o++) {
    for (const j of idx) {
      const src = (o * dim + j) * inner;
      values.set(data.values.subarray(src, src + inner), at);
      if (batch !== undefined) for (let k = 0; k < inner; k++) batch[at + k] = data.batch![src + k]!;
      at += inner;
    }
  }
  ctx.setConst(node.output[0]!, { shape, values, dataType: data.dataType, ...(batch?.some((b) => b) && { batch }) });
}

// ---------------------------------------------------------------- naming

/** A tree of planned paths: scopes (containers) and leaves. */
class PathPlan {
  private readonly kinds = new Map<string, 'scope' | 'leaf'>();

  /** Whether a leaf can be placed at the dotted path `path`. */
  canPlace(path: string): boolean {
    const parts = path.split('.');
    if (parts.some((p) => p === '')) return false;
    for (let i = 1; i < parts.length; i++) {
      if (this.kinds.get(parts.slice(0, i).join('.')) === 'leaf') return false;
    }
    return !this.kinds.has(path);
  }

  place(path: string): void {
    const parts = path.split('.');
    for (let i = 1; i < parts.length; i++) this.kinds.set(parts.slice(0, i).join('.'), 'scope');
    this.kinds.set(path, 'leaf');
  }

  /** A free root-level name based on `base` (dots replaced). */
  uniqueRoot(base: string): string {
    const clean = base.replace(/^\/+/, '').replace(/[./]/g, '_') || 'node';
    let name = clean;
    for (let k = 2; !this.canPlace(name); k++) name = `${clean}_${k}`;
    return name;
  }
}

interface Placement {
  readonly path: string;
  /** Internal dotted name -> name shown (only where they differ). */
  readonly exposed: ReadonlyMap<string, string>;
  /** Shown name -> source. */
  readonly sources: ReadonlyMap<string, OnnxParameterSource>;
}

function plan(built: readonly BuiltModule[]): Placement[] {
  const paths = new PathPlan();
  const placements = new Array<Placement | undefined>(built.length);
  // Modules with parameters first: their paths give the parameters their ONNX names.
  built.forEach((b, i) => {
    if (b.params.length === 0) return;
    const names = b.params.map((p) => p.source.initializer);
    const prefixes = new Set(b.params.map((p) => (p.source.initializer.endsWith(`.${p.local}`) ? p.source.initializer.slice(0, -p.local.length - 1) : undefined)));
    const direct = prefixes.size === 1 ? [...prefixes][0] : undefined;
    const scope = torchScope(b.nodes[0]!.name);
    let path: string | undefined;
    if (direct !== undefined && paths.canPlace(direct)) path = direct;
    else if (
      scope !== undefined &&
      paths.canPlace(scope) &&
      b.params.every((p) => p.source.initializer === `${scope}.${p.local}` || isAnonymous(p.source.initializer))
    ) {
      path = scope;
    }
    const exposed = new Map<string, string>();
    const sources = new Map<string, OnnxParameterSource>();
    if (path !== undefined) {
      for (const p of b.params) sources.set(`${path}.${p.local}`, p.source);
    } else {
      path = paths.uniqueRoot(b.nodes[0]!.name || `${b.nodes[0]!.opType}_${i}`);
      b.params.forEach((p, j) => {
        exposed.set(`${path}.${p.local}`, names[j]!);
        sources.set(names[j]!, p.source);
      });
    }
    paths.place(path);
    placements[i] = { path, exposed, sources };
  });
  built.forEach((b, i) => {
    if (b.params.length > 0) return;
    const scope = torchScope(b.nodes[0]!.name);
    const path = scope !== undefined && paths.canPlace(scope) ? scope : paths.uniqueRoot(b.nodes[0]!.name || `${b.nodes[0]!.opType}_${i}`);
    paths.place(path);
    placements[i] = { path, exposed: new Map(), sources: new Map() };
  });
  return placements as Placement[];
}

function buildTree(built: readonly BuiltModule[], placements: readonly Placement[]): OnnxScope {
  const root = new OnnxScope();
  built.forEach((b, i) => {
    const parts = placements[i]!.path.split('.');
    let scope = root;
    for (const part of parts.slice(0, -1)) {
      const existing = scope.child(part);
      scope = existing instanceof OnnxScope ? existing : scope.add(part, new OnnxScope());
    }
    scope.add(parts[parts.length - 1]!, b.module);
  });
  return root;
}

// ---------------------------------------------------------------- entry point

function graphOrder(nodes: readonly NodeProto[], available: ReadonlySet<string>, outputs: readonly string[]): NodeProto[] {
  const producer = new Map<string, NodeProto>();
  for (const node of nodes) {
    for (const out of node.output) {
      if (out === '') continue;
      if (producer.has(out) || available.has(out)) {
        throw new OnnxImportError(`${describeNode(node)}: value '${out}' is produced twice (the graph is not valid ONNX)`);
      }
      producer.set(out, node);
    }
  }
  // Live nodes: those the outputs depend on.
  const live = new Set<NodeProto>();
  const stack = [...outputs];
  while (stack.length > 0) {
    const name = stack.pop()!;
    const node = producer.get(name);
    if (node === undefined || live.has(node)) continue;
    live.add(node);
    for (const input of node.input) if (input !== '') stack.push(input);
  }
  // Topological order, keeping the file's order among ready nodes: passes over
  // the pending nodes (one pass for the sorted graphs ONNX requires).
  const order: NodeProto[] = [];
  const done = new Set<string>(available);
  let pending = nodes.filter((n) => live.has(n));
  while (pending.length > 0) {
    const waiting: NodeProto[] = [];
    for (const node of pending) {
      if (node.input.every((i) => i === '' || done.has(i))) {
        order.push(node);
        for (const out of node.output) if (out !== '') done.add(out);
      } else waiting.push(node);
    }
    if (waiting.length === pending.length) {
      const node = waiting[0]!;
      const missing = node.input.find((i) => i !== '' && !done.has(i))!;
      throw new OnnxImportError(
        producer.has(missing)
          ? `${describeNode(node)}: the graph has a cycle through '${missing}'`
          : `${describeNode(node)}: input '${missing}' is not produced by any node, initializer or graph input`,
      );
    }
    pending = waiting;
  }
  return order;
}

/**
 * Imports an ONNX model (its bytes, or the path of a `.onnx` file) as a core
 * module with the file's weights, in evaluation mode. Parameters carry the
 * initializer names (PyTorch exports keep PyTorch's: `0.weight`, `1.bias`;
 * where the exporter made an anonymous constant such as `onnx::MatMul_7`
 * for a bias-free Linear, the name comes from the node's module path:
 * `2.weight`). Throws an `OnnxImportError` (or `OnnxFormatError`) naming
 * the problem, never a silently different model.
 */
export function importOnnx(source: Uint8Array | ArrayBuffer | string, options: ImportOptions = {}): OnnxModel {
  const budget = new MemoryBudget(memoryLimit(options.memoryLimitBytes));
  const path = typeof source === 'string' ? source : undefined;
  const bytes = typeof source === 'string' ? readModelFile(source, budget) : source instanceof Uint8Array ? source : new Uint8Array(source);
  const tensors: TensorContext = { modelFolder: path === undefined ? undefined : modelFolder(path), budget };
  const model = decodeModel(bytes);
  const graph = model.graph!;
  const backend = options.backend ?? getDefaultBackend();
  const dtype: FloatDType = options.dtype ?? (backend.dtypes.includes('float64') ? 'float64' : 'float32');
  if (!backend.dtypes.includes(dtype)) throw new OnnxImportError(`backend '${backend.name}' does not support ${dtype}`);

  const opset = model.opsetImport.find((o) => o.domain === '' || o.domain === 'ai.onnx')?.version ?? 0;
  if (opset < 7) throw new OnnxImportError(`the model imports opset ${opset} of the default domain; opset 7 or later is supported (13 and later as PyTorch and tf2onnx export)`);
  if (model.functionCount > 0 && graph.node.some((n) => n.domain !== '' && n.domain !== 'ai.onnx')) {
    throw new OnnxImportError('the model uses model-local functions, which are not supported');
  }
  if (graph.sparseInitializerCount > 0) throw new OnnxImportError('sparse initializers are not supported');

  // Constants and the one data input.
  const initializers = new Map(graph.initializer.map((t) => [t.name, t]));
  const dataInputs = graph.input.filter((v) => !initializers.has(v.name));
  if (dataInputs.length !== 1) {
    throw new OnnxImportError(`the model has ${dataInputs.length} inputs (${dataInputs.map((v) => `'${v.name}'`).join(', ') || 'none'}); exactly one data input is supported`);
  }
  if (graph.output.length !== 1) {
    throw new OnnxImportError(`the model has ${graph.output.length} outputs (${graph.output.map((v) => `'${v.name}'`).join(', ')}); exactly one is supported`);
  }
  const inputInfo = dataInputs[0]!;
  const outputName = graph.output[0]!.name;
  const intInput = isIntType(inputInfo.elemType);
  if (!intInput && !isFloatType(inputInfo.elemType)) {
    throw new OnnxImportError(`input '${inputInfo.name}' holds ${dataTypeName(inputInfo.elemType)} values; float or integer inputs are supported`);
  }
  const declared = inputInfo.shape;
  let sampleShape: number[];
  if (options.inputShape !== undefined) {
    sampleShape = [...options.inputShape];
    if (declared !== undefined) {
      const conflict = declared.length !== sampleShape.length + 1 || declared.slice(1).some((d, i) => 'value' in d && d.value !== sampleShape[i]);
      if (conflict) {
        throw new OnnxImportError(`inputShape [${sampleShape.join(', ')}] does not fit the declared input shape [${declared.map((d) => ('value' in d ? d.value : 'param' in d ? d.param : '?')).join(', ')}]`);
      }
    }
  } else {
    if (declared === undefined || declared.length === 0) {
      throw new OnnxImportError(`input '${inputInfo.name}' has no declared shape; pass inputShape (the shape of one sample)`);
    }
    const symbolic = declared.slice(1).findIndex((d) => !('value' in d));
    if (symbolic >= 0) {
      const d = declared[symbolic + 1]!;
      throw new OnnxImportError(
        `input '${inputInfo.name}' has the symbolic dimension ${'param' in d ? `'${d.param}'` : '(unknown)'} at position ${symbolic + 1}; pass inputShape (the shape of one sample)`,
      );
    }
    sampleShape = declared.slice(1).map((d) => (d as { value: number }).value);
  }
  if (sampleShape.some((d) => !isIntegerIn(d, 1, MAX_DIMENSION)) || product(sampleShape) > MAX_SAMPLE_SIZE) {
    throw new OnnxImportError(
      `input '${inputInfo.name}': invalid sample shape [${sampleShape.map(formatInteger).join(', ')}]: each dimension ${rangeText(1, MAX_DIMENSION)}, and a sample may hold at most ${MAX_SAMPLE_SIZE} elements`,
    );
  }
  const batchDim = declared?.[0];
  const batch = batchDim === undefined ? undefined : 'value' in batchDim ? batchDim.value : 'param' in batchDim ? batchDim.param : undefined;
  // A zero or negative batch (some exporters' "unknown") is symbolic, as a name is.
  if (typeof batch === 'number' && batch > MAX_DIMENSION) {
    throw new OnnxImportError(`input '${inputInfo.name}' declares a batch size of ${formatInteger(batch)}; the batch dimension ${rangeText(0, MAX_DIMENSION)}`);
  }
  const traceBatch = typeof batch === 'number' && batch > 0 ? batch : 2;

  // Order, liveness and consumers.
  const available = new Set<string>([...initializers.keys(), inputInfo.name]);
  const order = graphOrder(graph.node, available, [outputName]);
  const unsupported = order.filter((n) => (n.domain !== '' && n.domain !== 'ai.onnx') || !handlers.has(n.opType));
  if (unsupported.length > 0) {
    const first = unsupported[0]!;
    const others = unsupported.slice(1).map((n) => `'${n.name || n.output[0]}' (${n.opType})`);
    throw new OnnxImportError(
      `${describeNode(first)}${first.domain ? ` in domain '${first.domain}'` : ''} is not supported${others.length > 0 ? `; nor are ${others.slice(0, 10).join(', ')}${others.length > 10 ? ', ...' : ''}` : ''}. Supported operators: ${supportedList()}`,
    );
  }
  const consumers = new Map<string, (NodeProto | null)[]>();
  for (const node of order) {
    for (const input of node.input) if (input !== '') consumers.set(input, [...(consumers.get(input) ?? []), node]);
  }
  consumers.set(outputName, [...(consumers.get(outputName) ?? []), null]);

  let built: { ctx: Importer; placements: Placement[]; root: OnnxScope; outputValue: string } | undefined;
  // The trace's tensors are disposed; parameters and buffers are kept.
  tidy(() => {
    const ctx = new Importer(backend, dtype, opset, traceBatch, typeof batch !== 'number' || batch <= 0, consumers, tensors);
    for (const [name, t] of initializers) {
      if (!consumers.has(name)) continue;
      ctx.setConst(name, { ...tensorValue(t, `initializer '${name}'`, tensors), source: name });
    }
    const inputDType = intInput ? 'int32' : dtype;
    const traceShape = [traceBatch, ...sampleShape];
    budget.reserve(
      product(traceShape) * (intInput ? 4 : ctx.elementBytes),
      `the import's trace input ${formatShape(traceShape)}`,
      typeof batch === 'number' && batch > 0
        ? `the import runs the model once on a batch of the declared batch size ${batch}; export the model with a symbolic batch dimension (dynamic_axes) or a smaller one`
        : undefined,
    );
    ctx.values.set(inputInfo.name, { kind: 'data', name: inputInfo.name, tensor: zeros(traceShape, { backend, dtype: inputDType }) });
    for (const node of order) {
      if (ctx.consumed.has(node)) continue;
      try {
        handlers.get(node.opType)!(ctx, node);
      } catch (error) {
        if (error instanceof UserError) throw error;
        // Core's argument checks (a module refusing a kernel size, ...): still the model's fault, with the node named.
        throw new OnnxImportError(`${describeNode(node)}: ${(error as Error).message}`);
      }
    }
    const out = ctx.values.get(outputName);
    if (out?.kind !== 'data') {
      throw new OnnxImportError(`the graph output '${outputName}' is ${out === undefined ? 'not produced' : 'a constant'}; it must be computed from the input`);
    }
    const placements = plan(ctx.built);
    const root = buildTree(ctx.built, placements);
    for (const b of ctx.built) {
      for (const p of b.module.parameters()) keep(p.data);
      for (const [, buffer] of b.module.namedBuffers()) keep(buffer);
    }
    built = { ctx, placements, root, outputValue: out.name };
  });
  const { ctx, placements, root, outputValue } = built!;

  const steps: OnnxStep[] = ctx.built.map((b) => ({
    module: b.module,
    inputs: b.inputs,
    output: b.output,
    nodes: b.nodes.map((n) => `'${n.name || n.output[0]}' (${n.opType})`).join(' + '),
  }));
  const exposedNames = new Map<string, string>();
  const sources = new Map<string, OnnxParameterSource>();
  for (const p of placements) {
    for (const [k, v] of p.exposed) exposedNames.set(k, v);
    for (const [k, v] of p.sources) sources.set(k, v);
  }
  for (const [name, s] of sources) {
    if (s.transposed) ctx.notes.push(`'${name}' holds the transpose of initializer '${s.initializer}' ${formatShape(s.onnxShape)} (Linear's [out, in] layout)`);
  }
  const input: OnnxInputSpec = {
    name: inputInfo.name,
    sampleShape,
    batch,
    dtype: intInput ? 'int32' : dtype,
    onnxType: dataTypeName(inputInfo.elemType),
  };
  return new OnnxModel({
    root,
    steps,
    input,
    outputValue,
    outputName,
    exposedNames,
    sources,
    bytes,
    filePath: path,
    dtype,
    backend,
    opset,
    producer: `${model.producerName} ${model.producerVersion}`.trim(),
    notes: ctx.notes,
  });
}

