import type { FloatDType } from '../backend/backend.js';
import type { GraphNode } from '../modules/leaf-module.js';
import { eye } from '../ops/create.js';
import { add, equal, exp, log, mul, neg, sqrt, sub } from '../ops/elementwise.js';
import { einsum } from '../ops/einsum.js';
import { permute, reshape } from '../ops/layout.js';
import { logSoftmax, oneHot } from '../ops/nn.js';
import { max, sum } from '../ops/reduce.js';
import type { Generator } from '../ops/random.js';
import { formatShape } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { LossModule } from './loss-module.js';

/**
 * Softmax cross-entropy with class-index targets, as `nn.CrossEntropyLoss`:
 * prediction `[N, C, d1, ...]` (logits, classes in dimension 1), target
 * int32 `[N, d1, ...]` with values in `[0, C)`. Each position is one
 * classification: `mean` divides by N·d1·..., `none` returns the loss per
 * position `[N, d1, ...]`.
 *
 * The derivatives work on `[N, C, L]` (L = d1·...·, 1 without extra
 * dimensions): per sample the Hessian is block-diagonal over the positions,
 * one `diag(p) - p pᵀ` block each.
 */
export class CrossEntropyLoss extends LossModule {
  readonly typeName = 'CrossEntropyLoss';

  protected checkTarget(prediction: Tensor, target: Tensor): void {
    if (prediction.rank < 2) {
      throw new RangeError(`${this.describe()}: expects logits of shape [N, C] or [N, C, d1, ...], got ${formatShape(prediction.shape)}`);
    }
    const classes = prediction.shape[1]!;
    if (target.dtype !== 'int32') {
      throw new TypeError(
        `${this.describe()}: targets must be int32 class indices, got ${target.dtype} (create them with { dtype: 'int32' })`,
      );
    }
    const expected = [prediction.shape[0]!, ...prediction.shape.slice(2)];
    if (target.rank !== expected.length || target.shape.some((d, i) => d !== expected[i])) {
      throw new RangeError(
        `${this.describe()}: target of shape ${formatShape(target.shape)} does not fit logits ${formatShape(prediction.shape)}; expected ${formatShape(expected)}`,
      );
    }
    // Targets are user input, read once here: an index out of range would silently give a wrong loss.
    const values = target.toArray();
    const bad = values.findIndex((c) => c < 0 || c >= classes);
    if (bad >= 0) {
      throw new RangeError(`${this.describe()}: target[${bad}] = ${values[bad]} is not a class index in [0, ${classes})`);
    }
  }

  /** One term per position: N·d1·... */
  protected override lossTerms(prediction: Tensor): number {
    return prediction.size / prediction.shape[1]!;
  }

  /** The per-position losses `[N, d1, ...]` broadcast over the classes: `[N, 1, d1, ...]`. */
  protected override perElementShapeInPrediction(prediction: Tensor): number[] {
    if (this.reduction !== 'none') return super.perElementShapeInPrediction(prediction);
    return [prediction.shape[0]!, 1, ...prediction.shape.slice(2)];
  }

  protected compute(inputs: readonly Tensor[], saved: Record<string, Tensor>): Tensor {
    const [logits, target] = [inputs[0]!, inputs[1]!];
    const logProbs = logSoftmax(logits, 1);
    saved['probs'] = exp(logProbs);
    // oneHot appends the class axis; it belongs in dimension 1.
    const hot = oneHot(target, logits.shape[1]!, logits.dtype as FloatDType);
    saved['targetOneHot'] = logits.rank === 2 ? hot : permute(hot, [0, hot.rank - 1, ...Array.from({ length: hot.rank - 2 }, (_, i) => i + 1)]);
    return this.reduce(neg(sum(mul(logProbs, saved['targetOneHot']), 1)), logits);
  }

  gradient(node: GraphNode): Tensor {
    const { probs, targetOneHot } = node.saved as { probs: Tensor; targetOneHot: Tensor };
    return mul(sub(probs, targetOneHot), this.reductionScale(node.input));
  }

  /** The probabilities as `[N, C, L]`. */
  private probsByPosition(node: GraphNode): Tensor {
    const probs = node.saved['probs']!;
    return reshape(probs, [probs.shape[0]!, probs.shape[1]!, -1]);
  }

  /**
   * Per sample and position H = diag(p) - p pᵀ = S Sᵀ with columns
   * `S[c] = √p_c (e_c - p)` (p = softmax of the logits there). Columns are
   * ordered (class, position), as BackPACK's: `[C·L, N, C, d1, ...]`, column
   * (c, l) non-zero at position l only.
   */
  sqrtHessian(node: GraphNode): Tensor {
    const probs = this.probsByPosition(node);
    const [n, classes, positions] = probs.shape as [number, number, number];
    const options = { backend: probs.backend, dtype: probs.dtype };
    const identity = reshape(eye(classes, options), [classes, 1, classes, 1]);
    const centered = sub(identity, reshape(probs, [1, n, classes, positions])); // [c, n, o, l] = δ_oc - p_ol
    const sqrtProbs = reshape(permute(sqrt(probs), [1, 0, 2]), [classes, n, 1, positions]);
    const columns = mul(centered, mul(sqrtProbs, Math.sqrt(this.reductionScale(node.input)))); // [c, n, o, l]
    if (positions === 1) return reshape(columns, [classes, ...node.input.shape]);
    // Column (c, l') is non-zero at position l = l' only.
    const diagonal = reshape(eye(positions, options), [1, positions, 1, 1, positions]);
    const spread = mul(reshape(columns, [classes, 1, n, classes, positions]), diagonal);
    return reshape(spread, [classes * positions, ...node.input.shape]);
  }

  /**
   * `S[m, n, :, l] = (p - e_y) / √M` with y ~ Categorical(p_{n, l}) per
   * position, drawn by the Gumbel-max trick (argmax of log p + Gumbel noise),
   * so sampling needs no read-back and no random kernels on the backend.
   */
  sqrtHessianSampled(node: GraphNode, mcSamples: number, generator: Generator): Tensor {
    const probs = this.probsByPosition(node);
    const [n, classes, positions] = probs.shape as [number, number, number];
    const options = { backend: probs.backend, dtype: probs.dtype };
    // Uniforms in (0, 1]: -log(-log(u)) stays finite.
    const uniform = generator.uniform([mcSamples, n, positions, classes], { ...options, low: 1, high: 0 });
    const gumbel = neg(log(neg(log(uniform))));
    const scores = add(log(reshape(permute(probs, [0, 2, 1]), [1, n, positions, classes])), gumbel);
    const sampled = permute(equal(scores, max(scores, -1, true)), [0, 1, 3, 2]); // [m, n, c, l]
    const scale = Math.sqrt(this.reductionScale(node.input) / mcSamples);
    return reshape(mul(sub(reshape(probs, [1, n, classes, positions]), sampled), scale), [mcSamples, ...node.input.shape]);
  }

  /** `Σ_n diag(p_n) - p_n p_nᵀ` per position, block-diagonal over the positions, `[C·L, C·L]` in the prediction's (class, position) order. */
  sumHessian(node: GraphNode): Tensor {
    const probs = this.probsByPosition(node);
    const [classes, positions] = [probs.shape[1]!, probs.shape[2]!];
    const options = { backend: probs.backend, dtype: probs.dtype };
    const perPosition = sub(
      mul(reshape(eye(classes, options), [classes, classes, 1]), reshape(sum(probs, 0), [classes, 1, positions])),
      einsum('ncl,ndl->cdl', probs, probs),
    ); // [c, d, l]
    const blocks = mul(reshape(perPosition, [classes, 1, classes, positions]), reshape(eye(positions, options), [1, positions, 1, positions]));
    // blocks[c, l', d, l] is non-zero for l = l' only; rows and columns ordered (class, position).
    const size = classes * positions;
    return mul(reshape(permute(blocks, [0, 3, 2, 1]), [size, size]), this.reductionScale(node.input));
  }
}
