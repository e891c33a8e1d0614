import type { GraphNode } from '../modules/leaf-module.js';
import type { Generator } from '../ops/random.js';
import { mul } from '../ops/elementwise.js';
import { reshape } from '../ops/layout.js';
import { sum } from '../ops/reduce.js';
import { formatShape } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { LeafModule } from '../modules/leaf-module.js';
import { expectFloatInput, expectInputCount } from '../modules/input-checks.js';

/**
 * How per-element losses are combined, as PyTorch's `reduction`: averaged,
 * summed, or not at all (`'none'`: one loss per element, which no extension
 * accepts, as in BackPACK; see {@link LossModule.requireReduced}).
 */
export type Reduction = 'mean' | 'sum' | 'none';

const REDUCTIONS: readonly Reduction[] = ['mean', 'sum', 'none'];

/**
 * A loss: `forward(prediction, target)` returns a scalar (or, with reduction
 * `'none'`, one loss per element). Gradients flow into the prediction only.
 * Besides the gradient, a loss knows its Hessian with respect to the
 * prediction, which second-order extensions start from.
 */
export abstract class LossModule extends LeafModule {
  constructor(
    /** Mean or sum over the per-element losses (default mean). */
    readonly reduction: Reduction = 'mean',
  ) {
    super();
    if (!REDUCTIONS.includes(reduction)) {
      throw new RangeError(`${this.constructor.name}: reduction must be 'mean', 'sum' or 'none', got '${String(reduction)}'`);
    }
  }

  /**
   * Throws, naming `extensionName`, this loss and the reason, unless the loss
   * is reduced to one number: with `'none'` there is one loss per element and
   * no single objective whose per-sample gradients or curvature the
   * extensions could compute (BackPACK refuses it too).
   */
  requireReduced(extensionName: string): void {
    if (this.reduction !== 'none') return;
    throw new Error(
      `${extensionName} cannot run: ${this.describe()} has reduction 'none', which gives one loss per element rather than one objective; ` +
        "extensions need the loss summed or averaged over the batch (as BackPACK): use reduction 'sum' or 'mean'",
    );
  }

  override forward(prediction: Tensor, target: Tensor): Tensor {
    return super.forward(prediction, target);
  }

  protected checkInputs(inputs: readonly Tensor[]): void {
    expectInputCount(this, inputs, 2);
    expectFloatInput(this, inputs[0]!, 1);
    inputs[1]!.assertAlive(this.describe());
    this.checkTarget(inputs[0]!, inputs[1]!);
  }

  /** Throws a clear error if the target does not fit the prediction. */
  protected abstract checkTarget(prediction: Tensor, target: Tensor): void;

  override differentiableInputs(): number[] {
    return [0];
  }

  /** How many terms `'mean'` averages over: the prediction's elements, or (CrossEntropyLoss) its positions. */
  protected lossTerms(prediction: Tensor): number {
    return prediction.size;
  }

  /** The factor the reduction applies to each per-element loss (1 for `'sum'` and `'none'`). */
  protected reductionScale(prediction: Tensor): number {
    return this.reduction === 'mean' ? 1 / this.lossTerms(prediction) : 1;
  }

  /** The loss from the per-element losses: their sum times the reduction's factor, or themselves for `'none'`. */
  protected reduce(perElement: Tensor, prediction: Tensor): Tensor {
    return this.reduction === 'none' ? perElement : mul(sum(perElement), this.reductionScale(prediction));
  }

  /** d loss / d prediction, `[N, ...]`, including the reduction's factor. */
  abstract gradient(node: GraphNode): Tensor;

  /**
   * A square root S of the Hessian w.r.t. the prediction, per sample: `[C, N,
   * ...pred]` with `Σ_c S[c, n] S[c, n]ᵀ = ∇²loss_n` (C = elements per sample),
   * including the reduction's factor (1/N for mean is 1/√N in S).
   */
  abstract sqrtHessian(node: GraphNode): Tensor;

  /**
   * A Monte-Carlo square root `[M, N, ...pred]` whose outer product equals the
   * Hessian in expectation, drawn from the model's own predictive
   * distribution (not from the targets) with `generator`.
   */
  abstract sqrtHessianSampled(node: GraphNode, mcSamples: number, generator: Generator): Tensor;

  /** `Σ_n ∇²loss_n` over the flattened per-sample prediction, `[D, D]`, with the reduction's factor. */
  abstract sumHessian(node: GraphNode): Tensor;

  /**
   * `mat` is `[V, ...loss]`: `[V]` for a reduced loss, `[V, ...perElement]`
   * for `'none'`. Returns `mat · gradient` broadcast over the prediction,
   * `[V, N, ...]`.
   */
  jacTMatProd(node: GraphNode, mat: Tensor): Tensor {
    const gradient = this.gradient(node);
    const v = mat.shape[0]!;
    return mul(reshape(mat, [v, ...this.perElementShapeInPrediction(node.input)]), gradient);
  }

  /**
   * `mat` `[V, N, ...pred]` times the gradient, summed over what each loss
   * term sums over: `[V, ...loss]` (`[V]` for a reduced loss).
   */
  override jacMatProd(node: GraphNode, mat: Tensor): Tensor {
    const perElement = this.perElementShapeInPrediction(node.input);
    const summed = perElement.flatMap((size, i) => (size === 1 ? [i + 1] : []));
    const product = mul(mat, this.gradient(node));
    return reshape(summed.length === 0 ? product : sum(product, summed), [mat.shape[0]!, ...node.output.shape]);
  }

  /** Where the per-element losses sit in the prediction's shape (1 for an axis they do not have): the prediction's shape, or 1s for a reduced loss. */
  protected perElementShapeInPrediction(prediction: Tensor): number[] {
    return this.reduction === 'none' ? [...prediction.shape] : prediction.shape.map(() => 1);
  }
}

/** Throws unless prediction and target have one shape (regression-style losses). */
export function expectSameShape(loss: LossModule, prediction: Tensor, target: Tensor): void {
  if (target.rank !== prediction.rank || target.shape.some((d, i) => d !== prediction.shape[i])) {
    throw new RangeError(
      `${loss.describe()}: target of shape ${formatShape(target.shape)} does not match the prediction's shape ${formatShape(prediction.shape)}`,
    );
  }
  if (target.dtype !== prediction.dtype) {
    throw new TypeError(`${loss.describe()}: target is ${target.dtype} but the prediction is ${prediction.dtype}`);
  }
}
