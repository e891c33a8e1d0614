/**
 * `clamp` (PyTorch's `torch.clamp`): every element limited to `[min, max]`.
 *
 * The derivative is 1 where `min <= x <= max` (bounds included, as PyTorch)
 * and 0 elsewhere: a mask of constants, so the VJP and the JVP multiply by it
 * and the second derivative is 0. Elementwise, so it never mixes samples.
 */
import type { OpDerivatives } from '../tensor/autograd.js';
import { noGrad } from '../tensor/autograd.js';
import type { Tensor } from '../tensor/tensor.js';
import { assertFloat } from './check.js';
import { greaterEqual, maximum, minimum, mul, neg } from './elementwise.js';
import { reshape } from './layout.js';
import { rejectUnknownOptions } from './options.js';
import { record } from './record.js';

/** The bounds of {@link clamp}; at least one is given. */
export interface ClampOptions {
  /** Lower bound: smaller elements become `min`. */
  readonly min?: number;
  /** Upper bound: larger elements become `max`. When `min > max`, every element becomes `max` (as PyTorch). */
  readonly max?: number;
}

/**
 * Every element of `x` limited to `[min, max]`, as `torch.clamp(x, min, max)`;
 * either bound may be omitted. Gradients pass where `min <= x <= max` and
 * are 0 elsewhere.
 *
 * ```ts
 * clamp(x, { min: 0 });          // relu, with gradient 1 at 0
 * clamp(x, { min: -1, max: 1 }); // limited to [-1, 1]
 * ```
 */
export function clamp(x: Tensor, options: ClampOptions): Tensor {
  rejectUnknownOptions('clamp', options, ['min', 'max']);
  const { min, max } = options;
  if (min === undefined && max === undefined) throw new TypeError('clamp: give at least one of the bounds min and max');
  for (const [name, bound] of [['min', min], ['max', max]] as const) {
    if (bound !== undefined && (typeof bound !== 'number' || Number.isNaN(bound))) throw new TypeError(`clamp: ${name} must be a number, got ${String(bound)}`);
  }
  assertFloat('clamp', x);
  const out = noGrad(() => {
    const above = min === undefined ? x : maximum(x, min);
    // A copy where no upper bound applies, so the result is never x itself.
    return max === undefined ? (above === x ? reshape(x, x.shape) : above) : minimum(above, max);
  });
  return record('clamp', [x], out, () => clampDerivatives(x, min, max));
}

function clampDerivatives(x: Tensor, min: number | undefined, max: number | undefined): OpDerivatives {
  // 1 where min <= x <= max: a constant also under createGraph.
  const inside = noGrad(() => {
    const aboveMin = min === undefined ? undefined : greaterEqual(x, min);
    const belowMax = max === undefined ? undefined : greaterEqual(neg(x), -max);
    return aboveMin === undefined ? belowMax! : belowMax === undefined ? aboveMin : mul(aboveMin, belowMax);
  });
  return {
    vjp: (g) => [mul(g, inside)],
    jvp: ([t]) => mul(t!, inside),
  };
}
