import type { FloatDType } from '../backend/backend.js';
import type { GraphNode } from '../modules/leaf-module.js';
import { eye } from '../ops/create.js';
import { add, equal, exp, log, mul, neg, sqrt, sub } from '../ops/elementwise.js';
import { einsum } from '../ops/einsum.js';
import { reshape } from '../ops/layout.js';
import { logSoftmax, oneHot } from '../ops/nn.js';
import { max, sum } from '../ops/reduce.js';
import type { Generator } from '../ops/random.js';
import { formatShape } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { LossModule } from './loss-module.js';

/**
 * Softmax cross-entropy with class-index targets, as `nn.CrossEntropyLoss`:
 * prediction `[N, C]` (logits), target int32 `[N]` with values in `[0, C)`.
 * `mean` divides by N.
 */
export class CrossEntropyLoss extends LossModule {
  readonly typeName = 'CrossEntropyLoss';

  protected checkTarget(prediction: Tensor, target: Tensor): void {
    if (prediction.rank !== 2) {
      throw new RangeError(`${this.describe()}: expects logits of shape [N, C], got ${formatShape(prediction.shape)}`);
    }
    const [n, classes] = [prediction.shape[0]!, prediction.shape[1]!];
    if (target.dtype !== 'int32') {
      throw new TypeError(
        `${this.describe()}: targets must be int32 class indices, got ${target.dtype} (create them with { dtype: 'int32' })`,
      );
    }
    if (target.rank !== 1 || target.shape[0] !== n) {
      throw new RangeError(`${this.describe()}: target of shape ${formatShape(target.shape)} does not fit logits ${formatShape(prediction.shape)}; expected [${n}]`);
    }
    // Targets are user input, read once here: an index out of range would silently give a wrong loss.
    const values = target.toArray();
    const bad = values.findIndex((c) => c < 0 || c >= classes);
    if (bad >= 0) {
      throw new RangeError(`${this.describe()}: target[${bad}] = ${values[bad]} is not a class index in [0, ${classes})`);
    }
  }

  protected compute(inputs: readonly Tensor[], saved: Record<string, Tensor>): Tensor {
    const [logits, target] = [inputs[0]!, inputs[1]!];
    const logProbs = logSoftmax(logits, 1);
    saved['probs'] = exp(logProbs);
    saved['targetOneHot'] = oneHot(target, logits.shape[1]!, logits.dtype as FloatDType);
    return mul(sum(mul(logProbs, saved['targetOneHot'])), -this.reductionScale(logits, true));
  }

  gradient(node: GraphNode): Tensor {
    const { probs, targetOneHot } = node.saved as { probs: Tensor; targetOneHot: Tensor };
    return mul(sub(probs, targetOneHot), this.reductionScale(node.input, true));
  }

  /**
   * Per sample H_n = diag(p) - p pᵀ = S Sᵀ with columns
   * `S[c, n, :] = √p_c (e_c - p)` (p = softmax of the logits).
   */
  sqrtHessian(node: GraphNode): Tensor {
    const probs = node.saved['probs']!;
    const [n, classes] = [probs.shape[0]!, probs.shape[1]!];
    const identity = reshape(eye(classes, { backend: probs.backend, dtype: probs.dtype }), [classes, 1, classes]);
    const centered = sub(identity, reshape(probs, [1, n, classes])); // [c, n, o] = δ_oc - p_o
    const sqrtProbs = reshape(einsum('nc->cn', sqrt(probs)), [classes, n, 1]);
    return mul(centered, mul(sqrtProbs, Math.sqrt(this.reductionScale(probs, true))));
  }

  /**
   * `S[m, n, :] = (p - e_y) / √M` with y ~ Categorical(p_n), drawn by the
   * Gumbel-max trick (argmax of log p + Gumbel noise), so sampling needs no
   * read-back and no random kernels on the backend.
   */
  sqrtHessianSampled(node: GraphNode, mcSamples: number, generator: Generator): Tensor {
    const probs = node.saved['probs']!;
    const [n, classes] = [probs.shape[0]!, probs.shape[1]!];
    const options = { backend: probs.backend, dtype: probs.dtype };
    // Uniforms in (0, 1]: -log(-log(u)) stays finite.
    const uniform = generator.uniform([mcSamples, n, classes], { ...options, low: 1, high: 0 });
    const gumbel = neg(log(neg(log(uniform))));
    const scores = add(log(probs), gumbel);
    const sampled = equal(scores, max(scores, -1, true));
    const scale = Math.sqrt(this.reductionScale(probs, true) / mcSamples);
    return mul(sub(reshape(probs, [1, n, classes]), sampled), scale);
  }

  /** Σ_n diag(p_n) - p_n p_nᵀ. */
  sumHessian(node: GraphNode): Tensor {
    const probs = node.saved['probs']!;
    const classes = probs.shape[1]!;
    const identity = eye(classes, { backend: probs.backend, dtype: probs.dtype });
    const diagonal = mul(identity, reshape(sum(probs, 0), [1, classes]));
    return mul(sub(diagonal, einsum('nc,nd->cd', probs, probs)), this.reductionScale(probs, true));
  }
}
