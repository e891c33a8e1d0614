import type { GraphNode } from '../modules/leaf-module.js';
import { eye } from '../ops/create.js';
import { mul, square, sub } from '../ops/elementwise.js';
import type { Generator } from '../ops/random.js';
import { sizeOf } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { constantSqrtHessian } from './loss-hessian.js';
import { expectSameShape, LossModule } from './loss-module.js';

/**
 * Squared error, as `nn.MSELoss`: prediction and target of one shape
 * `[N, ...]` of any rank. `mean` divides by the number of elements (N times
 * the rest); `none` returns the squared error per element.
 */
export class MSELoss extends LossModule {
  readonly typeName = 'MSELoss';

  protected checkTarget(prediction: Tensor, target: Tensor): void {
    expectSameShape(this, prediction, target);
  }

  protected compute(inputs: readonly Tensor[], saved: Record<string, Tensor>): Tensor {
    const [prediction, target] = [inputs[0]!, inputs[1]!];
    saved['residual'] = sub(prediction, target);
    return this.reduce(square(saved['residual']), prediction);
  }

  gradient(node: GraphNode): Tensor {
    return mul(node.saved['residual']!, 2 * this.reductionScale(node.input));
  }

  /** Every element has second derivative 2·scale: S = √(2·scale) I per sample. */
  sqrtHessian(node: GraphNode): Tensor {
    return constantSqrtHessian(node.input, Math.sqrt(2 * this.reductionScale(node.input)));
  }

  /** `√(2·scale / M) ε` with ε standard normal: E[S Sᵀ] = 2·scale·I. */
  sqrtHessianSampled(node: GraphNode, mcSamples: number, generator: Generator): Tensor {
    const x = node.input;
    const noise = generator.normal([mcSamples, ...x.shape], { backend: x.backend, dtype: x.dtype });
    return mul(noise, Math.sqrt((2 * this.reductionScale(x)) / mcSamples));
  }

  /** `2·scale·N · I`. */
  sumHessian(node: GraphNode): Tensor {
    const x = node.input;
    const identity = eye(sizeOf(x.shape.slice(1)), { backend: x.backend, dtype: x.dtype });
    return mul(identity, 2 * this.reductionScale(x) * x.shape[0]!);
  }
}
