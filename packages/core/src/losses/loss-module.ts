import type { GraphNode } from '../modules/leaf-module.js';
import type { Generator } from '../ops/random.js';
import { mul } from '../ops/elementwise.js';
import { reshape } from '../ops/layout.js';
import { formatShape } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { LeafModule } from '../modules/leaf-module.js';
import { expectFloatInput, expectInputCount } from '../modules/input-checks.js';

/** How per-element losses are combined: averaged or summed (as PyTorch's `reduction`). */
export type Reduction = 'mean' | 'sum';

/**
 * A loss: `forward(prediction, target)` returns a scalar. Gradients flow into
 * the prediction only. Besides the gradient, a loss knows its Hessian with
 * respect to the prediction, which second-order extensions start from.
 */
export abstract class LossModule extends LeafModule {
  constructor(
    /** Mean or sum over the per-element losses (default mean). */
    readonly reduction: Reduction = 'mean',
  ) {
    super();
    if (reduction !== 'mean' && reduction !== 'sum') {
      throw new RangeError(`${this.constructor.name}: reduction must be 'mean' or 'sum', got '${String(reduction)}'`);
    }
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

  /** The factor the reduction applies to the summed per-element losses. */
  protected reductionScale(prediction: Tensor, perSample: boolean): number {
    if (this.reduction === 'sum') return 1;
    return 1 / (perSample ? prediction.shape[0]! : prediction.size);
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

  /** `mat` is `[V]` (the loss is a scalar): returns `mat[v] * gradient`, `[V, N, ...]`. */
  jacTMatProd(node: GraphNode, mat: Tensor): Tensor {
    const gradient = this.gradient(node);
    const v = mat.shape[0]!;
    return mul(reshape(mat, [v, ...gradient.shape.map(() => 1)]), gradient);
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
