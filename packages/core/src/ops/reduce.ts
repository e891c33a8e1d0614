/**
 * Reductions over axes: `sum` (in `sum.ts`, with broadcasting, its
 * transpose), `max`, `min` and `mean`.
 *
 * Sample mixing (axis 0 of input and output read as the batch axis): a
 * reduction mixes samples when it reduces axis 0. `mean` is a sum divided by
 * a count, recorded as those two ops.
 */
import type { Shape } from '../backend/backend.js';
import { noGrad, type OpDerivatives } from '../tensor/autograd.js';
import { sizeOf } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { div, equal, mul } from './elementwise.js';
import { reshape } from './layout.js';
import { leadingShape, record } from './record.js';
import { keptShape, normalizeAxes, reduceKernel, sum, type Axes } from './sum.js';

export { sum, type Axes } from './sum.js';

/** Maximum over `axes` (all when omitted). */
export function max(x: Tensor, axes?: Axes, keepDims = false): Tensor {
  return extremum('max', x, axes, keepDims);
}

/** Minimum over `axes` (all when omitted). */
export function min(x: Tensor, axes?: Axes, keepDims = false): Tensor {
  return extremum('min', x, axes, keepDims);
}

function extremum(op: 'max' | 'min', x: Tensor, axes: Axes, keepDims: boolean): Tensor {
  const reduced = normalizeAxes(op, axes, x.rank);
  const out = reduceKernel(op, x, reduced, keepDims);
  return record(op, [x], out, () => extremumDerivatives(x, out, reduced, keepDims), reduced.includes(0));
}

/**
 * The derivative flows to the elements that attain the extremum, shared
 * equally among ties (as PyTorch's `amax`/`amin`).
 */
function extremumDerivatives(x: Tensor, out: Tensor, axes: readonly number[], keepDims: boolean): OpDerivatives {
  const kept: Shape = keptShape(x.shape, axes);
  // Piecewise constant in x, so a constant also under createGraph.
  const weights = () =>
    noGrad(() => {
      const attains = equal(x, reshape(out, kept));
      return div(attains, sum(attains, axes, true));
    });
  return {
    vjp: (g) => [mul(reshape(g, [...leadingShape(g, out.rank), ...kept]), weights())],
    jvp: ([t]) => sum(mul(t!, weights()), axes.map((a) => a + t!.rank - x.rank), keepDims),
  };
}

/** Mean over `axes` (all when omitted). */
export function mean(x: Tensor, axes?: Axes, keepDims = false): Tensor {
  const reduced = normalizeAxes('mean', axes, x.rank);
  const count = sizeOf(reduced.map((a) => x.shape[a]!));
  return div(sum(x, reduced, keepDims), count);
}
