import { add, div, min, tidy, type Tensor } from '@backpack-ts/core';
import { checkQuantityTensor, storedQuantity } from './curvature-quantity.js';
import type { NamedParameter, ParameterSource } from './parameters.js';
import { PreconditionedOptimizer, type PreconditionedStepOptions } from './preconditioned-optimizer.js';
import { checkChoice, checkNumber } from './validate.js';

/** Which stored diagonal a {@link DiagonalPreconditioner} reads: `param.diagGgnExact`, `param.diagGgnMc` or `param.diagH`. */
export type DiagonalCurvature = 'diagGgnExact' | 'diagGgnMc' | 'diagH';

/** The extension that stores each diagonal, for messages. */
const EXTENSION_OF: Readonly<Record<DiagonalCurvature, string>> = {
  diagGgnExact: 'DiagGGNExact',
  diagGgnMc: 'DiagGGNMC',
  diagH: 'DiagHessian',
};

/** Options of {@link DiagonalPreconditioner}. */
export interface DiagonalPreconditionerOptions extends PreconditionedStepOptions {
  /** The diagonal to divide by (required): the extension that stores it must run in the backward pass before each step. */
  readonly curvature: DiagonalCurvature;
  /** Added to the diagonal before dividing (required), >= 0; every `diagonal + damping` must be positive. */
  readonly damping: number;
}

const DIAGONAL_OPTIONS = ['curvature', 'lr', 'damping', 'weightDecay', 'momentum'] as const;

/**
 * Gradient steps divided elementwise by a damped curvature diagonal, as
 * BackPACK's diagonal-GGN optimiser use case (a damped Newton step with the
 * diagonal of the GGN or Hessian for the curvature): the step of
 * {@link PreconditionedOptimizer} with
 *
 * ```text
 * P⁻¹ g = g / (diagonal + damping)
 * ```
 *
 * The diagonal is read from the field `curvature` names, which the matching
 * extension (`DiagGGNExact`, `DiagGGNMC`, `DiagHessian`) stores in the same
 * backward pass as the gradient. A step refuses, before changing anything,
 * when a parameter with a gradient has no such diagonal, or when some
 * `diagonal + damping` is not positive (a Hessian diagonal can be negative).
 */
export class DiagonalPreconditioner extends PreconditionedOptimizer {
  /** The diagonal this optimiser divides by. */
  readonly curvature: DiagonalCurvature;
  /** Added to the diagonal before dividing. */
  readonly damping: number;

  constructor(parameters: ParameterSource, options: DiagonalPreconditionerOptions) {
    super('DiagonalPreconditioner', parameters, options, DIAGONAL_OPTIONS);
    this.curvature = checkChoice('DiagonalPreconditioner', 'curvature', options.curvature, Object.keys(EXTENSION_OF) as DiagonalCurvature[]);
    this.damping = checkNumber('DiagonalPreconditioner', 'damping', options.damping, { min: 0 });
  }

  protected override checkParameter(entry: NamedParameter): void {
    const { curvature, damping } = this;
    const diagonal = this.diagonalOf(entry);
    checkQuantityTensor(this.typeName, entry, curvature, diagonal, entry.parameter.data.shape);
    if (diagonal.size === 0) return;
    const smallest = tidy(() => min(diagonal).item());
    if (!(smallest + damping > 0)) {
      throw new RangeError(
        `DiagonalPreconditioner: parameter '${entry.name}': ${curvature} + damping must be positive, but its smallest entry is ${smallest} and damping ${damping}; raise damping or use a GGN diagonal`,
      );
    }
  }

  protected override precondition(entry: NamedParameter, g: Tensor): Tensor {
    return div(g, add(this.diagonalOf(entry), this.damping));
  }

  private diagonalOf(entry: NamedParameter): Tensor {
    return storedQuantity(this.typeName, entry, this.curvature, this.curvature, EXTENSION_OF[this.curvature]) as Tensor;
  }
}
