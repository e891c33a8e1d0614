/**
 * Builds a golden case's network with this project's modules, loads the
 * stored parameters, buffers and batch, and extends model and loss.
 */
import {
  BCEWithLogitsLoss,
  CrossEntropyLoss,
  Dropout,
  ELU,
  Flatten,
  Generator,
  Identity,
  LeakyReLU,
  Linear,
  LogSigmoid,
  MSELoss,
  ReLU,
  SELU,
  Sequential,
  Sigmoid,
  Tanh,
  extend,
  tensor,
  type Backend,
  type FloatDType,
  type LossModule,
  type Module,
  type Reduction,
  type Tensor,
} from '@backpack-ts/core';
import type { GoldenCase, GoldenLayerSpec, GoldenLossSpec, GoldenTensor } from './load.js';

/** Where to build: the backend and the float dtype of parameters and data. */
export interface BuildOptions {
  readonly backend: Backend;
  readonly dtype: FloatDType;
}

/** A golden case's network, ready for a forward pass: extended, parameters loaded, evaluation mode. */
export interface GoldenModel {
  readonly model: Sequential;
  readonly loss: LossModule;
  readonly input: Tensor;
  /** int32 class indices for CrossEntropyLoss, float targets otherwise. */
  readonly target: Tensor;
  readonly unsupported?: undefined;
}

/** A case that needs a layer or loss this project does not have yet. */
export interface UnsupportedGoldenModel {
  /** The missing layer (or loss) types, comma-separated, e.g. `"Conv2d, MaxPool2d"`. */
  readonly unsupported: string;
}

export type GoldenBuild = GoldenModel | UnsupportedGoldenModel;

type LayerFactory = (spec: GoldenLayerSpec, options: BuildOptions, generator: Generator) => Module;

function numberArg(spec: GoldenLayerSpec, key: string, fallback?: number): number {
  const value = spec[key] ?? fallback;
  if (typeof value !== 'number') throw new TypeError(`golden layer ${spec.type}: argument '${key}' must be a number, got ${String(value)}`);
  return value;
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
};

const lossFactories: Readonly<Record<string, (reduction: Reduction) => LossModule>> = {
  CrossEntropyLoss: (reduction) => new CrossEntropyLoss(reduction),
  MSELoss: (reduction) => new MSELoss(reduction),
  BCEWithLogitsLoss: (reduction) => new BCEWithLogitsLoss(reduction),
};

/** The layer and loss types of a case that cannot be built yet (empty when all can). */
export function unsupportedTypes(golden: GoldenCase): string[] {
  const missing = golden.case.layers.map((layer) => layer.type).filter((type) => !(type in layerFactories));
  if (!(golden.case.loss.type in lossFactories)) missing.push(golden.case.loss.type);
  return [...new Set(missing)];
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
    input: goldenTensor(golden.input, backend, dtype),
    target: goldenTensor(golden.target, backend, targetDType),
  };
}
