/**
 * Runs a golden case (forward pass, or a backward pass with extensions) and
 * compares every result with the reference. Generic over extensions: the
 * caller passes extension instances, whose `name` selects the reference
 * quantity and whose `savefield` the computed one.
 */
import { MONTE_CARLO_EXTENSION_NAMES } from '@backpack-ts/catalog';
import { backpack, tidy, type Extension, type Module, type Quantity, type Tensor } from '@backpack-ts/core';
import { compareNumbers, compareShapes, compareTensor, failedReport, type CompareReport } from '../compare.js';
import { buildGoldenModel, type BuildOptions, type GoldenModel } from './build-model.js';
import { expectedQuantity } from './expected.js';
import { isTensorList, type GoldenCase, type GoldenQuantity } from './load.js';

/**
 * Runs a backward pass: `pass` runs the forward pass, the loss and
 * `backpack(extensions, () => loss.backward())` on `model`, and returns the
 * loss. The default calls it once; a hook may run it through a compiled step,
 * several times (with `model.zeroGrad()` in between: `.grad` accumulates).
 */
export type RunPass = (pass: () => Tensor, model: Module) => void;

export interface GoldenCheckOptions extends BuildOptions {
  /** Largest accepted relative error (see `compareArrays`). */
  readonly tolerance: number;
  /** How the backward pass runs (default: once, as it is). */
  readonly runPass?: RunPass;
  /**
   * Extensions (by name) whose values depend on random numbers, compared by
   * shape only. Default {@link MONTE_CARLO_EXTENSIONS}.
   */
  readonly shapeOnly?: readonly string[];
}

/** The golden files' Monte-Carlo quantities (one sample of PyTorch's random numbers): comparable by shape only. */
export const MONTE_CARLO_EXTENSIONS: readonly string[] = MONTE_CARLO_EXTENSION_NAMES;

/** The reports of one run, or why the case could not be run. */
export type GoldenCheck =
  | {
      /** The layer or loss types this project lacks, comma-separated. */
      readonly unsupported: string;
    }
  | {
      /** Absent when the case ran. */
      readonly unsupported?: undefined;
      /** One comparison per quantity, parameter and extension. */
      readonly reports: readonly CompareReport[];
      /** Quantities that were computed but have no reference value, e.g. `"KFLR 1.weight"`. */
      readonly unchecked: readonly string[];
    };

function label(golden: GoldenCase, options: GoldenCheckOptions, what: string): string {
  return `${golden.name} [${options.backend.name} ${options.dtype}] ${what}`;
}

function isTensor(value: unknown): value is Tensor {
  return typeof value === 'object' && value !== null && (value as { isTensor?: unknown }).isTensor === true;
}

/**
 * Disposes what a run leaves on the model: parameters with `.grad` and every
 * extension quantity (the backward engine `keep`s those, so no scope does)
 * and buffers. Backends with manual memory then end a check where they began.
 */
function releaseModel(model: Module): void {
  for (const parameter of model.parameters()) {
    for (const value of Object.values(parameter) as unknown[]) {
      if (isTensor(value)) value.dispose();
      else if (Array.isArray(value)) for (const item of value) if (isTensor(item)) item.dispose();
    }
  }
  for (const [, buffer] of model.namedBuffers()) buffer.dispose();
}

function forward(built: GoldenModel) {
  const output = built.model.forward(built.input);
  return { output, loss: built.loss.forward(output, built.target) };
}

/** Compares the model's output and the loss value with the reference. */
export function checkGoldenForward(golden: GoldenCase, options: GoldenCheckOptions): GoldenCheck {
  return tidy(() => {
    const built = buildGoldenModel(golden, options);
    if (built.unsupported !== undefined) return { unsupported: built.unsupported };
    try {
      const { output, loss } = forward(built);
      const reports = [
        compareTensor(output, golden.output, { tolerance: options.tolerance, label: label(golden, options, 'output') }),
        compareNumbers(loss.item(), golden.loss, { tolerance: options.tolerance, label: label(golden, options, 'loss') }),
      ];
      return { reports, unchecked: [] };
    } finally {
      releaseModel(built.model);
    }
  });
}

/** Compares a computed quantity (a tensor or a list of Kronecker factors) with the reference. */
export function compareQuantity(
  actual: Quantity | undefined,
  expected: GoldenQuantity,
  options: { tolerance: number; label: string; shapeOnly?: boolean },
): CompareReport[] {
  const { tolerance, label } = options;
  const compare = options.shapeOnly === true ? compareShapes : compareTensor;
  if (!isTensorList(expected)) {
    if (Array.isArray(actual)) return [failedReport(label, tolerance, `got a list of ${actual.length} tensors, expected one tensor`)];
    return [compare(actual as Tensor | undefined, expected, options)];
  }
  const list: readonly Tensor[] = Array.isArray(actual) ? actual : actual === undefined ? [] : [actual as Tensor];
  if (list.length !== expected.length) {
    return [failedReport(label, tolerance, `got ${list.length} factors, expected ${expected.length}`)];
  }
  return expected.map((factor, i) => compare(list[i], factor, { ...options, label: `${options.label}[${i}]` }));
}

/**
 * Runs the forward pass and `backpack(extensions, () => loss.backward())`,
 * then compares `.grad` and each extension's quantity of every parameter
 * with the reference (`quantities`, or values derived from the brute-force
 * numbers where the reference has none; Monte-Carlo quantities by shape).
 */
export function checkGoldenExtensions(
  golden: GoldenCase,
  extensions: readonly Extension[],
  options: GoldenCheckOptions,
): GoldenCheck {
  return tidy(() => {
    const built = buildGoldenModel(golden, options);
    if (built.unsupported !== undefined) return { unsupported: built.unsupported };
    try {
      return compareExtensions(golden, built, extensions, options);
    } finally {
      releaseModel(built.model);
    }
  });
}

function compareExtensions(
  golden: GoldenCase,
  built: GoldenModel,
  extensions: readonly Extension[],
  options: GoldenCheckOptions,
): GoldenCheck {
  const pass = () => {
    const { loss } = forward(built);
    backpack(extensions, () => loss.backward());
    return loss;
  };
  (options.runPass ?? ((run: () => Tensor) => run()))(pass, built.model);

  const parameters = new Map(built.model.namedParameters());
  const reports: CompareReport[] = [];
  const unchecked: string[] = [];
  for (const name of Object.keys(golden.params)) {
    const parameter = parameters.get(name)!;
    const fields = parameter as unknown as Record<string, Quantity | undefined>;
    const quantities: [string, Quantity | undefined][] = [
      ['grad', parameter.grad],
      ...extensions.map((e): [string, Quantity | undefined] => [e.name, fields[e.savefield]]),
    ];
    for (const [quantity, actual] of quantities) {
      const expected = expectedQuantity(golden, quantity, name);
      if (expected === undefined) {
        unchecked.push(`${quantity} ${name}`);
        continue;
      }
      const shapeOnly = quantity !== 'grad' && (options.shapeOnly ?? MONTE_CARLO_EXTENSIONS).includes(quantity);
      const suffix = shapeOnly ? ' (shape only: Monte-Carlo)' : expected.source === 'bruteforce' ? ' (vs brute force)' : '';
      reports.push(
        ...compareQuantity(actual, expected.value, {
          tolerance: options.tolerance,
          label: label(golden, options, `${name} ${quantity}${suffix}`),
          shapeOnly,
        }),
      );
    }
  }
  return { reports, unchecked };
}
