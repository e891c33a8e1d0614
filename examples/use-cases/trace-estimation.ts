/**
 * Hutchinson trace estimation (BackPACK's
 * `use_cases/example_trace_estimation.py`): `Tr(A) = E[vᵀ A v]` for random
 * v with `E[v vᵀ] = I` (Rademacher here), so the mean of `vᵀ A v` over V
 * probes estimates the trace from V matrix-vector products, with a standard
 * error that shrinks as 1/√V. Hutch++ spends a third of the products on a
 * sketch of the dominant directions, whose trace it takes exactly.
 *
 * The Hessian's and the GGN's traces of BackPACK's network (no biases, a
 * sigmoid) on an MNIST batch, three ways next to the exact ones (the sums of
 * DiagHessian's and DiagGGNExact's diagonals):
 *
 * - `HessianOperator` / `GGNOperator` of `@backpack-ts/curvmatprod` (the whole
 *   matrix, by autodiff products) with `hutchinsonTrace` and
 *   `hutchPlusPlusTrace`;
 * - BackPACK's way: the HMP / GGNMP block of each parameter
 *   (`blockProductOperator`), all probes of a block in one call; the blocks'
 *   traces add up to the whole trace.
 *
 *   pnpm example trace-estimation [--batch-size 256] [--hidden 20] [--matvecs 100] [--backend cpu]
 */
import { CrossEntropyLoss, Flatten, Generator, Linear, Sequential, Sigmoid, backpack, extend, sum, type Backend, type FloatDType, type Tensor } from '@backpack-ts/core';
import {
  GGNMP,
  GGNOperator,
  HMP,
  HessianOperator,
  blockProductOperator,
  hutchPlusPlusTrace,
  hutchinsonTrace,
  type LinearOperator,
  type TraceEstimate,
} from '@backpack-ts/curvmatprod';
import { DiagGGNExact } from '@backpack-ts/diag-ggn';
import { DiagHessian } from '@backpack-ts/diag-hessian';
import { exampleDType, mnistBatch, parseArgs, runIfMain } from '../shared/report.js';

/** BackPACK's network: two linear layers without bias around a sigmoid. */
export function network(backend: Backend, dtype: FloatDType, hidden: number): Sequential {
  const options = { backend, dtype, bias: false, generator: new Generator(0) };
  return new Sequential(new Flatten(), new Linear(784, hidden, options), new Sigmoid(), new Linear(hidden, 10, options));
}

/** One estimate of a trace: how, its value and standard error, the products it took, its run time. */
export interface LabelledEstimate extends TraceEstimate {
  readonly method: string;
  readonly milliseconds: number;
}

/** The exact trace of one curvature and its estimates. */
export interface TraceReport {
  readonly curvature: 'Hessian' | 'GGN';
  /** The sum of the stored diagonal (DiagHessian, DiagGGNExact). */
  readonly exact: number;
  readonly estimates: readonly LabelledEstimate[];
}

/** `f`'s estimate with its label and run time. */
function timed(method: string, f: () => TraceEstimate): LabelledEstimate {
  const start = performance.now();
  const estimate = f();
  return { ...estimate, method, milliseconds: performance.now() - start };
}

/**
 * The sum of Hutchinson estimates of the blocks' traces (one generator, so
 * the blocks' probes are independent): its standard error is the root of
 * the sum of their squares.
 */
export function blockwiseHutchinson(blocks: readonly LinearOperator[], matvecs: number, seed: number): TraceEstimate {
  const generator = new Generator(seed);
  const parts = blocks.map((block) => hutchinsonTrace(block, { matvecs, generator, batchSize: matvecs }));
  return {
    estimate: parts.reduce((total, part) => total + part.estimate, 0),
    standardError: Math.sqrt(parts.reduce((total, part) => total + part.standardError ** 2, 0)),
    matvecs,
  };
}

/** What the example computed. */
export interface TraceEstimationResult {
  readonly model: Sequential;
  readonly images: Tensor;
  readonly labels: Tensor;
  readonly reports: readonly TraceReport[];
}

/** Runs the example: its report goes line by line to `print`; returns what it computed (for the tests). */
export function main(args: readonly string[] = [], print: (line: string) => void = console.log): TraceEstimationResult {
  const { backend, backendNote, batchSize, integers } = parseArgs(args, { name: 'trace-estimation', batchSize: 256, integers: { hidden: 20, matvecs: 100 } });
  const [hidden, matvecs] = [integers['hidden']!, integers['matvecs']!];
  const dtype = exampleDType(backend);
  print(`backend: ${backend.name}${backendNote}, batch size: ${batchSize}, hidden units: ${hidden}, ${matvecs} products per estimate`);
  const { images, labels } = mnistBatch(batchSize, backend, dtype);
  const model = extend(network(backend, dtype, hidden));
  const lossFunction = extend(new CrossEntropyLoss());
  const data = [[images, labels] as const];
  const parameters = model.parameters();

  // One backward pass: the exact diagonals and the block products.
  const loss = lossFunction.forward(model.forward(images), labels);
  backpack([new DiagHessian(), new DiagGGNExact(), new HMP(), new GGNMP()], () => loss.backward());
  const traceOf = (diagonals: readonly Tensor[]) => diagonals.reduce((total, d) => total + sum(d).item(), 0);

  const reports: TraceReport[] = [
    {
      curvature: 'Hessian',
      exact: traceOf(parameters.map((p) => p.diagH!)),
      estimates: [
        timed('Hutchinson, HessianOperator', () => hutchinsonTrace(new HessianOperator(model, lossFunction, data), { matvecs, seed: 1 })),
        timed('Hutch++, HessianOperator', () => hutchPlusPlusTrace(new HessianOperator(model, lossFunction, data), { matvecs, seed: 2 })),
        timed('Hutchinson, HMP blocks', () => blockwiseHutchinson(parameters.map((p) => blockProductOperator(p.hmp!, p.data)), matvecs, 3)),
      ],
    },
    {
      curvature: 'GGN',
      exact: traceOf(parameters.map((p) => p.diagGgnExact!)),
      estimates: [
        timed('Hutchinson, GGNOperator', () => hutchinsonTrace(new GGNOperator(model, lossFunction, data), { matvecs, seed: 4 })),
        timed('Hutch++, GGNOperator', () => hutchPlusPlusTrace(new GGNOperator(model, lossFunction, data), { matvecs, seed: 5 })),
        timed('Hutchinson, GGNMP blocks', () => blockwiseHutchinson(parameters.map((p) => blockProductOperator(p.ggnmp!, p.data)), matvecs, 6)),
      ],
    },
  ];
  for (const { curvature, exact, estimates } of reports) {
    print(`Tr(${curvature}) exact (diagonal summed): ${exact.toFixed(4)}`);
    for (const e of estimates) {
      const errors = Math.abs(e.estimate - exact) / e.standardError;
      print(`  ${e.method.padEnd(28)} ${e.estimate.toFixed(4)} ± ${e.standardError.toFixed(4)} (off by ${errors.toFixed(2)} standard errors; ${e.milliseconds.toFixed(0)} ms)`);
    }
  }
  return { model, images, labels, reports };
}

runIfMain(import.meta.url, main);
