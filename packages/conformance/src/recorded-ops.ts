/**
 * A few differentiable ops written as a third party would, with core's
 * `recordOp`: each computes with core's ops under `noGrad` and records its
 * own vector-Jacobian and Jacobian-vector products, themselves written with
 * these ops, so that under `createGraph` the derivatives are recorded too.
 *
 * For tests of the backward engine and the extensions against the recording
 * contract alone, independently of the rules of core's own ops. Shapes are
 * kept simple: binary ops take operands of one shape; the cotangents of the
 * VJPs may carry any number of extra leading dimensions (the `[V, ...]`
 * quantities of the second-order extensions), as the contract asks.
 */
import * as core from '@backpack-ts/core';
import { noGrad, recordOp, type OpDerivatives, type Shape, type Tensor } from '@backpack-ts/core';

function record(
  name: string,
  inputs: readonly Tensor[],
  compute: () => Tensor,
  derivatives: () => OpDerivatives,
  mixesSamples = false,
): Tensor {
  return recordOp(name, inputs, noGrad(compute), derivatives, mixesSamples);
}

/** The extra leading dimensions of `g` beyond `shape`. */
function leading(g: Tensor, shape: Shape): number[] {
  return g.shape.slice(0, g.rank - shape.length);
}

function sameShape(name: string, a: Tensor, b: Tensor): void {
  if (!core.shapesEqual(a.shape, b.shape)) {
    throw new RangeError(`${name}: the test ops take operands of one shape, got ${core.formatShape(a.shape)} and ${core.formatShape(b.shape)}`);
  }
}

/** a + b. */
export function add(a: Tensor, b: Tensor): Tensor {
  sameShape('add', a, b);
  return record('add', [a, b], () => core.add(a, b), () => ({
    vjp: (g) => [g, g],
    jvp: ([ta, tb]) => (ta === undefined ? tb! : tb === undefined ? ta : add(ta, tb)),
  }));
}

/** a - b. */
export function sub(a: Tensor, b: Tensor): Tensor {
  sameShape('sub', a, b);
  return record('sub', [a, b], () => core.sub(a, b), () => ({
    vjp: (g) => [g, scale(g, -1)],
    jvp: ([ta, tb]) => (tb === undefined ? ta! : ta === undefined ? scale(tb, -1) : sub(ta, tb)),
  }));
}

/** a ⊙ b. */
export function mul(a: Tensor, b: Tensor): Tensor {
  sameShape('mul', a, b);
  return record('mul', [a, b], () => core.mul(a, b), () => ({
    vjp: (g) => [mulLeading(g, b), mulLeading(g, a)],
    jvp: ([ta, tb]) => {
      const fromA = ta === undefined ? undefined : mulLeading(ta, b);
      const fromB = tb === undefined ? undefined : mulLeading(tb, a);
      return fromA === undefined ? fromB! : fromB === undefined ? fromA : add(fromA, fromB);
    },
  }));
}

/** `g ⊙ x` for `g` with extra leading dimensions: `x` is repeated along them. */
function mulLeading(g: Tensor, x: Tensor): Tensor {
  const lead = leading(g, x.shape);
  return lead.length === 0 ? mul(g, x) : mul(g, repeat(reshape(x, [...lead.map(() => 1), ...x.shape]), g.shape));
}

/** `x` repeated to `shape` (of its rank) along the axes where `x` has size 1. */
function repeat(x: Tensor, shape: Shape): Tensor {
  return record('repeat', [x], () => core.mul(x, core.ones(shape, { backend: x.backend, dtype: x.dtype })), () => ({
    vjp: (g) => [reduceTo(g, x.shape)],
    jvp: ([t]) => repeat(t!, [...leading(t!, x.shape), ...shape]),
  }));
}

/** `g` (`[...lead, ...s]`) summed over the axes where `shape` (of s's rank) has size 1, keeping them. */
function reduceTo(g: Tensor, shape: Shape): Tensor {
  const offset = g.rank - shape.length;
  const axes = shape.flatMap((d, i) => (d === 1 && g.shape[offset + i] !== 1 ? [offset + i] : []));
  if (axes.length === 0) return g;
  return record('reduceTo', [g], () => core.sum(g, axes, true), () => ({
    vjp: (h) => [repeat(h, [...leading(h, shape), ...g.shape])],
    jvp: ([t]) => reduceTo(t!, shape),
  }));
}

/** Sums the last `count` axes of `x` away. */
function sumTrailing(x: Tensor, count: number): Tensor {
  const kept = x.shape.slice(0, x.rank - count);
  return reshape(reduceTo(x, [...x.shape.slice(x.rank - count).map(() => 1)]), kept);
}

/** `g` (`[...lead, ...reduced]`) spread back over the `rank - reduced.length` trailing axes of `shape` it was summed over. */
function spread(g: Tensor, shape: Shape, reducedRank: number): Tensor {
  const lead = g.shape.slice(0, g.rank - reducedRank);
  const ones = Array<number>(shape.length - reducedRank).fill(1);
  return repeat(reshape(g, [...g.shape, ...ones]), [...lead, ...shape]);
}

/** c · x for a number c. */
export function scale(x: Tensor, c: number): Tensor {
  return record('scale', [x], () => core.mul(x, c), () => ({ vjp: (g) => [scale(g, c)], jvp: ([t]) => scale(t!, c) }));
}

/** x². */
export function square(x: Tensor): Tensor {
  return record('square', [x], () => core.square(x), () => ({
    vjp: (g) => [mulLeading(g, scale(x, 2))],
    jvp: ([t]) => mulLeading(t!, scale(x, 2)),
  }));
}

/** tanh(x); its derivative 1 - tanh² is written with its own output. */
export function tanh(x: Tensor): Tensor {
  const y: Tensor = record('tanh', [x], () => core.tanh(x), () => {
    const slope = () => sub(ones(y), square(y));
    return { vjp: (g) => [mulLeading(g, slope())], jvp: ([t]) => mulLeading(t!, slope()) };
  });
  return y;
}

/** A constant tensor of ones shaped like `x`. */
function ones(x: Tensor): Tensor {
  return core.ones(x.shape, { backend: x.backend, dtype: x.dtype });
}

/** max(x, 0); piecewise linear, with the derivative 0 at 0 (as PyTorch). */
export function relu(x: Tensor): Tensor {
  return record('relu', [x], () => core.relu(x), () => {
    const mask = noGrad(() => core.step(x));
    return { vjp: (g) => [mulLeading(g, mask)], jvp: ([t]) => mulLeading(t!, mask) };
  });
}

/** `x` with another shape of the same size; a shape that moves the batch axis mixes samples. */
export function reshape(x: Tensor, shape: Shape): Tensor {
  const out = noGrad(() => core.reshape(x, shape));
  const keepsBatch = x.rank > 0 && out.rank > 0 && out.shape[0] === x.shape[0];
  return recordOp('reshape', [x], out, () => ({
    vjp: (g) => [reshape(g, [...leading(g, out.shape), ...x.shape])],
    jvp: ([t]) => reshape(t!, [...leading(t!, x.shape), ...out.shape]),
  }), !keepsBatch);
}

/** The sum of all elements: a scalar. Reduces the batch axis, so it mixes samples. */
export function sum(x: Tensor): Tensor {
  const axes = Array.from({ length: x.rank }, (_, i) => i);
  return record('sum', [x], () => core.sum(x, axes), () => ({
    vjp: (g) => [spread(g, x.shape, 0)],
    jvp: ([t]) => sumTrailing(t!, x.rank),
  }), true);
}

/** The sum over every axis but the first (the batch): one value per sample. */
export function sumPerSample(x: Tensor): Tensor {
  const axes = Array.from({ length: x.rank - 1 }, (_, i) => i + 1);
  return record('sumPerSample', [x], () => core.sum(x, axes), () => ({
    vjp: (g) => [spread(g, x.shape, 1)],
    jvp: ([t]) => sumTrailing(t!, x.rank - 1),
  }));
}

/** The mean of all elements. */
export function mean(x: Tensor): Tensor {
  return scale(sum(x), 1 / x.size);
}
