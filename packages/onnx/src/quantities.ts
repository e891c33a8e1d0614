/**
 * Runs a loss and extensions on a model and collects every parameter's
 * quantities as `{shape, data}` values (typed arrays in the model's float
 * type): what the CLI writes. Also estimates, from the shapes alone, how
 * much memory the quantities need.
 */
import { EXTENSION_NAMES, findExtension, type ExtensionOptions } from '@backpack-ts/catalog';
import {
  BCEWithLogitsLoss,
  CrossEntropyLoss,
  MSELoss,
  backpack,
  extend,
  sizeOf,
  tidy,
  type Extension,
  type LossModule,
  type Module,
  type Quantity,
  type Reduction,
  type Tensor,
} from '@backpack-ts/core';
import { UserError } from './errors.js';
import { OnnxModel, type OnnxParameterSource } from './import/onnx-model.js';

/** A computed tensor: shape and row-major values (float64; a float32 model's values are held exactly). */
export interface ResultTensor {
  /** Dimensions. */
  readonly shape: number[];
  /** The elements, row-major. */
  readonly data: Float64Array;
}

/** What an extension stored for one parameter: a tensor, or a list of them (Kronecker factors). */
export type ResultQuantity = ResultTensor | ResultTensor[];

/** A number as the JSON output writes it: NaN and ±Infinity as the strings `"NaN"`, `"Infinity"`, `"-Infinity"`. */
export type JsonNumber = number | 'NaN' | 'Infinity' | '-Infinity';

/** A tensor as written to JSON: shape and row-major data. */
export interface JsonTensor {
  /** Dimensions. */
  shape: number[];
  /** The elements, row-major. */
  data: JsonNumber[];
}

/** What an extension stored for one parameter, as written to JSON. */
export type JsonQuantity = JsonTensor | JsonTensor[];

/** Options of the Monte-Carlo extensions. */
export type MonteCarloSettings = ExtensionOptions;

/** Extension names the CLI and {@link computeQuantities} accept, as BackPACK names them (`@backpack-ts/catalog`'s table). */
export { EXTENSION_NAMES };

/** Loss names accepted, as PyTorch names them. */
export const LOSS_NAMES = ['CrossEntropyLoss', 'MSELoss', 'BCEWithLogitsLoss'] as const;
/** One of {@link LOSS_NAMES}. */
export type LossName = (typeof LOSS_NAMES)[number];

const LOSSES: ReadonlyMap<string, new (reduction: Reduction) => LossModule> = new Map<string, new (reduction: Reduction) => LossModule>([
  ['crossentropyloss', CrossEntropyLoss],
  ['mseloss', MSELoss],
  ['bcewithlogitsloss', BCEWithLogitsLoss],
]);

/** The extension called `name` (BackPACK's spelling, case-insensitive), or a UserError listing the names. */
export function createExtension(name: string, mc: MonteCarloSettings = {}): Extension {
  const entry = findExtension(name);
  if (entry === undefined) throw new UserError(`unknown extension '${name}'; available: ${EXTENSION_NAMES.join(', ')}`);
  return entry.create({ ...(mc.mcSamples !== undefined && { mcSamples: mc.mcSamples }), ...(mc.seed !== undefined && { seed: mc.seed }) });
}

/** The loss called `name` (PyTorch's spelling, case-insensitive), with `reduction`, or a UserError listing the names. */
export function createLoss(name: string, reduction: Reduction = 'mean'): LossModule {
  const Loss = LOSSES.get(name.toLowerCase());
  if (Loss === undefined) throw new UserError(`unknown loss '${name}'; available: ${LOSS_NAMES.join(', ')}`);
  return new Loss(reduction);
}

/** Options of {@link computeQuantities}. */
export interface QuantitiesOptions extends MonteCarloSettings {
  /** The loss applied to the model's output and the target (see {@link createLoss}). */
  readonly loss: LossModule;
  /** Extension names (see {@link EXTENSION_NAMES}); each runs in its own backward pass. */
  readonly extensions: readonly string[];
  /** Called before (`seconds` undefined) and after each extension's pass. */
  readonly onProgress?: (event: ProgressEvent) => void;
  /**
   * Report the quantities of parameters named after an initializer in that
   * initializer's layout (transposed MatMul weights back to `[in, out]`);
   * default true. Off, every quantity is in the module's layout.
   */
  readonly onnxLayout?: boolean;
}

/** Progress of {@link computeQuantities}: extension `index` (1-based) of `total`. */
export interface ProgressEvent {
  /** Which extension, from 1. */
  readonly index: number;
  /** Number of extensions. */
  readonly total: number;
  /** The extension's name. */
  readonly extension: string;
  /** Duration of the extension's pass, once it is done. */
  readonly seconds?: number;
}

/**
 * The loss, the model's output and the quantities. The records have no
 * prototype, so any parameter name (even `__proto__`) is an own key.
 */
export interface QuantitiesResult {
  /** The loss's value. */
  readonly loss: number;
  /** The model's output on the input. */
  readonly output: ResultTensor;
  /** `quantities[extension][parameter]`; `grad` is the ordinary gradient. */
  readonly quantities: Record<string, Record<string, ResultQuantity>>;
}

/** A record without prototype: keys such as `__proto__` or `constructor` are ordinary own keys. */
export function nullRecord<T>(): Record<string, T> {
  return Object.create(null) as Record<string, T>;
}

/** A copy of the tensor's values (the backend may recycle its storage once the tensor is disposed). */
function toResult(t: Tensor): ResultTensor {
  return { shape: [...t.shape], data: Float64Array.from(t.toArray()) };
}

/** Transposes the last two dimensions of row-major values. */
function transposeLast2(q: ResultTensor): ResultTensor {
  const [rows, cols] = q.shape.slice(-2) as [number, number];
  const block = rows * cols;
  const data = new Float64Array(q.data.length);
  for (let b = 0; b < q.data.length / block; b++) {
    for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) data[b * block + j * rows + i] = q.data[b * block + i * cols + j]!;
  }
  return { shape: [...q.shape.slice(0, -2), cols, rows], data };
}

/**
 * The quantity in the layout of the initializer its parameter is named
 * after: per-entry quantities of a transposed weight are transposed back;
 * its Kronecker factors swap order (`[G, A]` of `W` is `[A, G]` of `Wᵀ`).
 */
function toOnnxLayout(q: ResultQuantity, parameterShape: readonly number[], source: OnnxParameterSource): ResultQuantity {
  if (!source.transposed || parameterShape.length !== 2) return q;
  if (Array.isArray(q)) return q.length === 2 ? [q[1]!, q[0]!] : q;
  const tail = q.shape.slice(-2);
  return tail[0] === parameterShape[0] && tail[1] === parameterShape[1] ? transposeLast2(q) : q;
}

function lossAndOutput(model: Module, loss: LossModule, input: Tensor, target: Tensor): { output: Tensor; loss: Tensor } {
  const output = model.forward(input);
  let value: Tensor;
  try {
    value = loss.forward(output, target);
  } catch (error) {
    throw new UserError(`the target does not fit ${loss.typeName} and the model's output ${JSON.stringify(output.shape)}: ${(error as Error).message}`);
  }
  return { output, loss: value };
}

/**
 * Computes the loss, the output, `.grad` and each extension's quantity for
 * every parameter of `model` (extended here if it is not). Each extension
 * runs in its own forward and backward pass, so one that fails names itself.
 */
export function computeQuantities(model: Module, input: Tensor, target: Tensor, options: QuantitiesOptions): QuantitiesResult {
  extend(model);
  const loss = extend(options.loss);
  const extensions = options.extensions.map((name) => createExtension(name, options));
  const onnx = model instanceof OnnxModel && options.onnxLayout !== false ? model : undefined;
  const layout = (name: string, shape: readonly number[], q: ResultQuantity): ResultQuantity => {
    const source = onnx?.source(name);
    return source !== undefined && source.initializer === name ? toOnnxLayout(q, shape, source) : q;
  };

  const first = tidy(() => {
    model.zeroGrad();
    const { output, loss: value } = lossAndOutput(model, loss, input, target);
    value.backward();
    const grads = nullRecord<ResultQuantity>();
    for (const [name, p] of model.namedParameters()) {
      if (p.grad !== undefined) grads[name] = layout(name, p.data.shape, toResult(p.grad));
    }
    return { loss: value.item(), output: toResult(output), grads };
  });
  model.zeroGrad();
  const quantities = nullRecord<Record<string, ResultQuantity>>();
  quantities['grad'] = first.grads;

  extensions.forEach((extension, i) => {
    const started = Date.now();
    const event = { index: i + 1, total: extensions.length, extension: extension.name };
    options.onProgress?.(event);
    quantities[extension.name] = tidy(() => {
      const { loss: value } = lossAndOutput(model, loss, input, target);
      backpack([extension], () => value.backward());
      const out = nullRecord<ResultQuantity>();
      for (const [name, p] of model.namedParameters()) {
        const q = (p as unknown as Record<string, Quantity | undefined>)[extension.savefield];
        if (q === undefined) continue;
        const values = Array.isArray(q) ? (q as Tensor[]).map(toResult) : toResult(q as Tensor);
        out[name] = layout(name, p.data.shape, values);
        delete (p as unknown as Record<string, unknown>)[extension.savefield];
      }
      model.zeroGrad();
      return out;
    });
    options.onProgress?.({ ...event, seconds: (Date.now() - started) / 1000 });
  });
  return { loss: first.loss, output: first.output, quantities };
}

/** What {@link estimateQuantitiesMemory} needs: shapes and counts, no values. */
export interface MemoryEstimateInput {
  /** The shape of each parameter. */
  readonly parameterShapes: readonly (readonly number[])[];
  /** Samples in the batch (N). */
  readonly batch: number;
  /** Values of the model's output per sample (C): the columns of the loss Hessian's square root. */
  readonly outputSize: number;
  /** Values per sample of the largest input or output of any module (A). */
  readonly activationSize: number;
  /** Monte-Carlo samples (M, default 1). */
  readonly mcSamples?: number;
  /** Bytes of one value in the backward pass: 8 for float64, 4 for float32 (results are then held as float64). */
  readonly bytesPerValue: number;
  /** Extension names (see {@link EXTENSION_NAMES}). */
  readonly extensions: readonly string[];
}

/** Memory of one extension in {@link MemoryEstimate}. */
export interface ExtensionMemory {
  /** The extension's name. */
  readonly extension: string;
  /** Bytes of what it stores for every parameter, as float64 (kept until the result is written). */
  readonly stored: number;
  /** Bytes of what its backward pass passes from module to module at once (gradient, square root, averaged GGN). */
  readonly backpropagated: number;
}

/** The outcome of {@link estimateQuantitiesMemory}. */
export interface MemoryEstimate {
  /** Bytes at the busiest moment: everything stored, plus the largest extension's backward pass and its result before it is copied out. */
  readonly bytes: number;
  /** Bytes of the loss's output and `.grad`, stored in any case. */
  readonly base: number;
  /** Per extension, in the order given. */
  readonly extensions: readonly ExtensionMemory[];
}

/** Values of the Kronecker factors of a parameter: `[p0, p0]`, and `[rest, rest]` for a weight of rank 2 or more. */
function kroneckerValues(shape: readonly number[]): number {
  if (shape.length === 0) return 1;
  const rest = sizeOf(shape.slice(1));
  return shape[0]! ** 2 + (shape.length > 1 ? rest ** 2 : 0);
}

/**
 * Estimates, from shapes alone, the memory that {@link computeQuantities}
 * needs for `input.extensions`: what each extension stores for every
 * parameter (`[N, ...p]` per sample, `[C or M, N, ...p]` for the GGN's
 * square roots, the Kronecker factors), kept until the result is written,
 * plus what the busiest backward pass passes between modules (`[N, A]` for
 * the gradient, `[C, N, A]` or `[M, N, A]` for the GGN's square roots,
 * `[A, A]` for KFRA). It counts the large arrays only, so it is a lower
 * bound of the real peak. Unknown extension names throw a UserError.
 */
export function estimateQuantitiesMemory(input: MemoryEstimateInput): MemoryEstimate {
  const { batch: n, outputSize: c, activationSize: a, bytesPerValue: bytes } = input;
  const m = input.mcSamples ?? 1;
  const sizes = input.parameterShapes.map((shape) => sizeOf(shape));
  const p = sizes.reduce((x, y) => x + y, 0);
  const extensions = input.extensions.map((name): ExtensionMemory => {
    const entry = findExtension(name);
    if (entry === undefined) throw new UserError(`unknown extension '${name}'; available: ${EXTENSION_NAMES.join(', ')}`);
    const stored = {
      'per-sample': n * p,
      parameter: p,
      'per-sample-norm': n * sizes.length,
      'exact-sqrt': c * n * p,
      'mc-sqrt': m * n * p,
      kronecker: input.parameterShapes.reduce((sum, shape) => sum + kroneckerValues(shape), 0),
    }[entry.stores];
    const backpropagated = { gradient: n * a, 'exact-sqrt': c * n * a, 'mc-sqrt': m * n * a, 'averaged-ggn': a * a + c * n * a }[entry.backpropagates];
    return { extension: entry.name, stored: stored * 8, backpropagated: backpropagated * bytes };
  });
  const base = (n * c + p) * 8;
  const allStored = extensions.reduce((sum, e) => sum + e.stored, 0);
  const busiest = extensions.reduce((most, e) => Math.max(most, e.backpropagated + (e.stored / 8) * bytes), 0);
  return { bytes: base + allStored + busiest, base, extensions };
}
