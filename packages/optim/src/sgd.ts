import { add, mul, rejectUnknownOptions, sub, type Tensor } from '@backpack-ts/core';
import { Optimizer, type ParameterUpdate } from './optimizer.js';
import type { NamedParameter, ParameterSource } from './parameters.js';
import { regularizedGradient } from './regularized-gradient.js';
import { checkBoolean, checkNumber } from './validate.js';

/** Options of {@link SGD}, with `torch.optim.SGD`'s names (camelCase) and defaults. */
export interface SGDOptions {
  /** Learning rate (default 1e-3), >= 0. */
  readonly lr?: number;
  /** Momentum factor (default 0), >= 0. */
  readonly momentum?: number;
  /** Dampening of the momentum (default 0): the new gradient enters the buffer with weight `1 - dampening`. */
  readonly dampening?: number;
  /** L2 penalty added to the gradient, `weightDecay · θ` (default 0), >= 0. */
  readonly weightDecay?: number;
  /** Nesterov momentum (default false); needs `momentum > 0` and `dampening = 0`. */
  readonly nesterov?: boolean;
  /** Maximise the objective instead of minimising it (default false). */
  readonly maximize?: boolean;
}

const SGD_OPTIONS = ['lr', 'momentum', 'dampening', 'weightDecay', 'nesterov', 'maximize'] as const;

/** SGD's state of a parameter. */
export interface SGDState {
  /** The momentum buffer `b` (absent without momentum). */
  readonly momentumBuffer?: Tensor;
}

/**
 * Stochastic gradient descent with momentum, `torch.optim.SGD`'s rule:
 *
 * ```text
 * g ← ±grad + weightDecay·θ              (− when maximize)
 * b ← g at the first step, else momentum·b + (1 − dampening)·g
 * d ← g + momentum·b if nesterov, else b (g when momentum = 0)
 * θ ← θ − lr·d
 * ```
 */
export class SGD extends Optimizer<SGDState> {
  /** The options in force, defaults filled in. */
  readonly options: Readonly<Required<SGDOptions>>;

  constructor(parameters: ParameterSource, options: SGDOptions = {}) {
    super('SGD', parameters);
    rejectUnknownOptions('SGD', options, SGD_OPTIONS);
    const { lr = 1e-3, momentum = 0, dampening = 0, weightDecay = 0, nesterov = false, maximize = false } = options;
    this.options = {
      lr: checkNumber('SGD', 'lr', lr, { min: 0 }),
      momentum: checkNumber('SGD', 'momentum', momentum, { min: 0 }),
      dampening: checkNumber('SGD', 'dampening', dampening),
      weightDecay: checkNumber('SGD', 'weightDecay', weightDecay, { min: 0 }),
      nesterov: checkBoolean('SGD', 'nesterov', nesterov),
      maximize: checkBoolean('SGD', 'maximize', maximize),
    };
    if (nesterov && (momentum <= 0 || dampening !== 0)) {
      throw new RangeError(`SGD: nesterov needs momentum > 0 and dampening = 0, got momentum ${momentum} and dampening ${dampening}`);
    }
  }

  protected override update({ parameter }: NamedParameter, state: SGDState | undefined): ParameterUpdate<SGDState> {
    const { lr, momentum, dampening, weightDecay, nesterov, maximize } = this.options;
    const theta = parameter.data;
    const g = regularizedGradient(parameter, weightDecay, maximize);
    if (momentum === 0) return { data: sub(theta, mul(g, lr)), state: {} };
    const previous = state?.momentumBuffer;
    // A handle of its own: the buffer outlives the gradient it may start as.
    const buffer = previous === undefined ? g.detach() : add(mul(previous, momentum), mul(g, 1 - dampening));
    const direction = nesterov ? add(g, mul(buffer, momentum)) : buffer;
    return { data: sub(theta, mul(direction, lr)), state: { momentumBuffer: buffer } };
  }
}
