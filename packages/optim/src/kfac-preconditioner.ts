import { ConvTransposeNd, reshape, transpose, type Module, type Parameter, type Tensor } from '@backpack-ts/core';
import { storedQuantity } from './curvature-quantity.js';
import { dampedBlockSolve, dampedKroneckerSolve, type KroneckerDampingRule } from './damped-kronecker-solve.js';
import { kroneckerLayout, type KroneckerLayout } from './kronecker-layout.js';
import type { NamedParameter } from './parameters.js';
import { PreconditionedOptimizer, type PreconditionedStepOptions } from './preconditioned-optimizer.js';
import { checkChoice, checkNumber } from './validate.js';

/** Which stored Kronecker factors a {@link KFACPreconditioner} reads: `param.kfac`, `param.kflr` or `param.kfra`. */
export type KroneckerCurvature = 'kfac' | 'kflr' | 'kfra';

/** The extension that stores each kind of factors, for messages. */
const EXTENSION_OF: Readonly<Record<KroneckerCurvature, string>> = { kfac: 'KFAC', kflr: 'KFLR', kfra: 'KFRA' };

/** Options of {@link KFACPreconditioner}. */
export interface KFACPreconditionerOptions extends PreconditionedStepOptions {
  /** The factors to precondition with (required): the extension that stores them must run in the backward pass before each step. */
  readonly curvature: KroneckerCurvature;
  /** Tikhonov damping λ (required), > 0: how much of the identity is added to the curvature, see `dampingRule`. */
  readonly damping: number;
  /** How λ enters the inverse of `G ⊗ A` (default `'factored'`), see {@link KroneckerDampingRule}. */
  readonly dampingRule?: KroneckerDampingRule;
}

const KFAC_OPTIONS = ['curvature', 'lr', 'damping', 'dampingRule', 'weightDecay', 'momentum'] as const;

/**
 * Steps preconditioned by the Kronecker-factored curvature the extensions of
 * `@backpack-ts/kronecker` store (KFAC, KFLR or KFRA): the step of
 * {@link PreconditionedOptimizer} with `P⁻¹` the damped inverse of the
 * factors, parameter by parameter:
 *
 * - a parameter with two factors `[G, A]`, the first for the rows (Linear,
 *   convolution and Embedding weights; an Embedding's first is its index
 *   frequencies), read as the matrix `V` `[rows, columns]`:
 *   `P⁻¹ V = (G + π√λ I)⁻¹ V (A + √λ/π I)⁻¹` with `dampingRule: 'factored'`
 *   (π as in {@link KroneckerDampingRule}), or `vec⁻¹((G ⊗ A + λ I)⁻¹ vec V)`
 *   with `'exact'`; grouped convolutions block by block; a transposed
 *   convolution's kernel with its first two axes swapped, as its factors are;
 * - a parameter with one factor `[F]` (biases, BatchNorm): `(F + λ I)⁻¹ g`.
 *
 * It takes the model, not a list of parameters: which parameters are kernels
 * of transposed convolutions is a property of their modules. A step refuses,
 * before changing anything, when a parameter with a gradient has no factors
 * or factors that do not fit it.
 */
export class KFACPreconditioner extends PreconditionedOptimizer {
  /** The factors this optimiser reads. */
  readonly curvature: KroneckerCurvature;
  /** Tikhonov damping λ. */
  readonly damping: number;
  /** How the damping enters the inverse of two factors. */
  readonly dampingRule: KroneckerDampingRule;
  /** Kernels of transposed convolutions: their factors are for the kernel with its first two axes swapped. */
  private readonly transposedKernels: ReadonlySet<Parameter>;

  constructor(model: Module, options: KFACPreconditionerOptions) {
    super('KFACPreconditioner', model, options, KFAC_OPTIONS);
    const { curvature, damping, dampingRule = 'factored' } = options;
    this.curvature = checkChoice('KFACPreconditioner', 'curvature', curvature, Object.keys(EXTENSION_OF) as KroneckerCurvature[]);
    this.damping = checkNumber('KFACPreconditioner', 'damping', damping, { above: 0 });
    this.dampingRule = checkChoice('KFACPreconditioner', 'dampingRule', dampingRule, ['factored', 'exact']);
    this.transposedKernels = new Set(
      model
        .namedModules()
        .filter(([, module]) => module instanceof ConvTransposeNd)
        .map(([, module]) => module.parameter('weight')),
    );
  }

  protected override checkParameter(entry: NamedParameter): void {
    this.layoutOf(entry, this.factorsOf(entry));
  }

  protected override precondition(entry: NamedParameter, g: Tensor): Tensor {
    const factors = this.factorsOf(entry);
    const layout = this.layoutOf(entry, factors);
    try {
      return this.solve(factors, layout, g);
    } catch (error) {
      // Indefinite factors (KFRA with curvature 'hessian') fail here, still before any parameter changes.
      throw new Error(`KFACPreconditioner: parameter '${entry.name}': ${(error as Error).message}`, { cause: error });
    }
  }

  private solve(factors: readonly Tensor[], layout: KroneckerLayout, g: Tensor): Tensor {
    if (layout.kind === 'block') return dampedBlockSolve(factors[0]!, g, this.damping);
    const { groups, rows, columns, transposed } = layout;
    // The factors' own layout of the parameter: swapped first axes for a transposed kernel, one matrix per group.
    const aligned = transposed ? transpose(g, 0, 1) : g;
    const matrices = reshape(aligned, groups === 1 ? [rows, columns] : [groups, rows, columns]);
    const solved = reshape(dampedKroneckerSolve(factors[0]!, factors[1]!, matrices, this.damping, this.dampingRule), aligned.shape);
    return transposed ? transpose(solved, 0, 1) : solved;
  }

  private layoutOf(entry: NamedParameter, factors: readonly Tensor[]): KroneckerLayout {
    return kroneckerLayout(this.typeName, entry, this.curvature, factors, this.transposedKernels.has(entry.parameter));
  }

  private factorsOf(entry: NamedParameter): readonly Tensor[] {
    const factors = storedQuantity(this.typeName, entry, this.curvature, `${this.curvature} factors`, EXTENSION_OF[this.curvature]);
    if (!Array.isArray(factors)) {
      throw new TypeError(`KFACPreconditioner: parameter '${entry.name}' has a ${this.curvature} that is not a list of factors`);
    }
    return factors as Tensor[];
  }
}
