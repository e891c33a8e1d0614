import type { Tensor } from '../tensor/tensor.js';
import { BCEWithLogitsLoss } from './bce-with-logits-loss.js';
import { CrossEntropyLoss } from './cross-entropy-loss.js';
import type { Reduction } from './loss-module.js';
import { MSELoss } from './mse-loss.js';

/** Options of the functional losses. */
export interface LossOptions {
  /** `'mean'` (default) or `'sum'`, as PyTorch's `reduction`. */
  readonly reduction?: Reduction;
}

/*
 * The functional losses are their modules applied once: each call records
 * one loss-module node, so every extension (also the second-order ones,
 * which start from the loss's Hessian square root) treats
 * `crossEntropy(logits, y)` exactly as `new CrossEntropyLoss().forward(logits, y)`.
 */

/** Softmax cross-entropy of logits `[N, C]` with int32 class indices `[N]`, as `F.cross_entropy`. */
export function crossEntropy(logits: Tensor, target: Tensor, options: LossOptions = {}): Tensor {
  return new CrossEntropyLoss(options.reduction).forward(logits, target);
}

/** Squared error of a prediction and a target of one shape, as `F.mse_loss`. */
export function mseLoss(prediction: Tensor, target: Tensor, options: LossOptions = {}): Tensor {
  return new MSELoss(options.reduction).forward(prediction, target);
}

/** Binary cross-entropy on logits with targets in [0, 1] of one shape, as `F.binary_cross_entropy_with_logits`. */
export function bceWithLogits(logits: Tensor, target: Tensor, options: LossOptions = {}): Tensor {
  return new BCEWithLogitsLoss(options.reduction).forward(logits, target);
}
