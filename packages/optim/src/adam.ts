import { add, div, maximum, mul, rejectUnknownOptions, sqrt, square, sub, type Tensor } from '@backpack-ts/core';
import { Optimizer, type ParameterUpdate } from './optimizer.js';
import type { NamedParameter, ParameterSource } from './parameters.js';
import { regularizedGradient } from './regularized-gradient.js';
import { checkBoolean, checkNumber } from './validate.js';

/** Options of {@link Adam}, with `torch.optim.Adam`'s names (camelCase) and defaults. */
export interface AdamOptions {
  /** Learning rate (default 1e-3), >= 0. */
  readonly lr?: number;
  /** Decay rates of the first and second moment averages (default `[0.9, 0.999]`), each in [0, 1). */
  readonly betas?: readonly [number, number];
  /** Added to the denominator for numerical stability (default 1e-8), >= 0. */
  readonly eps?: number;
  /** L2 penalty added to the gradient, `weightDecay · θ` (default 0), >= 0 (Adam's, not AdamW's decoupled decay). */
  readonly weightDecay?: number;
  /** AMSGrad: divide by the running maximum of the second moment average (default false). */
  readonly amsgrad?: boolean;
  /** Maximise the objective instead of minimising it (default false). */
  readonly maximize?: boolean;
}

const ADAM_OPTIONS = ['lr', 'betas', 'eps', 'weightDecay', 'amsgrad', 'maximize'] as const;

/** Adam's state of a parameter. */
export interface AdamState {
  /** Steps taken on this parameter, t. */
  readonly step: number;
  /** The first moment average m. */
  readonly expAvg: Tensor;
  /** The second moment average v. */
  readonly expAvgSq: Tensor;
  /** AMSGrad's running maximum of v (absent without amsgrad). */
  readonly maxExpAvgSq?: Tensor;
}

/**
 * Adam, `torch.optim.Adam`'s rule (t counts this parameter's steps from 1):
 *
 * ```text
 * g ← ±grad + weightDecay·θ              (− when maximize)
 * m ← β₁·m + (1 − β₁)·g,   v ← β₂·v + (1 − β₂)·g²     (m = v = 0 before the first step)
 * v̂ ← max(v̂, v) with amsgrad, else v
 * θ ← θ − (lr / (1 − β₁ᵗ)) · m / (√v̂ / √(1 − β₂ᵗ) + eps)
 * ```
 *
 * At the first step the update is `lr · g / (|g| + eps)`, about `lr · sign(g)`.
 */
export class Adam extends Optimizer<AdamState> {
  /** The options in force, defaults filled in. */
  readonly options: Readonly<Required<AdamOptions>>;

  constructor(parameters: ParameterSource, options: AdamOptions = {}) {
    super('Adam', parameters);
    rejectUnknownOptions('Adam', options, ADAM_OPTIONS);
    const { lr = 1e-3, betas = [0.9, 0.999], eps = 1e-8, weightDecay = 0, amsgrad = false, maximize = false } = options;
    if (!Array.isArray(betas) || betas.length !== 2) {
      throw new TypeError(`Adam: betas must be a pair [beta1, beta2], got ${JSON.stringify(betas)}`);
    }
    this.options = {
      lr: checkNumber('Adam', 'lr', lr, { min: 0 }),
      betas: [checkNumber('Adam', 'betas[0]', betas[0], { min: 0, below: 1 }), checkNumber('Adam', 'betas[1]', betas[1], { min: 0, below: 1 })],
      eps: checkNumber('Adam', 'eps', eps, { min: 0 }),
      weightDecay: checkNumber('Adam', 'weightDecay', weightDecay, { min: 0 }),
      amsgrad: checkBoolean('Adam', 'amsgrad', amsgrad),
      maximize: checkBoolean('Adam', 'maximize', maximize),
    };
  }

  protected override update({ parameter }: NamedParameter, state: AdamState | undefined): ParameterUpdate<AdamState> {
    const { lr, betas, eps, weightDecay, amsgrad, maximize } = this.options;
    const [beta1, beta2] = betas;
    const theta = parameter.data;
    const g = regularizedGradient(parameter, weightDecay, maximize);
    const step = (state?.step ?? 0) + 1;
    const firstMoment = mul(g, 1 - beta1);
    const secondMoment = mul(square(g), 1 - beta2);
    const expAvg = state === undefined ? firstMoment : add(mul(state.expAvg, beta1), firstMoment);
    const expAvgSq = state === undefined ? secondMoment : add(mul(state.expAvgSq, beta2), secondMoment);
    const maxExpAvgSq = amsgrad ? (state?.maxExpAvgSq === undefined ? expAvgSq.detach() : maximum(state.maxExpAvgSq, expAvgSq)) : undefined;
    const biasCorrection1 = 1 - beta1 ** step;
    const biasCorrection2 = 1 - beta2 ** step;
    const denominator = add(div(sqrt(maxExpAvgSq ?? expAvgSq), Math.sqrt(biasCorrection2)), eps);
    const data = sub(theta, mul(div(expAvg, denominator), lr / biasCorrection1));
    return { data, state: maxExpAvgSq === undefined ? { step, expAvg, expAvgSq } : { step, expAvg, expAvgSq, maxExpAvgSq } };
  }
}
