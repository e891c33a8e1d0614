import { add, div, min, mul, rejectUnknownOptions, sub, tidy, type Tensor } from '@backpack-ts/core';
import { checkQuantityTensor, storedQuantity } from './curvature-quantity.js';
import { Optimizer, type ParameterUpdate } from './optimizer.js';
import type { NamedParameter, ParameterSource } from './parameters.js';
import { checkChoice, checkNumber } from './validate.js';

/** The curvature diagonals a {@link DiagonalPreconditioner} can divide by: the `Parameter` field and the extension that stores it. */
const DIAGONALS = {
  diagGgnExact: { extension: 'DiagGGNExact' },
  diagGgnMc: { extension: 'DiagGGNMC' },
  diagH: { extension: 'DiagHessian' },
} as const;

/** Which stored diagonal a {@link DiagonalPreconditioner} reads: `param.diagGgnExact`, `param.diagGgnMc` or `param.diagH`. */
export type DiagonalCurvature = keyof typeof DIAGONALS;

/** Options of {@link DiagonalPreconditioner}. */
export interface DiagonalPreconditionerOptions {
  /** The diagonal to divide by (required): the extension that stores it must run in the backward pass before each step. */
  readonly curvature: DiagonalCurvature;
  /** Step size (required), >= 0. */
  readonly lr: number;
  /** Added to the diagonal before dividing (required), >= 0; every `diagonal + damping` must be positive. */
  readonly damping: number;
  /** L2 penalty added to the gradient, `weightDecay · θ` (default 0), >= 0. */
  readonly weightDecay?: number;
  /** Momentum on the preconditioned direction (default 0), >= 0. */
  readonly momentum?: number;
}

const DIAGONAL_OPTIONS = ['curvature', 'lr', 'damping', 'weightDecay', 'momentum'] as const;

/** The preconditioner's state of a parameter: the momentum buffer, once momentum is on. */
type DiagonalState = { readonly momentumBuffer?: Tensor };

/**
 * Gradient steps divided elementwise by a curvature diagonal, as BackPACK's
 * diagonal-GGN optimiser use case (a damped Newton step with the diagonal of
 * the GGN or Hessian for the curvature):
 *
 * ```text
 * d ← (grad + weightDecay·θ) / (diagonal + damping)
 * b ← d at the first step, else momentum·b + d     (b = d when momentum = 0)
 * θ ← θ − lr·b
 * ```
 *
 * The diagonal is read from the field `curvature` names, which the matching
 * extension (`DiagGGNExact`, `DiagGGNMC`, `DiagHessian`) stores in the same
 * backward pass as the gradient. A step refuses, before changing anything,
 * when a parameter with a gradient has no such diagonal, or when some
 * `diagonal + damping` is not positive (a Hessian diagonal can be negative).
 */
export class DiagonalPreconditioner extends Optimizer<DiagonalState> {
  /** The options in force, defaults filled in. */
  readonly options: Readonly<Required<DiagonalPreconditionerOptions>>;

  constructor(parameters: ParameterSource, options: DiagonalPreconditionerOptions) {
    super('DiagonalPreconditioner', parameters);
    rejectUnknownOptions('DiagonalPreconditioner', options, DIAGONAL_OPTIONS);
    const { curvature, lr, damping, weightDecay = 0, momentum = 0 } = options;
    this.options = {
      curvature: checkChoice('DiagonalPreconditioner', 'curvature', curvature, Object.keys(DIAGONALS) as DiagonalCurvature[]),
      lr: checkNumber('DiagonalPreconditioner', 'lr', lr, { min: 0 }),
      damping: checkNumber('DiagonalPreconditioner', 'damping', damping, { min: 0 }),
      weightDecay: checkNumber('DiagonalPreconditioner', 'weightDecay', weightDecay, { min: 0 }),
      momentum: checkNumber('DiagonalPreconditioner', 'momentum', momentum, { min: 0 }),
    };
  }

  protected override checkParameter(entry: NamedParameter): void {
    const { curvature, damping } = this.options;
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

  protected override update(entry: NamedParameter, state: DiagonalState | undefined): ParameterUpdate<DiagonalState> {
    const { lr, damping, weightDecay, momentum } = this.options;
    const theta = entry.parameter.data;
    const g = weightDecay === 0 ? entry.parameter.grad! : add(entry.parameter.grad!, mul(theta, weightDecay));
    const direction = div(g, add(this.diagonalOf(entry), damping));
    if (momentum === 0) return { data: sub(theta, mul(direction, lr)), state: {} };
    const previous = state?.momentumBuffer;
    const buffer = previous === undefined ? direction : add(mul(previous, momentum), direction);
    return { data: sub(theta, mul(buffer, lr)), state: { momentumBuffer: buffer } };
  }

  private diagonalOf(entry: NamedParameter): Tensor {
    const { curvature } = this.options;
    return storedQuantity(this.typeName, entry, curvature, curvature, DIAGONALS[curvature].extension) as Tensor;
  }
}
