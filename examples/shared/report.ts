/**
 * What the examples share: the command line (`--backend`, `--batch-size`),
 * their MNIST batch, BackPACK's field names, and the report that runs one
 * backward pass per set of extensions and prints the shape of every quantity
 * stored on each parameter, aligned as in BackPACK's examples; and how the
 * use cases compare two computations in the checks they print.
 */
import { cpu } from '@backpack-ts/backend-cpu';
import { BACKEND_NAMES, isBackendName, type BackendName } from '@backpack-ts/catalog';
import { loadFastestBackend, OrtBackend } from '@backpack-ts/backend-onnxruntime';
import { loadTfjsBackendSync } from '@backpack-ts/backend-tfjs';
import {
  backpack,
  formatShape,
  tensor,
  type Backend,
  type Extension,
  type FloatDType,
  type LossModule,
  type Module,
  type Quantity,
  type Tensor,
} from '@backpack-ts/core';
import { BatchGrad, BatchL2Grad, SumGradSquared, Variance } from '@backpack-ts/first-order';
import { loadMnistBatch } from '@backpack-ts/mnist';
import { pathToFileURL } from 'node:url';

/**
 * Backends selectable with `--backend`, created when chosen (onnxruntime
 * loads a native library). Without `--backend`, the fastest that loads.
 */
export const backends: Readonly<Record<BackendName, () => Backend>> = {
  cpu: () => cpu,
  onnxruntime: () => new OrtBackend(),
  // TensorFlow.js on its fastest engine here (tfjs-node, else wasm, else cpu); the name says which, e.g. 'tfjs (wasm)'.
  tfjs: () => loadTfjsBackendSync(),
};

/** float64 where the backend stores it (the reference's precision), else float32 (tfjs). */
export function exampleDType(backend: Backend): FloatDType {
  return backend.dtypes.includes('float64') ? 'float64' : 'float32';
}

/**
 * `batchSize` real MNIST digits (`@backpack-ts/mnist`, seed 0, from position
 * `offset` of its seeded order: consecutive offsets give disjoint batches) as
 * tensors on `backend`: images `[N, 1, 28, 28]` normalised as in BackPACK's
 * examples, labels int32 class indices `[N]`.
 */
export function mnistBatch(
  batchSize: number,
  backend: Backend,
  dtype: FloatDType,
  options: { offset?: number } = {},
): { images: Tensor; labels: Tensor } {
  const { pixels, labels, shape } = loadMnistBatch(batchSize, { dtype, offset: options.offset ?? 0 });
  return {
    images: tensor(pixels, shape, { backend, dtype }),
    labels: tensor(labels, [batchSize], { backend, dtype: 'int32' }),
  };
}

/** BackPACK's (snake_case) field name for each of this project's savefields. */
export const fieldNames: Readonly<Record<string, string>> = {
  gradBatch: 'grad_batch',
  variance: 'variance',
  sumGradSquared: 'sum_grad_squared',
  batchL2: 'batch_l2',
  diagGgnExact: 'diag_ggn_exact',
  diagGgnMc: 'diag_ggn_mc',
  diagGgnExactBatch: 'diag_ggn_exact_batch',
  diagGgnMcBatch: 'diag_ggn_mc_batch',
  sqrtGgnExact: 'sqrt_ggn_exact',
  sqrtGgnMc: 'sqrt_ggn_mc',
  kfac: 'kfac',
  kflr: 'kflr',
  kfra: 'kfra',
  diagH: 'diag_h',
  diagHBatch: 'diag_h_batch',
};

/** Column where the shapes start. */
export const LABEL_WIDTH = 26;

/** The label padded to {@link LABEL_WIDTH} (longer labels get one space). */
function label(text: string): string {
  return text.padEnd(Math.max(LABEL_WIDTH, text.length + 1));
}

/** `.field.shape:  [..]` for a tensor, `.field (shapes):  [[..], [..]]` for a list of Kronecker factors. */
export function shapeLine(field: string, value: Quantity | undefined): string {
  if (Array.isArray(value)) {
    const shapes = (value as readonly Tensor[]).map((factor) => formatShape(factor.shape));
    return label(`.${field} (shapes):`) + `[${shapes.join(', ')}]`;
  }
  const shape = value === undefined ? 'not computed' : formatShape((value as Tensor).shape);
  return label(`.${field}.shape:`) + shape;
}

/** The parsed command line. */
export interface ExampleArgs {
  readonly backend: Backend;
  /** How the backend was chosen, for the report: `''` when named with `--backend`, else why this one. */
  readonly backendNote: string;
  /** `--batch-size N`, or the example's default. */
  readonly batchSize: number;
  /** The example's own integer options (`--steps N`), by name, each its default unless given. */
  readonly integers: Readonly<Record<string, number>>;
}

/**
 * Parses `--backend NAME` / `--backend=NAME` (default: the fastest backend
 * that loads, see `loadFastestBackend`) and, when the example has a default
 * batch size, `--batch-size N` / `--batch-size=N`, and the example's own
 * positive integer options (`integers`, e.g. `{ steps: 50 }` for `--steps N`,
 * the value its default).
 */
export function parseArgs(
  args: readonly string[],
  example: { name: string; batchSize?: number; integers?: Readonly<Record<string, number>> },
): ExampleArgs {
  const integers: Record<string, number> = { ...example.integers };
  if (example.batchSize !== undefined) integers['batch-size'] = example.batchSize;
  const usage = `usage: ${example.name} [--backend ${BACKEND_NAMES.join('|')}]${Object.keys(integers)
    .map((option) => ` [--${option} N]`)
    .join('')}`;
  let name: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--') continue;
    const [flag, inline] = arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const value = inline ?? (flag === arg ? args[i + 1] : undefined);
    if (inline === undefined && (flag === '--backend' || integers[flag.slice(2)] !== undefined)) i++;
    if (flag === '--backend') name = value ?? '';
    else if (flag.startsWith('--') && integers[flag.slice(2)] !== undefined) {
      const number = Number(value);
      if (!Number.isInteger(number) || number < 1) throw new Error(`${flag} must be a positive integer, got '${value ?? ''}'\n${usage}`);
      integers[flag.slice(2)] = number;
    } else throw new Error(`unknown argument '${arg}'\n${usage}`);
  }
  const batchSize = integers['batch-size'] ?? 0;
  if (name === undefined) {
    const { backend, skipped } = loadFastestBackend();
    const why = skipped.map((s) => `${s.name} did not load: ${s.reason}`).join('; ');
    return { backend, backendNote: ` (the fastest that loads${why === '' ? '' : `; ${why}`}; choose with --backend)`, batchSize, integers };
  }
  if (!isBackendName(name)) {
    throw new Error(`backend '${name}' is not available (available: ${BACKEND_NAMES.join(', ')})\n${usage}`);
  }
  return { backend: backends[name](), backendNote: '', batchSize, integers };
}

/** The first rows of every extension report, in BackPACK's order: each first-order extension alone, then all four in one pass. */
export const firstOrderRuns: readonly (() => Extension[])[] = [
  () => [new BatchGrad()],
  () => [new Variance()],
  () => [new SumGradSquared()],
  () => [new BatchL2Grad()],
  () => [new BatchGrad(), new Variance(), new SumGradSquared(), new BatchL2Grad()],
];

/**
 * For each entry of `runs`: a fresh forward pass, one backward pass with
 * those extensions, and for every parameter its name, the shape of `.grad`
 * and of what each extension stored, under BackPACK's field names.
 */
export function reportExtensions(
  problem: { model: Module; lossFunction: LossModule; input: Tensor; target: Tensor },
  runs: readonly (() => Extension[])[],
  print: (line: string) => void,
): void {
  const { model, lossFunction, input, target } = problem;
  for (const makeExtensions of runs) {
    const extensions = makeExtensions();
    print('');
    print(`Extension${extensions.length > 1 ? 's' : ''}: ${extensions.map((e) => e.name).join(', ')}`);
    model.zeroGrad();
    const loss = lossFunction.forward(model.forward(input), target);
    backpack(extensions, () => loss.backward());
    for (const [name, parameter] of model.namedParameters()) {
      const fields = parameter as unknown as Record<string, Quantity | undefined>;
      print(name);
      print(shapeLine('grad', parameter.grad));
      for (const { savefield } of extensions) print(shapeLine(fieldNames[savefield] ?? savefield, fields[savefield]));
    }
  }
}

/** Runs an example's `main` when its file is the entry point, printing errors without a stack. */
export function runIfMain(url: string, main: (args: readonly string[]) => void): void {
  const entry = process.argv[1];
  if (entry === undefined || url !== pathToFileURL(entry).href) return;
  try {
    main(process.argv.slice(2));
  } catch (error) {
    console.error(error instanceof Error ? error.message : error);
    process.exitCode = 1;
  }
}

/** Relative tolerance of the examples' own checks, per dtype: about a thousand roundings (tfjs has float32 only). */
const CHECK_TOLERANCE: Readonly<Record<FloatDType, number>> = { float64: 1e-10, float32: 1e-4 };

/**
 * Whether two computations of a quantity in `dtype` agree, as the examples
 * print their checks (`... match? true`): every entry within
 * `tolerance · max(1, |expected|)`, the tolerance 1e-10 in float64 and 1e-4
 * in float32.
 */
export function agree(actual: ArrayLike<number>, expected: ArrayLike<number>, dtype: FloatDType): boolean {
  if (actual.length !== expected.length) return false;
  const tolerance = CHECK_TOLERANCE[dtype];
  for (let i = 0; i < expected.length; i++) {
    if (!(Math.abs(actual[i]! - expected[i]!) <= tolerance * Math.max(1, Math.abs(expected[i]!)))) return false;
  }
  return true;
}

/** The largest absolute elementwise difference of two tensors of one shape (what the use cases print as their checks). */
export function maxAbsDifference(a: Tensor, b: Tensor): number {
  if (a.size !== b.size) throw new RangeError(`maxAbsDifference: ${formatShape(a.shape)} and ${formatShape(b.shape)} differ in size`);
  const [x, y] = [a.toArray(), b.toArray()];
  let worst = 0;
  for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(x[i]! - y[i]!));
  return worst;
}
