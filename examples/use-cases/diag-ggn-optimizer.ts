/**
 * A diagonal Gauss-Newton optimiser (BackPACK's
 * `use_cases/example_diag_ggn_optimizer.py`): each parameter steps by
 * `θ ← θ − γ · g / (diag(G) + λ)`, G the generalized Gauss-Newton matrix,
 * its diagonal computed by the same backward pass as the gradient.
 * `DiagonalPreconditioner` of `@backpack-ts/optim` is that optimiser: it
 * reads `param.diagGgnExact` (DiagGGNExact) or `param.diagGgnMc` (DiagGGNMC,
 * one Monte-Carlo sample, BackPACK's choice).
 *
 * It is compared with SGD at several learning rates, from the same initial
 * weights on the same batches, on the sigmoid MLP `cg-newton` trains, whose
 * layers' gradients differ in scale by orders of magnitude: the diagonal
 * rescales each parameter's. (BackPACK trains a ReLU CNN with λ = 1, large
 * next to the GGN diagonal of a mean loss, which makes the optimiser SGD
 * with a smaller step; with a small λ its steps on that CNN diverge where
 * the diagonal is near 0.)
 *
 *   pnpm example diag-ggn-optimizer [--batch-size 64] [--steps 40] [--hidden 32] [--backend cpu]
 */
import { Generator } from '@backpack-ts/core';
import { DiagGGNExact, DiagGGNMC } from '@backpack-ts/diag-ggn';
import { DiagonalPreconditioner, SGD } from '@backpack-ts/optim';
import { exampleDType, parseArgs, runIfMain } from '../shared/report.js';
import { compare, sigmoidMlp, type Contender, type TrainingRun } from '../shared/training.js';

/** The step size γ and damping λ of the diagonal-GGN steps. */
export const DIAG_GGN = { lr: 0.03, damping: 0.003 } as const;

/** The learning rates SGD is tried with. */
export const SGD_LEARNING_RATES = [10, 1, 0.1, 0.01] as const;

/** The diagonal-GGN optimiser with the exact diagonal and with BackPACK's Monte-Carlo one (a new generator for each run), then SGD at each learning rate. */
export function contenders(): Contender[] {
  const mcSamples = new Generator(1);
  return [
    {
      label: 'DiagGGN (exact)',
      makeOptimizer: (model) => new DiagonalPreconditioner(model, { curvature: 'diagGgnExact', ...DIAG_GGN }),
      extension: () => new DiagGGNExact(),
    },
    {
      label: 'DiagGGN (MC)',
      makeOptimizer: (model) => new DiagonalPreconditioner(model, { curvature: 'diagGgnMc', ...DIAG_GGN }),
      // One generator for the whole run: each step draws new samples.
      extension: () => new DiagGGNMC({ mcSamples: 1, generator: mcSamples }),
    },
    ...SGD_LEARNING_RATES.map((lr): Contender => ({ label: `SGD, lr=${lr}`, makeOptimizer: (model) => new SGD(model, { lr }) })),
  ];
}

/** What the example computed: one run per contender, in the order of {@link contenders}. */
export interface DiagGgnOptimizerResult {
  readonly runs: readonly TrainingRun[];
}

/** Runs the example: its report goes line by line to `print`; returns what it computed (for the tests). */
export function main(args: readonly string[] = [], print: (line: string) => void = console.log): DiagGgnOptimizerResult {
  const { backend, backendNote, batchSize, integers } = parseArgs(args, { name: 'diag-ggn-optimizer', batchSize: 64, integers: { steps: 40, hidden: 32 } });
  const [steps, hidden] = [integers['steps']!, integers['hidden']!];
  const dtype = exampleDType(backend);
  print(`backend: ${backend.name}${backendNote}, batch size: ${batchSize}, steps: ${steps}, hidden units: ${hidden}`);
  print(`diagonal GGN steps: γ = ${DIAG_GGN.lr}, λ = ${DIAG_GGN.damping}`);
  const runs = compare(contenders(), { makeModel: () => sigmoidMlp(backend, dtype, hidden), backend, dtype, batchSize, steps }, print);
  return { runs };
}

runIfMain(import.meta.url, main);
