/**
 * Builds a golden case's network with this project's modules, loads the
 * stored parameters, buffers and batch, and extends model and loss.
 */
import {
  AdaptiveAvgPool1d,
  AdaptiveAvgPool2d,
  AdaptiveAvgPool3d,
  AvgPool1d,
  AvgPool2d,
  AvgPool3d,
  BCEWithLogitsLoss,
  BatchNorm1d,
  BatchNorm2d,
  BatchNorm3d,
  Conv1d,
  Conv2d,
  Conv3d,
  ConvTranspose1d,
  ConvTranspose2d,
  ConvTranspose3d,
  CrossEntropyLoss,
  Dropout,
  Embedding,
  ELU,
  Flatten,
  Generator,
  Identity,
  LSTM,
  LeakyReLU,
  Linear,
  LogSigmoid,
  MSELoss,
  MaxPool1d,
  MaxPool2d,
  MaxPool3d,
  Pad,
  Parallel,
  Permute,
  RNN,
  ReLU,
  ReduceTuple,
  SELU,
  ScaleModule,
  Sequential,
  Slicing,
  Sigmoid,
  Tanh,
  ZeroPad2d,
  extend,
  slice,
  tensor,
  type Backend,
  type FloatDType,
  type LossModule,
  type Module,
  type Reduction,
  type SliceEntry,
  type Tensor,
} from '@backpack-ts/core';
import type { GoldenCase, GoldenLayerSpec, GoldenLossSpec, GoldenTensor } from './load.js';

/** Where to build: the backend and the float dtype of parameters and data. */
export interface BuildOptions {
  /** Backend of the parameters and data. */
  readonly backend: Backend;
  /** Float dtype of the parameters and data. */
  readonly dtype: FloatDType;
}

/** A golden case's network, ready for a forward pass: extended, parameters loaded, evaluation mode. */
export interface GoldenModel {
  /** The network, with the case's parameters. */
  readonly model: Sequential;
  /** The case's loss, extended. */
  readonly loss: LossModule;
  /** The case's input batch. */
  readonly input: Tensor;
  /** int32 class indices for CrossEntropyLoss, float targets otherwise. */
  readonly target: Tensor;
  /** Absent: tells a built model from an {@link UnsupportedGoldenModel}. */
  readonly unsupported?: undefined;
}

/** A case that needs a layer or loss this project does not have yet. */
export interface UnsupportedGoldenModel {
  /** The missing layer (or loss) types, comma-separated, e.g. `"Conv2d, MaxPool2d"`. */
  readonly unsupported: string;
}

/** What building a golden case gives: its model, or the layers it lacks. */
export type GoldenBuild = GoldenModel | UnsupportedGoldenModel;

type LayerFactory = (spec: GoldenLayerSpec, options: BuildOptions, generator: Generator) => Module;

function numberArg(spec: GoldenLayerSpec, key: string, fallback?: number): number {
  const value = spec[key] ?? fallback;
  if (typeof value !== 'number') throw new TypeError(`golden layer ${spec.type}: argument '${key}' must be a number, got ${String(value)}`);
  return value;
}

/** A PyTorch "int or tuple" argument: one number, or one per spatial dimension. */
function sizeArg(spec: GoldenLayerSpec, key: string, fallback?: number | readonly number[]): number | number[] {
  const value = spec[key] ?? fallback;
  if (typeof value === 'number' && Number.isInteger(value)) return value;
  if (Array.isArray(value) && value.every((v) => typeof v === 'number' && Number.isInteger(v))) return value as number[];
  throw new TypeError(`golden layer ${spec.type}: argument '${key}' must be an integer or a list of integers, got ${JSON.stringify(value)}`);
}

/** An optional "int or tuple" argument: left out (the module's default) when the spec does not give it. */
function optionalSize(spec: GoldenLayerSpec, key: string): number | number[] | undefined {
  return spec[key] === undefined || spec[key] === null ? undefined : sizeArg(spec, key);
}

/** `{ [name]: value }` without the entries whose value is undefined (exactOptionalPropertyTypes-friendly). */
function defined<T extends Record<string, unknown>>(options: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as { [K in keyof T]?: Exclude<T[K], undefined> };
}

/** `Conv{1,2,3}d{in,out,kernel,stride,padding,dilation,groups,bias}`. */
function convFactory(make: typeof Conv1d | typeof Conv2d | typeof Conv3d): LayerFactory {
  return (spec, { backend, dtype }, generator) =>
    new make(numberArg(spec, 'in'), numberArg(spec, 'out'), sizeArg(spec, 'kernel'), {
      ...defined({ stride: optionalSize(spec, 'stride'), padding: optionalSize(spec, 'padding'), dilation: optionalSize(spec, 'dilation') }),
      groups: numberArg(spec, 'groups', 1),
      bias: spec['bias'] !== false,
      backend,
      dtype,
      generator,
    });
}

/** `ConvTranspose{1,2,3}d{in,out,kernel,stride,padding,output_padding,dilation,groups,bias}`. */
function convTransposeFactory(make: typeof ConvTranspose1d | typeof ConvTranspose2d | typeof ConvTranspose3d): LayerFactory {
  return (spec, { backend, dtype }, generator) =>
    new make(numberArg(spec, 'in'), numberArg(spec, 'out'), sizeArg(spec, 'kernel'), {
      ...defined({
        stride: optionalSize(spec, 'stride'),
        padding: optionalSize(spec, 'padding'),
        outputPadding: optionalSize(spec, 'output_padding'),
        dilation: optionalSize(spec, 'dilation'),
      }),
      groups: numberArg(spec, 'groups', 1),
      bias: spec['bias'] !== false,
      backend,
      dtype,
      generator,
    });
}

/** `MaxPool{1,2,3}d{kernel,stride,padding,dilation}`; stride absent means stride = kernel. */
function maxPoolFactory(make: typeof MaxPool1d | typeof MaxPool2d | typeof MaxPool3d): LayerFactory {
  return (spec) =>
    new make(
      sizeArg(spec, 'kernel'),
      defined({ stride: optionalSize(spec, 'stride'), padding: optionalSize(spec, 'padding'), dilation: optionalSize(spec, 'dilation') }),
    );
}

/** `AvgPool{1,2,3}d{kernel,stride,padding,count_include_pad}`; stride absent means stride = kernel. */
function avgPoolFactory(make: typeof AvgPool1d | typeof AvgPool2d | typeof AvgPool3d): LayerFactory {
  return (spec) =>
    new make(
      sizeArg(spec, 'kernel'),
      defined({
        stride: optionalSize(spec, 'stride'),
        padding: optionalSize(spec, 'padding'),
        countIncludePad: typeof spec['count_include_pad'] === 'boolean' ? spec['count_include_pad'] : undefined,
      }),
    );
}

/** `AdaptiveAvgPool{1,2,3}d{output_size}` (an entry `null` keeps that input size). */
function adaptiveAvgPoolFactory(make: typeof AdaptiveAvgPool1d | typeof AdaptiveAvgPool2d | typeof AdaptiveAvgPool3d): LayerFactory {
  return (spec) => {
    const size = spec['output_size'];
    if (typeof size === 'number') return new make(size);
    if (Array.isArray(size) && size.every((s) => s === null || typeof s === 'number')) return new make(size as (number | null)[]);
    throw new TypeError(`golden layer ${spec.type}: argument 'output_size' must be an integer or a list, got ${JSON.stringify(size)}`);
  };
}

/** `BatchNorm{1,2,3}d{features,eps,momentum}`; the running statistics come from the case's buffers. */
function batchNormFactory(make: typeof BatchNorm1d | typeof BatchNorm2d | typeof BatchNorm3d): LayerFactory {
  return (spec, { backend, dtype }) =>
    new make(numberArg(spec, 'features'), { eps: numberArg(spec, 'eps', 1e-5), backend, dtype });
}

/** `ZeroPad2d{padding}`: one number, or `[left, right, top, bottom]`. */
const zeroPadFactory: LayerFactory = (spec) => {
  const padding = sizeArg(spec, 'padding');
  if (typeof padding === 'number') return new ZeroPad2d(padding);
  if (padding.length !== 4) throw new TypeError(`golden layer ZeroPad2d: padding must be one integer or 4, got ${JSON.stringify(padding)}`);
  return new ZeroPad2d(padding as [number, number, number, number]);
};

/** `Permute{dims, init_transpose}` (BackPACK's custom module). */
const permuteFactory: LayerFactory = (spec) => {
  const dims = spec['dims'];
  if (!Array.isArray(dims) || !dims.every((d) => typeof d === 'number')) {
    throw new TypeError(`golden layer Permute: argument 'dims' must be a list of integers, got ${JSON.stringify(dims)}`);
  }
  return new Permute(dims as number[], { initTranspose: spec['init_transpose'] === true });
};

/** `Slicing{slice_info}`: integers and `{start, stop, step}` ranges (null = Python's default). */
const slicingFactory: LayerFactory = (spec) => {
  const info = spec['slice_info'];
  const isEntry = (e: unknown) => typeof e === 'number' || (typeof e === 'object' && e !== null && !Array.isArray(e));
  if (!Array.isArray(info) || !info.every(isEntry)) {
    throw new TypeError(`golden layer Slicing: argument 'slice_info' must be a list of integers and {start, stop, step}, got ${JSON.stringify(info)}`);
  }
  return new Slicing(info as SliceEntry[]);
};

/** `Pad{pad, mode, value}` (`torch.nn.functional.pad`). */
const padFactory: LayerFactory = (spec) => {
  const amounts = sizeArg(spec, 'pad');
  if (spec['mode'] !== undefined && spec['mode'] !== 'constant') {
    throw new TypeError(`golden layer Pad: mode '${String(spec['mode'])}' is not supported; only 'constant'`);
  }
  return new Pad(typeof amounts === 'number' ? [amounts] : amounts, { value: numberArg(spec, 'value', 0) });
};

/** A branch of a Parallel: one layer spec, or a list of them applied in order (a Sequential). */
function buildBranch(branch: unknown, options: BuildOptions, generator: Generator): Module {
  if (Array.isArray(branch)) return new Sequential(...branch.map((layer) => buildGoldenLayer(layer as GoldenLayerSpec, options, generator)));
  return buildGoldenLayer(branch as GoldenLayerSpec, options, generator);
}

/** The branches of a `Parallel{branches}` spec, as given. */
function branchesOf(spec: GoldenLayerSpec): unknown[] {
  const branches = spec['branches'];
  if (!Array.isArray(branches)) throw new TypeError(`golden layer Parallel: argument 'branches' must be a list, got ${JSON.stringify(branches)}`);
  return branches;
}

/** Every layer spec of a branch (one spec, or a list). */
function branchLayers(branch: unknown): GoldenLayerSpec[] {
  return (Array.isArray(branch) ? branch : [branch]) as GoldenLayerSpec[];
}

/** `RNN{input_size, hidden_size, nonlinearity, bias, batch_first}` and `LSTM{input_size, hidden_size, bias, batch_first}`, one layer unless `num_layers`. */
function recurrentFactory(type: 'RNN' | 'LSTM'): LayerFactory {
  return (spec, { backend, dtype }, generator) => {
    const options = { numLayers: numberArg(spec, 'num_layers', 1), bias: spec['bias'] !== false, batchFirst: spec['batch_first'] === true, backend, dtype, generator };
    const [inputSize, hiddenSize] = [numberArg(spec, 'input_size'), numberArg(spec, 'hidden_size')];
    if (type === 'LSTM') return new LSTM(inputSize, hiddenSize, options);
    // RNN checks the value ('tanh' or 'relu').
    return new RNN(inputSize, hiddenSize, { ...options, nonlinearity: (spec['nonlinearity'] ?? 'tanh') as 'tanh' | 'relu' });
  };
}

/** Layer types of the golden files that core implements, by PyTorch name. */
const layerFactories: Readonly<Record<string, LayerFactory>> = {
  Linear: (spec, { backend, dtype }, generator) =>
    new Linear(numberArg(spec, 'in'), numberArg(spec, 'out'), { bias: spec['bias'] !== false, backend, dtype, generator }),
  Flatten: (spec) => new Flatten(numberArg(spec, 'start_dim', 1), numberArg(spec, 'end_dim', -1)),
  Identity: () => new Identity(),
  Dropout: (spec) => new Dropout(numberArg(spec, 'p', 0.5)),
  ReLU: () => new ReLU(),
  Sigmoid: () => new Sigmoid(),
  Tanh: () => new Tanh(),
  LeakyReLU: (spec) => new LeakyReLU(numberArg(spec, 'negative_slope', 0.01)),
  ELU: (spec) => new ELU(numberArg(spec, 'alpha', 1)),
  SELU: () => new SELU(),
  LogSigmoid: () => new LogSigmoid(),
  Conv1d: convFactory(Conv1d),
  Conv2d: convFactory(Conv2d),
  Conv3d: convFactory(Conv3d),
  ConvTranspose1d: convTransposeFactory(ConvTranspose1d),
  ConvTranspose2d: convTransposeFactory(ConvTranspose2d),
  ConvTranspose3d: convTransposeFactory(ConvTranspose3d),
  MaxPool1d: maxPoolFactory(MaxPool1d),
  MaxPool2d: maxPoolFactory(MaxPool2d),
  MaxPool3d: maxPoolFactory(MaxPool3d),
  AvgPool1d: avgPoolFactory(AvgPool1d),
  AvgPool2d: avgPoolFactory(AvgPool2d),
  AvgPool3d: avgPoolFactory(AvgPool3d),
  AdaptiveAvgPool1d: adaptiveAvgPoolFactory(AdaptiveAvgPool1d),
  AdaptiveAvgPool2d: adaptiveAvgPoolFactory(AdaptiveAvgPool2d),
  AdaptiveAvgPool3d: adaptiveAvgPoolFactory(AdaptiveAvgPool3d),
  ZeroPad2d: zeroPadFactory,
  BatchNorm1d: batchNormFactory(BatchNorm1d),
  BatchNorm2d: batchNormFactory(BatchNorm2d),
  BatchNorm3d: batchNormFactory(BatchNorm3d),
  Embedding: (spec, { backend, dtype }, generator) =>
    new Embedding(numberArg(spec, 'num_embeddings'), numberArg(spec, 'embedding_dim'), { backend, dtype, generator }),
  Permute: permuteFactory,
  Slicing: slicingFactory,
  Pad: padFactory,
  ScaleModule: (spec) => new ScaleModule(numberArg(spec, 'weight')),
  Parallel: (spec, options, generator) => new Parallel(...branchesOf(spec).map((branch) => buildBranch(branch, options, generator))),
  RNN: recurrentFactory('RNN'),
  LSTM: recurrentFactory('LSTM'),
  ReduceTuple: (spec) => new ReduceTuple(numberArg(spec, 'index', 0)),
};

const lossFactories: Readonly<Record<string, (reduction: Reduction) => LossModule>> = {
  CrossEntropyLoss: (reduction) => new CrossEntropyLoss(reduction),
  MSELoss: (reduction) => new MSELoss(reduction),
  BCEWithLogitsLoss: (reduction) => new BCEWithLogitsLoss(reduction),
};

/** Every layer type of `layers`, those inside Parallel branches included. */
function layerTypes(layers: readonly GoldenLayerSpec[]): string[] {
  return layers.flatMap((layer) =>
    layer.type === 'Parallel' && Array.isArray(layer['branches'])
      ? [layer.type, ...layerTypes(branchesOf(layer).flatMap(branchLayers))]
      : [layer.type],
  );
}

/** The layer and loss types of a case that cannot be built yet (empty when all can). */
export function unsupportedTypes(golden: GoldenCase): string[] {
  const missing = layerTypes(golden.case.layers).filter((type) => !(type in layerFactories));
  if (!(golden.case.loss.type in lossFactories)) missing.push(golden.case.loss.type);
  return [...new Set(missing)];
}

/**
 * One layer of a golden spec as a core module (initialised from `generator`,
 * which defaults to a fresh `Generator(0)`); throws for a type core lacks.
 */
export function buildGoldenLayer(spec: GoldenLayerSpec, options: BuildOptions, generator: Generator = new Generator(0)): Module {
  const factory = layerFactories[spec.type];
  if (factory === undefined) throw new Error(`golden layer type '${spec.type}' is not implemented by core`);
  return factory(spec, options, generator);
}

/** What {@link syntheticGoldenCase} builds a case from. */
export interface SyntheticCaseSpec {
  /** The case's name, for messages. */
  readonly name: string;
  /** The network's layers, in PyTorch naming. */
  readonly layers: readonly GoldenLayerSpec[];
  /** The loss. */
  readonly loss: GoldenLossSpec;
  /** Batch size. */
  readonly batch: number;
  /** Shape of one sample. */
  readonly inputShape: readonly number[];
  /** For an Embedding first layer: indices are drawn in `[0, indexRange)`. */
  readonly indexRange?: number;
}

/**
 * A golden case without reference values, for tests beyond the golden
 * files: random parameters (the layers' own initialisation from a seeded
 * generator; BatchNorm scale, shift and running statistics drawn too, so
 * they are not the identity), a standard-normal input (or indices), random
 * targets, and the forward result, computed on `backend` in float64. Feed it
 * to {@link buildGoldenModel} like a golden file; `quantities` is empty.
 */
export function syntheticGoldenCase(spec: SyntheticCaseSpec, seed: number, backend: Backend): GoldenCase {
  const options: BuildOptions = { backend, dtype: 'float64' };
  const generator = new Generator(seed);
  const model = new Sequential(...spec.layers.map((layer) => buildGoldenLayer(layer, options, generator)));
  const asGolden = (t: Tensor): GoldenTensor => ({ shape: [...t.shape], data: Array.from(t.toArray()) });
  const params: Record<string, GoldenTensor> = {};
  const buffers: Record<string, GoldenTensor> = {};
  const create = { backend: options.backend, dtype: options.dtype };
  for (const [name, parameter] of model.namedParameters()) {
    const isNorm = spec.layers[Number(name.split('.')[0])]?.type.startsWith('BatchNorm') === true;
    const shape = parameter.data.shape;
    params[name] = asGolden(
      !isNorm
        ? parameter.data
        : name.endsWith('weight')
          ? generator.uniform(shape, { ...create, low: 0.5, high: 1.5 })
          : generator.uniform(shape, { ...create, low: -0.5, high: 0.5 }),
    );
  }
  for (const [name, buffer] of model.namedBuffers()) {
    if (name.endsWith('running_mean')) buffers[name] = asGolden(generator.uniform(buffer.shape, { ...create, low: -0.5, high: 0.5 }));
    else if (name.endsWith('running_var')) buffers[name] = asGolden(generator.uniform(buffer.shape, { ...create, low: 0.5, high: 2 }));
  }
  const sampleSize = spec.inputShape.reduce((a, b) => a * b, 1);
  const input: GoldenTensor =
    spec.layers[0]?.type === 'Embedding'
      ? {
          shape: [spec.batch, ...spec.inputShape],
          data: Array.from({ length: spec.batch * sampleSize }, () => Math.floor(generator.nextUniform() * (spec.indexRange ?? 1))),
        }
      : asGolden(generator.normal([spec.batch, ...spec.inputShape], create));
  const partial: GoldenCase = {
    name: spec.name,
    case: { name: spec.name, seed, batch: spec.batch, input: { shape: [...spec.inputShape] }, layers: spec.layers, loss: spec.loss },
    input,
    target: { shape: [0], data: [] },
    output: { shape: [0], data: [] },
    loss: Number.NaN,
    params,
    buffers,
    quantities: {},
  };
  const built = buildGoldenModel(partial, options);
  if (built.unsupported !== undefined) throw new Error(`syntheticGoldenCase: core lacks ${built.unsupported}`);
  const output = built.model.forward(built.input);
  // CrossEntropyLoss: classes in dimension 1, one target per position [N, d1, ...].
  const [classes, positionsShape] = [output.shape[1] ?? 1, [output.shape[0]!, ...output.shape.slice(2)]];
  const positions = positionsShape.reduce((a, b) => a * b, 1);
  const target: GoldenTensor =
    spec.loss.type === 'CrossEntropyLoss'
      ? { shape: positionsShape, data: Array.from({ length: positions }, () => Math.floor(generator.nextUniform() * classes)) }
      : spec.loss.type === 'BCEWithLogitsLoss'
        ? { shape: [...output.shape], data: Array.from({ length: output.size }, () => generator.nextUniform()) }
        : asGolden(generator.normal(output.shape, create));
  const withTarget = { ...partial, target, output: asGolden(output) };
  const rebuilt = buildGoldenModel(withTarget, options) as GoldenModel;
  return { ...withTarget, loss: rebuilt.loss.forward(rebuilt.model.forward(rebuilt.input), rebuilt.target).item() };
}

/** A golden tensor on `backend` in `dtype`. */
export function goldenTensor(t: GoldenTensor, backend: Backend, dtype: FloatDType | 'int32'): Tensor {
  return tensor(t.data, t.shape, { backend, dtype });
}

function buildLoss(spec: GoldenLossSpec): LossModule {
  return lossFactories[spec.type]!(spec.reduction ?? 'mean');
}

/**
 * Builds the case's model and loss (both extended, the model in evaluation
 * mode as the reference ran it), loads its parameters and buffers and creates
 * input and target. Returns `{ unsupported }` instead of throwing when a layer
 * or loss type is not implemented yet.
 */
export function buildGoldenModel(golden: GoldenCase, options: BuildOptions): GoldenBuild {
  const missing = unsupportedTypes(golden);
  if (missing.length > 0) return { unsupported: missing.join(', ') };

  const { backend, dtype } = options;
  // A private generator for the initial values (overwritten below), so building leaves the default one alone.
  const generator = new Generator(0);
  const model = new Sequential(...golden.case.layers.map((spec) => layerFactories[spec.type]!(spec, options, generator)));
  const state: Record<string, Tensor> = {};
  for (const [name, value] of [...Object.entries(golden.params), ...Object.entries(golden.buffers ?? {})]) {
    state[name] = goldenTensor(value, backend, dtype);
  }
  const notLoaded = model.namedParameters().filter(([name]) => !(name in state)).map(([name]) => name);
  if (notLoaded.length > 0) {
    throw new Error(`golden case ${golden.name}: no stored values for parameter(s) ${notLoaded.join(', ')}`);
  }
  model.loadStateDict(state);
  model.eval();

  const loss = buildLoss(golden.case.loss);
  const targetDType = golden.case.loss.type === 'CrossEntropyLoss' ? 'int32' : dtype;
  return {
    model: extend(model),
    loss: extend(loss),
    // An Embedding first takes int32 indices.
    input: goldenTensor(golden.input, backend, golden.case.layers[0]?.type === 'Embedding' ? 'int32' : dtype),
    target: goldenTensor(golden.target, backend, targetDType),
  };
}

/**
 * {@link buildGoldenModel} for a case core is known to support: throws,
 * naming the case and the missing types, instead of returning `{ unsupported }`.
 */
export function buildSupportedGoldenModel(golden: GoldenCase, options: BuildOptions): GoldenModel {
  const built = buildGoldenModel(golden, options);
  if (built.unsupported !== undefined) throw new Error(`golden case ${golden.name}: unexpectedly unsupported: ${built.unsupported}`);
  return built;
}

/** Sample `n` of a batch `[N, ...rest]`, keeping the batch dimension: `[1, ...rest]`. */
export function sampleOf(t: Tensor, n: number): Tensor {
  // slice takes the unlisted dimensions whole.
  return slice(t, [n], [1]);
}
