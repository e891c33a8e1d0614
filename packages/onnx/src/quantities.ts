/**
 * Runs a loss and extensions on a model and collects every parameter's
 * quantities as plain `{shape, data}` values: what the CLI writes.
 */
import {
  BCEWithLogitsLoss,
  CrossEntropyLoss,
  MSELoss,
  backpack,
  extend,
  tidy,
  type Extension,
  type LossModule,
  type Module,
  type Quantity,
  type Reduction,
  type Tensor,
} from '@backpack-ts/core';
import { BatchDiagGGNExact, BatchDiagGGNMC, DiagGGNExact, DiagGGNMC, SqrtGGNExact, SqrtGGNMC } from '@backpack-ts/diag-ggn';
import { BatchDiagHessian, DiagHessian } from '@backpack-ts/diag-hessian';
import { BatchGrad, BatchL2Grad, SumGradSquared, Variance } from '@backpack-ts/first-order';
import { KFAC, KFLR, KFRA } from '@backpack-ts/kronecker';
import { UserError } from './errors.js';
import { OnnxModel, type OnnxParameterSource } from './import/onnx-model.js';

/** A tensor as written to JSON: shape and row-major data. */
export interface JsonTensor {
  shape: number[];
  data: number[];
}

/** What an extension stored for one parameter. */
export type JsonQuantity = JsonTensor | JsonTensor[];

/** Options of the Monte-Carlo extensions. */
export interface MonteCarloSettings {
  /** Samples per backward pass (default 1). */
  readonly mcSamples?: number;
  /** Seed of each Monte-Carlo extension's own generator (default: core's default generator). */
  readonly seed?: number;
}

const EXTENSIONS: Readonly<Record<string, (mc: MonteCarloSettings) => Extension>> = {
  BatchGrad: () => new BatchGrad(),
  Variance: () => new Variance(),
  SumGradSquared: () => new SumGradSquared(),
  BatchL2Grad: () => new BatchL2Grad(),
  DiagGGNExact: () => new DiagGGNExact(),
  DiagGGNMC: (mc) => new DiagGGNMC(mc),
  BatchDiagGGNExact: () => new BatchDiagGGNExact(),
  BatchDiagGGNMC: (mc) => new BatchDiagGGNMC(mc),
  SqrtGGNExact: () => new SqrtGGNExact(),
  SqrtGGNMC: (mc) => new SqrtGGNMC(mc),
  DiagHessian: () => new DiagHessian(),
  BatchDiagHessian: () => new BatchDiagHessian(),
  KFAC: (mc) => new KFAC(mc),
  KFLR: () => new KFLR(),
  KFRA: () => new KFRA(),
};

/** Extension names the CLI and {@link computeQuantities} accept, as BackPACK names them. */
export const EXTENSION_NAMES: readonly string[] = Object.keys(EXTENSIONS);

/** Loss names accepted, as PyTorch names them. */
export const LOSS_NAMES = ['CrossEntropyLoss', 'MSELoss', 'BCEWithLogitsLoss'] as const;
export type LossName = (typeof LOSS_NAMES)[number];

/** The extension called `name` (BackPACK's spelling, case-insensitive), or a UserError listing the names. */
export function createExtension(name: string, mc: MonteCarloSettings = {}): Extension {
  const key = EXTENSION_NAMES.find((n) => n.toLowerCase() === name.toLowerCase());
  if (key === undefined) throw new UserError(`unknown extension '${name}'; available: ${EXTENSION_NAMES.join(', ')}`);
  const options = { ...(mc.mcSamples !== undefined && { mcSamples: mc.mcSamples }), ...(mc.seed !== undefined && { seed: mc.seed }) };
  return EXTENSIONS[key]!(options);
}

/** The loss called `name`, with `reduction`. */
export function createLoss(name: string, reduction: Reduction = 'mean'): LossModule {
  switch (name.toLowerCase()) {
    case 'crossentropyloss':
      return new CrossEntropyLoss(reduction);
    case 'mseloss':
      return new MSELoss(reduction);
    case 'bcewithlogitsloss':
      return new BCEWithLogitsLoss(reduction);
    default:
      throw new UserError(`unknown loss '${name}'; available: ${LOSS_NAMES.join(', ')}`);
  }
}

export interface QuantitiesOptions extends MonteCarloSettings {
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
  readonly index: number;
  readonly total: number;
  readonly extension: string;
  /** Duration of the extension's pass, once it is done. */
  readonly seconds?: number;
}

export interface QuantitiesResult {
  readonly loss: number;
  readonly output: JsonTensor;
  /** `quantities[extension][parameter]`; `grad` is the ordinary gradient. */
  readonly quantities: Record<string, Record<string, JsonQuantity>>;
}

function toJson(t: Tensor): JsonTensor {
  return { shape: [...t.shape], data: Array.from(t.toArray()) };
}

/** Transposes the last two dimensions of row-major values. */
function transposeLast2(q: JsonTensor): JsonTensor {
  const [rows, cols] = q.shape.slice(-2) as [number, number];
  const block = rows * cols;
  const data = new Array<number>(q.data.length);
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
function toOnnxLayout(q: JsonQuantity, parameterShape: readonly number[], source: OnnxParameterSource): JsonQuantity {
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
  const layout = (name: string, shape: readonly number[], q: JsonQuantity): JsonQuantity => {
    const source = onnx?.source(name);
    return source !== undefined && source.initializer === name ? toOnnxLayout(q, shape, source) : q;
  };

  const first = tidy(() => {
    model.zeroGrad();
    const { output, loss: value } = lossAndOutput(model, loss, input, target);
    value.backward();
    const grads: Record<string, JsonQuantity> = {};
    for (const [name, p] of model.namedParameters()) {
      if (p.grad !== undefined) grads[name] = layout(name, p.data.shape, toJson(p.grad));
    }
    return { loss: value.item(), output: toJson(output), grads };
  });
  model.zeroGrad();
  const quantities: Record<string, Record<string, JsonQuantity>> = { grad: first.grads };

  extensions.forEach((extension, i) => {
    const started = Date.now();
    const event = { index: i + 1, total: extensions.length, extension: extension.name };
    options.onProgress?.(event);
    quantities[extension.name] = tidy(() => {
      const { loss: value } = lossAndOutput(model, loss, input, target);
      backpack([extension], () => value.backward());
      const out: Record<string, JsonQuantity> = {};
      for (const [name, p] of model.namedParameters()) {
        const q = (p as unknown as Record<string, Quantity | undefined>)[extension.savefield];
        if (q === undefined) continue;
        const json = Array.isArray(q) ? (q as Tensor[]).map(toJson) : toJson(q as Tensor);
        out[name] = layout(name, p.data.shape, json);
        delete (p as unknown as Record<string, unknown>)[extension.savefield];
      }
      model.zeroGrad();
      return out;
    });
    options.onProgress?.({ ...event, seconds: (Date.now() - started) / 1000 });
  });
  return { loss: first.loss, output: first.output, quantities };
}
