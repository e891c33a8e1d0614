/**
 * @backpack-ts/catalog: the extensions and the backends of backpack-ts by
 * name, one table each, for everything that picks them by name (the
 * `backpack-ts` CLI, the benchmark, the examples, the conformance kit).
 *
 * The tables are `Map`s: a name such as `constructor` or `__proto__` is
 * simply not found, never an inherited property.
 *
 * @module \@backpack-ts/catalog
 */
import type { Extension } from '@backpack-ts/core';
import { GGNMP, HMP, PCHMP, type CurvatureProductExtension } from '@backpack-ts/curvmatprod';
import { BatchDiagGGNExact, BatchDiagGGNMC, DiagGGNExact, DiagGGNMC, SqrtGGNExact, SqrtGGNMC } from '@backpack-ts/diag-ggn';
import { BatchDiagHessian, DiagHessian } from '@backpack-ts/diag-hessian';
import { BatchGrad, BatchL2Grad, SumGradSquared, Variance } from '@backpack-ts/first-order';
import { KFAC, KFLR, KFRA } from '@backpack-ts/kronecker';

/** Options passed on to the extensions that take them (the others ignore them). */
export interface ExtensionOptions {
  /** Monte-Carlo extensions: samples per backward pass (default 1). */
  readonly mcSamples?: number;
  /** Monte-Carlo extensions: seed of the extension's own generator (default: core's default generator). */
  readonly seed?: number;
  /** BatchGrad and the GGN extensions: the convolutions' memory mode (BackPACK's `weight_jac_t_save_memory`). */
  readonly convSaveMemory?: boolean;
}

/** The options among `keys` that `options` sets (an extension refuses any other name). */
function pick(options: ExtensionOptions, keys: readonly (keyof ExtensionOptions)[]): ExtensionOptions {
  return Object.fromEntries(keys.filter((key) => options[key] !== undefined).map((key) => [key, options[key]]));
}

const MC = ['mcSamples', 'seed'] as const;
const MC_CONV = ['mcSamples', 'seed', 'convSaveMemory'] as const;
const CONV = ['convSaveMemory'] as const;

/**
 * What an extension stores on a parameter `p` of shape `[...p]`, for a
 * batch of N samples, C loss-Hessian square-root columns per sample (the
 * model's output size per sample) and M Monte-Carlo samples:
 * - `per-sample`: `[N, ...p]`
 * - `parameter`: `[...p]`
 * - `per-sample-norm`: `[N]`
 * - `exact-sqrt`: `[C, N, ...p]`
 * - `mc-sqrt`: `[M, N, ...p]`
 * - `kronecker`: Kronecker factors, `[p0, p0]` and `[rest, rest]` (rest the
 *   product of the other dimensions of a weight), `[p0, p0]` alone for a bias
 */
export type StoredShape = 'per-sample' | 'parameter' | 'per-sample-norm' | 'exact-sqrt' | 'mc-sqrt' | 'kronecker';

/**
 * What an extension passes backward through the network, for activations of
 * A values per sample:
 * - `gradient`: the gradient `[N, A]`
 * - `exact-sqrt`: a square root of the GGN (or Hessian) `[C, N, A]`
 * - `mc-sqrt`: a Monte-Carlo square root `[M, N, A]`
 * - `averaged-ggn`: the batch-averaged GGN of each activation `[A, A]`
 */
export type Backpropagated = 'gradient' | 'exact-sqrt' | 'mc-sqrt' | 'averaged-ggn';

/** One extension of the table. */
export interface ExtensionEntry {
  /** BackPACK's name, e.g. `BatchGrad`. */
  readonly name: string;
  /** A new instance with `options` (seed and samples where it draws random numbers). */
  readonly create: (options?: ExtensionOptions) => Extension;
  /** Whether its values depend on random numbers (`mcSamples`, `seed`). */
  readonly monteCarlo: boolean;
  /** What it stores on each parameter. */
  readonly stores: StoredShape;
  /** What its backward pass carries from module to module. */
  readonly backpropagates: Backpropagated;
}

function entry(
  name: string,
  create: (options: ExtensionOptions) => Extension,
  stores: StoredShape,
  backpropagates: Backpropagated,
  monteCarlo = false,
): [string, ExtensionEntry] {
  return [name, { name, create: (options = {}) => create(options), monteCarlo, stores, backpropagates }];
}

/** Every extension by its BackPACK name, in BackPACK's order (first-order, GGN, Hessian, Kronecker). */
export const EXTENSIONS: ReadonlyMap<string, ExtensionEntry> = new Map([
  entry('BatchGrad', (o) => new BatchGrad(pick(o, CONV)), 'per-sample', 'gradient'),
  entry('Variance', () => new Variance(), 'parameter', 'gradient'),
  entry('SumGradSquared', () => new SumGradSquared(), 'parameter', 'gradient'),
  entry('BatchL2Grad', () => new BatchL2Grad(), 'per-sample-norm', 'gradient'),
  entry('DiagGGNExact', (o) => new DiagGGNExact(pick(o, CONV)), 'parameter', 'exact-sqrt'),
  entry('DiagGGNMC', (o) => new DiagGGNMC(pick(o, MC_CONV)), 'parameter', 'mc-sqrt', true),
  entry('BatchDiagGGNExact', (o) => new BatchDiagGGNExact(pick(o, CONV)), 'per-sample', 'exact-sqrt'),
  entry('BatchDiagGGNMC', (o) => new BatchDiagGGNMC(pick(o, MC_CONV)), 'per-sample', 'mc-sqrt', true),
  entry('SqrtGGNExact', (o) => new SqrtGGNExact(pick(o, CONV)), 'exact-sqrt', 'exact-sqrt'),
  entry('SqrtGGNMC', (o) => new SqrtGGNMC(pick(o, MC_CONV)), 'mc-sqrt', 'mc-sqrt', true),
  entry('DiagHessian', () => new DiagHessian(), 'parameter', 'exact-sqrt'),
  entry('BatchDiagHessian', () => new BatchDiagHessian(), 'per-sample', 'exact-sqrt'),
  entry('KFAC', (o) => new KFAC(pick(o, MC)), 'kronecker', 'mc-sqrt', true),
  entry('KFLR', () => new KFLR(), 'kronecker', 'exact-sqrt'),
  entry('KFRA', () => new KFRA(), 'kronecker', 'averaged-ggn'),
]);

/** One curvature-product extension of the table {@link CURVATURE_PRODUCT_EXTENSIONS}. */
export interface CurvatureProductEntry {
  /** BackPACK's name, e.g. `HMP`. */
  readonly name: string;
  /** A new instance with its default options. */
  readonly create: () => CurvatureProductExtension;
}

/**
 * The curvature-matrix-product extensions of `@backpack-ts/curvmatprod`
 * (BackPACK's `curvmatprod`), in BackPACK's order: HMP, GGNMP, PCHMP. They
 * are a table of their own, apart from {@link EXTENSIONS}, because each
 * stores a function on every parameter (`param.hmp(mat)`) rather than
 * tensors, which what reads {@link EXTENSIONS} (the CLI's printing and
 * memory estimate, the golden suite) expects.
 */
export const CURVATURE_PRODUCT_EXTENSIONS: ReadonlyMap<string, CurvatureProductEntry> = new Map(
  [
    { name: 'HMP', create: () => new HMP() },
    { name: 'GGNMP', create: () => new GGNMP() },
    { name: 'PCHMP', create: () => new PCHMP() },
  ].map((entry) => [entry.name, entry]),
);

/** The names of {@link EXTENSIONS}, in its order. */
export const EXTENSION_NAMES: readonly string[] = [...EXTENSIONS.keys()];

/** The names of the Monte-Carlo extensions (values depend on random numbers). */
export const MONTE_CARLO_EXTENSION_NAMES: readonly string[] = [...EXTENSIONS.values()].filter((e) => e.monteCarlo).map((e) => e.name);

/** The extension called `name`, compared case-insensitively (`batchgrad` is `BatchGrad`), or undefined. */
export function findExtension(name: string): ExtensionEntry | undefined {
  const lower = name.toLowerCase();
  for (const extension of EXTENSIONS.values()) if (extension.name.toLowerCase() === lower) return extension;
  return undefined;
}

/** The backends, by the name `--backend` takes. */
export const BACKEND_NAMES = ['cpu', 'onnxruntime', 'tfjs'] as const;
/** One of {@link BACKEND_NAMES}. */
export type BackendName = (typeof BACKEND_NAMES)[number];

/** One backend of the table: its package, and how the package gives its full-speed backend. */
export interface BackendEntry {
  /** The name `--backend` takes. */
  readonly name: BackendName;
  /** The npm package, e.g. `@backpack-ts/backend-cpu`. */
  readonly packageName: string;
  /** Its folder under `packages/` in this repository. */
  readonly workspaceDir: string;
  /**
   * The backend (or a promise of it) from the package's exports with default
   * options, or undefined when the exports lack the expected entry point.
   */
  readonly fromModule: (module: Readonly<Record<string, unknown>>) => unknown;
}

function own(module: Readonly<Record<string, unknown>>, key: string): unknown {
  return Object.hasOwn(module, key) ? module[key] : undefined;
}

/** Every backend by name: backend-cpu's `cpu`, `new OrtBackend()`, `loadTfjsBackend()` (the fastest tfjs engine that loads). */
export const BACKENDS: ReadonlyMap<BackendName, BackendEntry> = new Map<BackendName, BackendEntry>([
  ['cpu', { name: 'cpu', packageName: '@backpack-ts/backend-cpu', workspaceDir: 'backend-cpu', fromModule: (m) => own(m, 'cpu') }],
  [
    'onnxruntime',
    {
      name: 'onnxruntime',
      packageName: '@backpack-ts/backend-onnxruntime',
      workspaceDir: 'backend-onnxruntime',
      fromModule: (m) => {
        const OrtBackend = own(m, 'OrtBackend');
        return typeof OrtBackend === 'function' ? new (OrtBackend as new () => unknown)() : undefined;
      },
    },
  ],
  [
    'tfjs',
    {
      name: 'tfjs',
      packageName: '@backpack-ts/backend-tfjs',
      workspaceDir: 'backend-tfjs',
      fromModule: (m) => {
        const load = own(m, 'loadTfjsBackend');
        return typeof load === 'function' ? (load as () => unknown)() : undefined;
      },
    },
  ],
]);

/** The backend called `name` (exact spelling), or undefined. */
export function findBackend(name: string): BackendEntry | undefined {
  return (BACKENDS as ReadonlyMap<string, BackendEntry>).get(name);
}

/** Whether `name` is one of {@link BACKEND_NAMES}. */
export function isBackendName(name: string): name is BackendName {
  return findBackend(name) !== undefined;
}
