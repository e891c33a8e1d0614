/**
 * Golden reference cases: small networks with every quantity computed in
 * float64 by the reference implementation (BackPACK on PyTorch), stored as
 * JSON files in one directory (see that directory's README.md).
 *
 * This module is the only one in the package that touches the file system.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** A tensor as stored in the JSON files: row-major (C order) data and its shape. */
export interface GoldenTensor {
  /** Dimensions. */
  readonly shape: readonly number[];
  /** The elements, row-major. */
  readonly data: readonly number[];
}

/** What an extension stored for one parameter: a tensor, or a list of Kronecker factors. */
export type GoldenQuantity = GoldenTensor | readonly GoldenTensor[];

/**
 * One layer of the case's network, in PyTorch naming and argument names,
 * e.g. `{ type: 'Linear', in: 4, out: 3, bias: false }` or `{ type: 'LeakyReLU', negative_slope: 0.1 }`.
 */
export interface GoldenLayerSpec {
  /** The PyTorch module's class name (`'Conv2d'`). */
  readonly type: string;
  readonly [argument: string]: unknown;
}

/** The loss of the case (`reduction` defaults to `mean`). */
export interface GoldenLossSpec {
  /** The PyTorch loss's class name (`'CrossEntropyLoss'`). */
  readonly type: string;
  /** PyTorch's `reduction`. */
  readonly reduction?: 'mean' | 'sum';
}

/** The spec a case was generated from. */
export interface GoldenCaseSpec {
  /** The case's name. */
  readonly name: string;
  /** PyTorch's seed; not reproducible here, use the stored tensors. */
  readonly seed: number;
  /** Batch size. */
  readonly batch: number;
  /** Shape of one sample (without the batch dimension). */
  readonly input: {
    /** Dimensions of one sample. */
    readonly shape: readonly number[];
  };
  /** The network's layers, in order. */
  readonly layers: readonly GoldenLayerSpec[];
  /** The loss. */
  readonly loss: GoldenLossSpec;
}

/** Plain-autograd results (a loop over samples), by parameter name. */
export interface GoldenBruteforce {
  /** Per-sample gradients `[N, ...param]`, with the loss's reduction factor. */
  readonly grad_batch?: Readonly<Record<string, GoldenTensor>>;
  /** The exact GGN diagonal `[...param]`. */
  readonly diag_ggn_exact?: Readonly<Record<string, GoldenTensor>>;
  /** The Hessian diagonal `[...param]`. */
  readonly diag_h?: Readonly<Record<string, GoldenTensor>>;
}

/** The contents of one golden JSON file. */
export interface GoldenCase {
  /** The case's name (the file name without `.json`). */
  readonly name: string;
  /** What the case was generated from. */
  readonly case: GoldenCaseSpec;
  /** The input batch. */
  readonly input: GoldenTensor;
  /** Class indices (CrossEntropyLoss, stored as numbers) or float targets. */
  readonly target: GoldenTensor;
  /** The model's output for `input`. */
  readonly output: GoldenTensor;
  /** The loss value. */
  readonly loss: number;
  /** Parameters by PyTorch name (`"1.weight"`), in PyTorch layouts. */
  readonly params: Readonly<Record<string, GoldenTensor>>;
  /** Buffers by PyTorch name (`"1.running_mean"`); may be empty. */
  readonly buffers?: Readonly<Record<string, GoldenTensor>>;
  /**
   * `quantities[extension][param]`, with `quantities.grad` the ordinary
   * gradient; extension names as in BackPACK (`BatchGrad`, `Variance`, ...).
   */
  readonly quantities: Readonly<Record<string, Readonly<Record<string, GoldenQuantity>>>>;
  /** Extensions the reference failed on or does not support for this network, with its message. */
  readonly errors?: Readonly<Record<string, string>>;
  /** What the reference printed, by extension. */
  readonly warnings?: Readonly<Record<string, string>>;
  /** Results of plain autograd, where the generator computed them. */
  readonly bruteforce?: GoldenBruteforce;
}

/** A golden file found on disk. */
export interface GoldenCaseFile {
  /** The file name without `.json`, e.g. `"seed_linear"`. */
  readonly name: string;
  /** Absolute path of the JSON file. */
  readonly path: string;
  /** The folder it is in, whose `onnx/` holds its exported network (`<name>.onnx`). */
  readonly dir: string;
}

/**
 * The environment variable that overrides where the golden files are looked
 * for: one folder, or several separated by the path delimiter (`:`; `;` on
 * Windows).
 */
export const GOLDEN_DIR_ENV = 'BACKPACK_GOLDEN_DIR';

/** The folders beside the repository that hold golden cases: the original ones, and BackPACK's custom modules, recurrent layers and loss shapes. */
export const GOLDEN_FOLDERS: readonly string[] = ['golden', 'golden-modules'];

/**
 * The nearest ancestor of `start` (inclusive) that holds `pnpm-workspace.yaml`,
 * or undefined.
 */
export function findRepoRoot(start: string = dirname(fileURLToPath(import.meta.url))): string | undefined {
  let dir = resolve(start);
  for (;;) {
    if (existsSync(join(dir, 'pnpm-workspace.yaml'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

/**
 * Where the golden files are expected: the folders of `$BACKPACK_GOLDEN_DIR`
 * if set, else `<repo root>/../shared/<folder>` for each of
 * {@link GOLDEN_FOLDERS}. The folders may not exist; empty only when neither
 * the variable nor a repository root is found.
 */
export function goldenDirs(): string[] {
  const fromEnv = process.env[GOLDEN_DIR_ENV];
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv.split(delimiter).filter((d) => d !== '').map((d) => resolve(d));
  const root = findRepoRoot();
  return root === undefined ? [] : GOLDEN_FOLDERS.map((folder) => resolve(root, '..', 'shared', folder));
}

/** The first of {@link goldenDirs} (the original cases, e.g. `seed_linear`), or undefined. */
export function goldenDir(): string | undefined {
  return goldenDirs()[0];
}

/**
 * The golden cases in `dirs` (default: {@link goldenDirs}), sorted by name;
 * folders that are absent contribute nothing (`[]` when none exists, so
 * callers can report the suite as skipped). A name found in two folders is
 * an error naming both files.
 */
export function listGoldenCases(dirs: string | readonly string[] | undefined = goldenDirs()): GoldenCaseFile[] {
  const folders = dirs === undefined ? [] : typeof dirs === 'string' ? [dirs] : dirs;
  const byName = new Map<string, GoldenCaseFile>();
  for (const dir of folders) {
    if (!existsSync(dir)) continue;
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.json'))) {
      const found: GoldenCaseFile = { name: file.slice(0, -'.json'.length), path: join(dir, file), dir };
      const previous = byName.get(found.name);
      if (previous !== undefined) throw new Error(`golden case '${found.name}' is in two folders: ${previous.path} and ${found.path}`);
      byName.set(found.name, found);
    }
  }
  return [...byName.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Reads and parses one golden file (a {@link GoldenCaseFile} or a path). */
export function loadGoldenCase(file: GoldenCaseFile | string): GoldenCase {
  const path = typeof file === 'string' ? file : file.path;
  const parsed = JSON.parse(readFileSync(path, 'utf8')) as GoldenCase;
  if (typeof parsed !== 'object' || parsed === null || parsed.case === undefined || parsed.params === undefined) {
    throw new Error(`${path} is not a golden case (expected fields 'case', 'params', 'quantities', ...)`);
  }
  return parsed;
}

/** Whether a golden quantity is a list of tensors (Kronecker factors) rather than one tensor. */
export function isTensorList(quantity: GoldenQuantity): quantity is readonly GoldenTensor[] {
  return Array.isArray(quantity);
}
