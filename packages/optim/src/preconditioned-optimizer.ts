import { add, mul, rejectUnknownOptions, sub, type Tensor } from '@backpack-ts/core';
import { Optimizer, type ParameterUpdate } from './optimizer.js';
import type { NamedParameter, ParameterSource } from './parameters.js';
import { regularizedGradient } from './regularized-gradient.js';
import { checkNumber } from './validate.js';

/** The step options every preconditioned optimiser takes (besides its curvature and damping). */
export interface PreconditionedStepOptions {
  /** Step size (required), >= 0. */
  readonly lr: number;
  /** L2 penalty added to the gradient before preconditioning, `weightDecay · θ` (default 0), >= 0. */
  readonly weightDecay?: number;
  /** Momentum on the preconditioned direction (default 0), >= 0. */
  readonly momentum?: number;
}

/** A preconditioned optimiser's state of a parameter: the momentum buffer, once momentum is on. */
export interface PreconditionedState {
  /** `b`, the running preconditioned direction (absent without momentum). */
  readonly momentumBuffer?: Tensor;
}

/**
 * Base class of the optimisers that step along a preconditioned gradient
 * `P⁻¹(grad + weightDecay·θ)`, with momentum on that direction:
 *
 * ```text
 * d ← P⁻¹ (grad + weightDecay·θ)
 * b ← d at the first step, else momentum·b + d     (b = d when momentum = 0)
 * θ ← θ − lr·b
 * ```
 *
 * Subclasses define `P⁻¹` ({@link precondition}) from a quantity the
 * extensions store, and check it is there ({@link Optimizer.checkParameter}).
 */
export abstract class PreconditionedOptimizer extends Optimizer<PreconditionedState> {
  /** Step size, weight decay and momentum in force, defaults filled in. */
  readonly stepOptions: Readonly<Required<PreconditionedStepOptions>>;

  /** Validates the shared options; `knownOptions` lists every option name of the subclass, the others are refused. */
  protected constructor(typeName: string, parameters: ParameterSource, options: PreconditionedStepOptions, knownOptions: readonly string[]) {
    super(typeName, parameters);
    rejectUnknownOptions(typeName, options, knownOptions);
    const { lr, weightDecay = 0, momentum = 0 } = options;
    this.stepOptions = {
      lr: checkNumber(typeName, 'lr', lr, { min: 0 }),
      weightDecay: checkNumber(typeName, 'weightDecay', weightDecay, { min: 0 }),
      momentum: checkNumber(typeName, 'momentum', momentum, { min: 0 }),
    };
  }

  /** `P⁻¹ g` for `entry`, `g` shaped like the parameter; runs under `noGrad` inside the step's `tidy`. */
  protected abstract precondition(entry: NamedParameter, g: Tensor): Tensor;

  protected override update(entry: NamedParameter, state: PreconditionedState | undefined): ParameterUpdate<PreconditionedState> {
    const { lr, weightDecay, momentum } = this.stepOptions;
    const theta = entry.parameter.data;
    const g = regularizedGradient(entry.parameter, weightDecay);
    const direction = this.precondition(entry, g);
    if (momentum === 0) return { data: sub(theta, mul(direction, lr)), state: {} };
    const previous = state?.momentumBuffer;
    const buffer = previous === undefined ? direction : add(mul(previous, momentum), direction);
    return { data: sub(theta, mul(buffer, lr)), state: { momentumBuffer: buffer } };
  }
}
