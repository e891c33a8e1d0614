/**
 * Every example `pnpm example <name>` runs, in the order `pnpm example`
 * lists them: the seed and cnn examples, then BackPACK's 15 use cases
 * (`reference` names the BackPACK example each one ports).
 *
 * Adding an example is its file (exporting `main(args, print)`) and a row
 * below with its `load`.
 */
import type { ProgressStream } from '@backpack-ts/onnx/cli';

/** An example's entry point: command-line arguments, a sink for the report's lines, a stream for progress bars. */
export type ExampleMain = (args: readonly string[], print: (line: string) => void, progress?: ProgressStream) => unknown;

/** One row of the listing. */
export interface ExampleEntry {
  /** What `pnpm example <name>` takes. */
  readonly name: string;
  /** One line: what the example shows. */
  readonly summary: string;
  /** The BackPACK example it ports, under `docs_src/examples/` of f-dangel/backpack. */
  readonly reference?: string;
  /** Imports the example (lazily: listing loads no backend). */
  readonly load: () => Promise<{ main: ExampleMain }>;
}

/** The examples, in listing order. */
export const examples: readonly ExampleEntry[] = [
  { name: 'seed', summary: 'every extension on a linear MNIST classifier: the shape of each quantity', load: () => import('./seed/main.js') },
  { name: 'cnn', summary: 'every extension on a small MNIST CNN: the shape of each quantity', load: () => import('./cnn/main.js') },
  {
    name: 'all-in-one',
    summary: 'all 15 extensions on a linear MNIST classifier, one backward pass per group, then the HMP/GGNMP/PCHMP block products',
    reference: 'basic_usage/example_all_in_one.py',
    load: () => import('./use-cases/all-in-one.js'),
  },
  {
    name: 'batched-jacobians',
    summary: 'the Jacobian [N, C, ...param] of an MLP output, by BatchGrad (C passes) and by SqrtGGNExact (one)',
    reference: 'use_cases/example_batched_jacobians.py',
    load: () => import('./use-cases/batched-jacobians.js'),
  },
  {
    name: 'cg-newton',
    summary: 'damped Newton steps solved by CG on GGN, Hessian and PCH block products (GGNMP, HMP, PCHMP), against SGD',
    reference: 'use_cases/example_cg_newton.py',
    load: () => import('./use-cases/cg-newton.js'),
  },
  {
    name: 'custom-module',
    summary: 'a module of your own (y = w·x) with BatchGrad and DiagGGNExact rules set per extension',
    reference: 'use_cases/example_custom_module.py',
    load: () => import('./use-cases/custom-module.js'),
  },
  {
    name: 'diag-ggn-optimizer',
    summary: 'a Newton-like optimizer preconditioned by the damped GGN diagonal',
    reference: 'use_cases/example_diag_ggn_optimizer.py',
    load: () => import('./use-cases/diag-ggn-optimizer.js'),
  },
  {
    name: 'differential-privacy',
    summary: 'DP-SGD: per-sample gradients clipped to norm C, summed, noised, on a small MNIST CNN',
    reference: 'use_cases/example_differential_privacy.py',
    load: () => import('./use-cases/differential-privacy.js'),
  },
  {
    name: 'extension-hook',
    summary: 'the Hessian trace summed module by module in an extension hook, each diagonal freed at once',
    reference: 'use_cases/example_extension_hook.py',
    load: () => import('./use-cases/extension-hook.js'),
  },
  {
    name: 'first-order-resnet',
    summary: 'per-sample gradients of a ResNet whose forward adds the skip connection by hand',
    reference: 'use_cases/example_first_order_resnet.py',
    load: () => import('./use-cases/first-order-resnet.js'),
  },
  {
    name: 'gradient-of-variance',
    summary: 'the gradient of the total variance of per-sample gradients, through a createGraph backward',
    reference: 'use_cases/example_gradient_of_variance.py',
    load: () => import('./use-cases/gradient-of-variance.js'),
  },
  {
    name: 'resnet-all-in-one',
    summary: 'a ResNet built from Parallel and SumModule: per-sample gradients and the exact GGN diagonal',
    reference: 'use_cases/example_resnet_all_in_one.py',
    load: () => import('./use-cases/resnet-all-in-one.js'),
  },
  {
    name: 'retain-graph',
    summary: "an auto-encoder's GGN diagonal in chunks of its output, one backward pass each through one graph",
    reference: 'use_cases/example_retain_graph.py',
    load: () => import('./use-cases/retain-graph.js'),
  },
  {
    name: 'rnn',
    summary: 'two stacked LSTMs (ReduceTuple, Permute) reading the pixel rows of MNIST digits: per-sample gradients and GGN diagonal',
    reference: 'use_cases/example_rnn.py',
    load: () => import('./use-cases/rnn.js'),
  },
  {
    name: 'save-memory-convolutions',
    summary: "convolutions' per-sample gradients a chunk of samples at a time (convSaveMemory): same numbers, time of each",
    reference: 'use_cases/example_save_memory_convolutions.py',
    load: () => import('./use-cases/save-memory-convolutions.js'),
  },
  {
    name: 'subsampling',
    summary: 'per-sample gradients of chosen samples only (BatchGrad subsampling)',
    reference: 'use_cases/example_subsampling.py',
    load: () => import('./use-cases/subsampling.js'),
  },
  {
    name: 'trace-estimation',
    summary: 'Hutchinson estimates of the GGN and Hessian traces against the exact ones',
    reference: 'use_cases/example_trace_estimation.py',
    load: () => import('./use-cases/trace-estimation.js'),
  },
];

/** The listing `pnpm example` prints: usage, then one line per example (name, summary). */
export function listing(): string[] {
  const width = Math.max(...examples.map((e) => e.name.length)) + 2;
  return [
    'usage: pnpm example <name> [--backend cpu|onnxruntime|tfjs] [options of the example]',
    '',
    ...examples.map((e) => `  ${e.name.padEnd(width)}${e.summary}`),
  ];
}

/**
 * `pnpm example [name] [args]`: without a name, prints {@link listing};
 * with one, runs that example on the remaining arguments. An unknown name
 * is an error that lists the available ones.
 */
export async function runExample(args: readonly string[], print: (line: string) => void = console.log): Promise<void> {
  const rest = args[0] === '--' ? args.slice(1) : args;
  const [name, ...exampleArgs] = rest;
  if (name === undefined || name === '--help' || name === '-h') {
    for (const line of listing()) print(line);
    return;
  }
  const entry = examples.find((e) => e.name === name);
  if (entry === undefined) throw new Error(`unknown example '${name}' (available: ${examples.map((e) => e.name).join(', ')})`);
  const { main } = await entry.load();
  main(exampleArgs, print);
}
