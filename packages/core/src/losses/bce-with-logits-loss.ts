import type { GraphNode } from '../modules/leaf-module.js';
import { eye } from '../ops/create.js';
import { greater, mul, sigmoid, softplus, sqrt, square, sub } from '../ops/elementwise.js';
import { reshape } from '../ops/layout.js';
import { sum } from '../ops/reduce.js';
import type { Generator } from '../ops/random.js';
import type { Tensor } from '../tensor/tensor.js';
import { diagonalSqrtHessian } from './loss-hessian.js';
import { expectSameShape, LossModule } from './loss-module.js';

/**
 * Binary cross-entropy on logits, as `nn.BCEWithLogitsLoss`: prediction and
 * target (probabilities in [0, 1]) of one shape `[N, ...]`; each element is an
 * independent Bernoulli (any number of outputs per sample). `mean` divides
 * by the number of elements; `none` returns the loss per element.
 */
export class BCEWithLogitsLoss extends LossModule {
  readonly typeName = 'BCEWithLogitsLoss';

  protected checkTarget(prediction: Tensor, target: Tensor): void {
    expectSameShape(this, prediction, target);
  }

  protected compute(inputs: readonly Tensor[]): Tensor {
    const [logits, target] = [inputs[0]!, inputs[1]!];
    // softplus(x) - x y = -[y log σ(x) + (1 - y) log(1 - σ(x))], without overflow.
    const perElement = sub(softplus(logits), mul(logits, target));
    return this.reduce(perElement, logits);
  }

  gradient(node: GraphNode): Tensor {
    const [logits, target] = [node.inputs[0]!, node.inputs[1]!];
    return mul(sub(sigmoid(logits), target), this.reductionScale(logits));
  }

  /** Per element σ(1 - σ)·scale, as `[N, ...pred]`. */
  private hessianDiagonal(node: GraphNode): Tensor {
    const s = sigmoid(node.input);
    return mul(sub(s, square(s)), this.reductionScale(node.input));
  }

  /** Elements are independent Bernoullis: S = diag(√(σ(1 - σ)·scale)) per sample. */
  sqrtHessian(node: GraphNode): Tensor {
    return diagonalSqrtHessian(sqrt(this.hessianDiagonal(node)));
  }

  /** `(σ - y) √(scale / M)` with y ~ Bernoulli(σ) per element. */
  sqrtHessianSampled(node: GraphNode, mcSamples: number, generator: Generator): Tensor {
    const x = node.input;
    const probs = sigmoid(x);
    const uniform = generator.uniform([mcSamples, ...x.shape], { backend: x.backend, dtype: x.dtype });
    const sampled = greater(probs, uniform); // 1 with probability σ
    return mul(sub(probs, sampled), Math.sqrt(this.reductionScale(x) / mcSamples));
  }

  /** `diag(Σ_n σ_n(1 - σ_n)·scale)`. */
  sumHessian(node: GraphNode): Tensor {
    const diagonal = reshape(sum(this.hessianDiagonal(node), 0), [1, -1]);
    const identity = eye(diagonal.shape[1]!, { backend: diagonal.backend, dtype: diagonal.dtype });
    return mul(identity, diagonal);
  }
}
