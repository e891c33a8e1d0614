/**
 * Matrix-free second-order optimisation (BackPACK's
 * `use_cases/example_cg_newton.py`): a damped Newton step
 * `θ ← θ − γ (C + λI)⁻¹ g`, the linear system solved by conjugate gradients
 * from products with the curvature C only. As in BackPACK, C is the block
 * diagonal (one block per parameter) of the GGN (`GGNMP`), of the Hessian
 * (`HMP`) or of the positive-curvature Hessian (`PCHMP`), whose products one
 * backward pass stores on each parameter; `blockProductOperator` makes each
 * block a `LinearOperator` for `conjugateGradient`, and `CGNewton` is a
 * `PreconditionedOptimizer` of `@backpack-ts/optim` whose preconditioner is
 * that solve.
 *
 * The network is full of sigmoids, which shrink the gradient at each layer
 * (BackPACK's is a sigmoid CNN; here a sigmoid MLP, cheaper on a CPU): SGD
 * barely moves it, at any of BackPACK's learning rates, while the Newton
 * steps rescale the gradient by the curvature and train it.
 *
 *   pnpm example cg-newton [--batch-size 64] [--steps 30] [--hidden 32] [--backend cpu]
 */
import { reshape, type Tensor } from '@backpack-ts/core';
import { GGNMP, HMP, PCHMP, blockProductOperator, conjugateGradient } from '@backpack-ts/curvmatprod';
import { PreconditionedOptimizer, SGD, type NamedParameter, type ParameterSource, type PreconditionedStepOptions } from '@backpack-ts/optim';
import { exampleDType, parseArgs, runIfMain } from '../shared/report.js';
import { compare, sigmoidMlp, type Contender, type TrainingRun } from '../shared/training.js';

/** The field a curvature-product extension stores its block products in. */
export type BlockCurvature = 'ggnmp' | 'hmp' | 'pchmp';

/** Options of {@link CGNewton}: BackPACK's CGNOptimizer's, in this library's names. */
export interface CGNewtonOptions extends PreconditionedStepOptions {
  /** The block products to solve with: `ggnmp` (GGNMP), `hmp` (HMP) or `pchmp` (PCHMP). */
  readonly curvature: BlockCurvature;
  /** λ, added to each block's diagonal. */
  readonly damping: number;
  /** CG stops when the residual is at most `tolerance · ‖g‖` ... (default 0.1, BackPACK's) */
  readonly tolerance?: number;
  /** ... or at most `absoluteTolerance` (default 1e-6) ... */
  readonly absoluteTolerance?: number;
  /** ... or after `maxIterations` products (default 20). */
  readonly maxIterations?: number;
}

const CG_NEWTON_OPTIONS = ['curvature', 'damping', 'tolerance', 'absoluteTolerance', 'maxIterations', 'lr', 'weightDecay', 'momentum'] as const;

/**
 * The damped Newton step of each parameter from its block of the curvature:
 * `d = (C_θ + λI)⁻¹ g` by CG on the products `param[curvature]` (which the
 * matching extension stores in the backward pass before each step), then
 * `θ ← θ − lr·d`. A truncated solve, as BackPACK's: CG stops at its
 * tolerance or budget and the step takes what it has; where a block is
 * indefinite (the Hessian's), CG also stops at the first direction of
 * negative curvature (truncated Newton-CG), where BackPACK's CG steps on.
 */
export class CGNewton extends PreconditionedOptimizer {
  /** The field whose block products the steps solve with. */
  readonly curvature: BlockCurvature;
  /** λ, added to each block's diagonal. */
  readonly damping: number;
  /** When each CG solve stops. */
  private readonly cg: { tolerance: number; absoluteTolerance: number; maxIterations: number };

  constructor(parameters: ParameterSource, options: CGNewtonOptions) {
    super('CGNewton', parameters, options, CG_NEWTON_OPTIONS);
    const { curvature, damping, tolerance = 0.1, absoluteTolerance = 1e-6, maxIterations = 20 } = options;
    if (!['ggnmp', 'hmp', 'pchmp'].includes(curvature)) throw new RangeError(`CGNewton: curvature must be 'ggnmp', 'hmp' or 'pchmp', got '${String(curvature)}'`);
    if (!(damping >= 0)) throw new RangeError(`CGNewton: damping must be >= 0, got ${damping}`);
    this.curvature = curvature;
    this.damping = damping;
    this.cg = { tolerance, absoluteTolerance, maxIterations };
  }

  protected override checkParameter({ name, parameter }: NamedParameter): void {
    if (parameter[this.curvature] === undefined) {
      throw new Error(`CGNewton: parameter '${name}' has no ${this.curvature}; run backward with the extension that stores it (${EXTENSION_OF[this.curvature]})`);
    }
  }

  protected override precondition({ parameter }: NamedParameter, g: Tensor): Tensor {
    const block = blockProductOperator(parameter[this.curvature]!, parameter.data);
    const { solution } = conjugateGradient(block, reshape(g, [g.size]), { damping: this.damping, ...this.cg, onNonConvergence: 'return', onNonPositiveCurvature: 'stop' });
    return reshape(solution, parameter.data.shape);
  }
}

/** The extension behind each field. */
const EXTENSION_OF: Readonly<Record<BlockCurvature, string>> = { ggnmp: 'GGNMP', hmp: 'HMP', pchmp: 'PCHMP' };

/** BackPACK's step size, damping and CG settings. */
export const CG_NEWTON = { lr: 0.1, damping: 1e-2, tolerance: 0.1, absoluteTolerance: 1e-6, maxIterations: 20 } as const;

/** The learning rates BackPACK tries SGD with. */
export const SGD_LEARNING_RATES = [10, 1, 0.1, 0.01, 0.001] as const;

/** CG-Newton on the GGN, the Hessian and both positive-curvature Hessians, then SGD at each learning rate. */
export const contenders: readonly Contender[] = [
  { label: 'CG-Newton, GGN', makeOptimizer: (m) => new CGNewton(m, { curvature: 'ggnmp', ...CG_NEWTON }), extension: () => new GGNMP() },
  { label: 'CG-Newton, Hessian', makeOptimizer: (m) => new CGNewton(m, { curvature: 'hmp', ...CG_NEWTON }), extension: () => new HMP() },
  { label: 'CG-Newton, PCH-abs', makeOptimizer: (m) => new CGNewton(m, { curvature: 'pchmp', ...CG_NEWTON }), extension: () => new PCHMP({ modify: 'abs' }) },
  { label: 'CG-Newton, PCH-clip', makeOptimizer: (m) => new CGNewton(m, { curvature: 'pchmp', ...CG_NEWTON }), extension: () => new PCHMP({ modify: 'clip' }) },
  ...SGD_LEARNING_RATES.map((lr): Contender => ({ label: `SGD, lr=${lr}`, makeOptimizer: (m) => new SGD(m, { lr }) })),
];

/** What the example computed: one run per contender, in the order of {@link contenders}. */
export interface CgNewtonResult {
  readonly runs: readonly TrainingRun[];
}

/** Runs the example: its report goes line by line to `print`; returns what it computed (for the tests). */
export function main(args: readonly string[] = [], print: (line: string) => void = console.log): CgNewtonResult {
  const { backend, backendNote, batchSize, integers } = parseArgs(args, { name: 'cg-newton', batchSize: 64, integers: { steps: 30, hidden: 32 } });
  const [steps, hidden] = [integers['steps']!, integers['hidden']!];
  const dtype = exampleDType(backend);
  print(`backend: ${backend.name}${backendNote}, batch size: ${batchSize}, steps: ${steps}, hidden units: ${hidden}`);
  print(`CG-Newton: lr ${CG_NEWTON.lr}, damping ${CG_NEWTON.damping}, CG tolerance ${CG_NEWTON.tolerance}, at most ${CG_NEWTON.maxIterations} CG iterations per parameter`);
  const runs = compare(contenders, { makeModel: () => sigmoidMlp(backend, dtype, hidden), backend, dtype, batchSize, steps }, print);
  return { runs };
}

runIfMain(import.meta.url, main);
