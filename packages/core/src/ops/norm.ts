/**
 * `norm` (PyTorch's `torch.linalg.vector_norm`, or `torch.norm` of a
 * tensor): vector norms over some or all dimensions.
 *
 * The 1-norm and the ∞-norms are sums, maxima and minima of `abs`, and
 * recorded as those ops. The 2-norm `y = sqrt(Σ x²)` is one op of its own,
 * so that its derivative `x / y` can be 0 where `y = 0` (as PyTorch) rather
 * than 0/0: both rules multiply by `r = 1/y` where `y > 0` and 0 elsewhere,
 * computed from the recorded output, so derivatives of derivatives are
 * exact too. Sample mixing: as the sum over the same dimensions.
 */
import type { OpDerivatives } from '../tensor/autograd.js';
import { noGrad } from '../tensor/autograd.js';
import type { Tensor } from '../tensor/tensor.js';
import { assertFloat } from './check.js';
import { abs, add, div, equal, greater, mul, sqrt, square } from './elementwise.js';
import { reshape } from './layout.js';
import { rejectUnknownOptions } from './options.js';
import { leadingShape, record } from './record.js';
import { max, min } from './reduce.js';
import { keptShape, normalizeAxes, sum, type Axes } from './sum.js';

/** What {@link norm} computes. */
export interface NormOptions {
  /** Which norm: 2 (default, Euclidean), 1 (sum of absolute values), `Infinity` (largest absolute value) or `-Infinity` (smallest). */
  readonly p?: number;
  /** The dimensions to take the norm over, negative counting from the end (default: all, the norm of the flattened tensor). */
  readonly dim?: Axes;
  /** Keep the reduced dimensions with size 1 (default false), as PyTorch's `keepdim`. */
  readonly keepDim?: boolean;
}

/**
 * The vector `p`-norm of `x` over `dim` (all dimensions by default), as
 * `torch.linalg.vector_norm(x, ord=p, dim, keepdim)`. The gradient of the
 * 2-norm is `x / ‖x‖`, and 0 where the norm is 0 (as PyTorch); the 1-norm's
 * is `sign(x)`; the ∞-norm's is shared equally among the tied largest
 * absolute values.
 *
 * ```ts
 * norm(x);                      // Euclidean norm of all elements, a scalar
 * norm(g, { dim: 1 });          // per-row 2-norms of a [N, D] matrix, [N]
 * norm(x, { p: Infinity, dim: [1, 2], keepDim: true });
 * ```
 */
export function norm(x: Tensor, options: NormOptions = {}): Tensor {
  rejectUnknownOptions('norm', options, ['p', 'dim', 'keepDim']);
  const { p = 2, dim, keepDim = false } = options;
  assertFloat('norm', x);
  const axes = normalizeAxes('norm', dim, x.rank);
  switch (p) {
    case 1:
      return sum(abs(x), axes, keepDim);
    case Infinity:
      return max(abs(x), axes, keepDim);
    case -Infinity:
      return min(abs(x), axes, keepDim);
    case 2: {
      const out = noGrad(() => sqrt(sum(square(x), axes, keepDim)));
      return record('norm', [x], out, () => euclideanDerivatives(x, out, axes, keepDim), axes.includes(0));
    }
    default:
      throw new RangeError(`norm: p = ${p} is not supported; use 2, 1, Infinity or -Infinity`);
  }
}

function euclideanDerivatives(x: Tensor, out: Tensor, axes: readonly number[], keepDim: boolean): OpDerivatives {
  const kept = keptShape(x.shape, axes);
  // 1/y where y > 0, else 0; y is the recorded output, so under createGraph r depends on x.
  const reciprocalWherePositive = () => {
    const y = reshape(out, kept);
    const [positive, zero] = noGrad(() => [greater(y, 0), equal(y, 0)]);
    return div(positive!, add(y, zero!));
  };
  return {
    vjp: (g) => [mul(mul(reshape(g, [...leadingShape(g, out.rank), ...kept]), x), reciprocalWherePositive())],
    jvp: ([t]) => sum(mul(mul(t!, x), reciprocalWherePositive()), axes.map((a) => a + t!.rank - x.rank), keepDim),
  };
}
