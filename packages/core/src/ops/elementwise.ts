/**
 * Elementwise ops: functions of one argument, and of two with NumPy
 * broadcasting (or a number as second argument).
 *
 * Derivatives: each op gives its partial derivatives as tensors that
 * broadcast to the output ({@link unaryPartial}, {@link binaryPartial});
 * the VJP multiplies the cotangent by them and sums it back to each input's
 * shape ({@link sumToShape}), the JVP multiplies the tangents and adds them.
 * Piecewise constant ops (`sign`, `step`, the comparisons) record nothing:
 * their derivative is 0 wherever it exists.
 *
 * Sample mixing (axis 0 of inputs and output read as the batch axis):
 * elementwise ops never mix samples. An operand of the output's rank keeps
 * axis 0 element for element, or (size 1) is shared by every sample; a
 * lower-rank operand, broadcast in front, has no batch axis.
 */
import type { BinaryOp, UnaryOp } from '../backend/backend.js';
import type { OpDerivatives } from '../tensor/autograd.js';
import { broadcastShapes, padShapeLeft, shapesEqual } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { assertFloat, sameBackend, sameDType } from './check.js';
import { reshape } from './layout.js';
import { leadingShape, record, wantsGrad } from './record.js';
import { runKernel } from './run-kernel.js';
import { broadcastTo, sumToShape } from './sum.js';

type PiecewiseConstantUnary = 'sign' | 'step';
type Comparison = 'greater' | 'greaterEqual' | 'equal';

/** Applies an elementwise function of one argument. */
export function unary(op: UnaryOp, x: Tensor): Tensor {
  const backend = sameBackend(op, [x]);
  assertFloat(op, x);
  const y = runKernel(backend, [x], x.shape, x.dtype, () => backend.unary(op, x.handle, x.shape, x.dtype));
  if (op === 'sign' || op === 'step') return y;
  return record(op, [x], y, () => elementwiseDerivatives([x], y, () => unaryPartial(op, x, y)));
}

/**
 * Applies an elementwise function of two arguments with NumPy broadcasting.
 * A number as second argument is a scalar of the first argument's dtype.
 */
export function binary(op: BinaryOp, a: Tensor, b: Tensor | number): Tensor {
  if (typeof b === 'number') {
    const backend = sameBackend(op, [a]);
    const y = runKernel(backend, [a], a.shape, a.dtype, () => backend.binaryScalar(op, a.handle, a.shape, b, a.dtype));
    if (isComparison(op)) return y;
    return record(op, [a], y, () => elementwiseDerivatives([a], y, () => binaryPartial(op, 0, a, b, y)));
  }
  const backend = sameBackend(op, [a, b]);
  const dtype = sameDType(op, [a, b]);
  const outShape = broadcastShapes(a.shape, b.shape, op);
  const rank = outShape.length;
  const y = runKernel(backend, [a, b], outShape, dtype, () =>
    backend.binary(op, a.handle, padShapeLeft(a.shape, rank), b.handle, padShapeLeft(b.shape, rank), outShape, dtype),
  );
  if (isComparison(op)) return y;
  return record(op, [a, b], y, () => elementwiseDerivatives([a, b], y, (i) => binaryPartial(op, i, a, b, y)));
}

function isComparison(op: BinaryOp): op is Comparison {
  return op === 'greater' || op === 'greaterEqual' || op === 'equal';
}

/**
 * The rules of an elementwise op from its partial derivatives: `partial(i)`
 * is ∂y/∂inputs[i], a tensor that broadcasts to y's shape or a constant
 * factor (1 for the identity). Partials are built on every call, with ops,
 * so that under `createGraph` they are recorded.
 */
function elementwiseDerivatives(inputs: readonly Tensor[], y: Tensor, partial: (i: 0 | 1) => Tensor | number): OpDerivatives {
  const times = (v: Tensor, factor: Tensor | number) => (factor === 1 ? v : mul(v, factor));
  return {
    vjp: (g) => inputs.map((x, i) => (wantsGrad(x) ? sumToShape(times(g, partial(i as 0 | 1)), y.shape, x.shape) : undefined)),
    jvp: (tangents) => {
      let total: Tensor | undefined;
      let lead: number[] = [];
      tangents.forEach((t, i) => {
        if (t === undefined) return;
        const x = inputs[i]!;
        lead = leadingShape(t, x.rank);
        // A lower-rank operand gets its leading ones after the extra leading dimensions.
        const aligned = x.rank < y.rank ? reshape(t, [...lead, ...padShapeLeft(x.shape, y.rank)]) : t;
        const term = times(aligned, partial(i as 0 | 1));
        total = total === undefined ? term : add(total, term);
      });
      const full = [...lead, ...y.shape];
      return shapesEqual(total!.shape, full) ? total! : broadcastTo(total!, full);
    },
  };
}

/** `1 - x`. */
const oneMinus = (x: Tensor): Tensor => add(neg(x), 1);

/** f'(x) for y = f(x). */
function unaryPartial(op: Exclude<UnaryOp, PiecewiseConstantUnary>, x: Tensor, y: Tensor): Tensor | number {
  switch (op) {
    case 'neg':
      return -1;
    case 'abs':
      return sign(x);
    case 'exp':
      return y;
    case 'expm1':
      return add(y, 1);
    case 'log':
      return reciprocal(x);
    case 'log1p':
      return reciprocal(add(x, 1));
    case 'sqrt':
      return mul(reciprocal(y), 0.5);
    case 'square':
      return mul(x, 2);
    case 'reciprocal':
      return neg(square(y));
    case 'tanh':
      return oneMinus(square(y));
    case 'sigmoid':
      return sub(y, square(y));
    case 'relu':
      return step(x);
    case 'softplus':
      return sigmoid(x);
  }
}

/** ∂y/∂a (`which` 0) or ∂y/∂b (1) for y = op(a, b); `b` is a tensor when `which` is 1. */
function binaryPartial(op: Exclude<BinaryOp, Comparison>, which: 0 | 1, a: Tensor, b: Tensor | number, y: Tensor): Tensor | number {
  switch (op) {
    case 'add':
      return 1;
    case 'sub':
      return which === 0 ? 1 : -1;
    case 'mul':
      return which === 0 ? b : a;
    case 'div':
      if (which === 1) return neg(div(y, b));
      return typeof b === 'number' ? 1 / b : reciprocal(b);
    case 'pow':
      // b · a^(b-1) and y · log(a) (NaN for a ≤ 0, where the real power has no derivative in b).
      if (which === 1) return mul(y, log(a));
      return mul(pow(a, typeof b === 'number' ? b - 1 : sub(b, 1)), b);
    case 'maximum':
    case 'minimum': {
      // a's share of the maximum: 1 where a > b, 1/2 where tied (as PyTorch), else 0; the minimum's is the other share.
      const aMax = mul(add(greater(a, b), greaterEqual(a, b)), 0.5);
      return (op === 'maximum') === (which === 0) ? aMax : oneMinus(aMax);
    }
  }
}

/** `-x`, elementwise. */
export const neg = (x: Tensor): Tensor => unary('neg', x);
/** `|x|`, elementwise. */
export const abs = (x: Tensor): Tensor => unary('abs', x);
/** -1, 0 or 1 by the sign of each element. */
export const sign = (x: Tensor): Tensor => unary('sign', x);
/** `e^x`, elementwise. */
export const exp = (x: Tensor): Tensor => unary('exp', x);
/** `e^x - 1`, elementwise, accurate near 0. */
export const expm1 = (x: Tensor): Tensor => unary('expm1', x);
/** Natural logarithm, elementwise. */
export const log = (x: Tensor): Tensor => unary('log', x);
/** `log(1 + x)`, elementwise, accurate near 0. */
export const log1p = (x: Tensor): Tensor => unary('log1p', x);
/** Square root, elementwise. */
export const sqrt = (x: Tensor): Tensor => unary('sqrt', x);
/** `x²`, elementwise. */
export const square = (x: Tensor): Tensor => unary('square', x);
/** `1 / x`, elementwise. */
export const reciprocal = (x: Tensor): Tensor => unary('reciprocal', x);
/** Hyperbolic tangent, elementwise. */
export const tanh = (x: Tensor): Tensor => unary('tanh', x);
/** Logistic sigmoid `1 / (1 + e^-x)`, elementwise. */
export const sigmoid = (x: Tensor): Tensor => unary('sigmoid', x);
/** `max(x, 0)`, elementwise. */
export const relu = (x: Tensor): Tensor => unary('relu', x);
/** 1 where x > 0, else 0. */
export const step = (x: Tensor): Tensor => unary('step', x);
/** `log(1 + e^x)`, elementwise, without overflow for large x. */
export const softplus = (x: Tensor): Tensor => unary('softplus', x);

/** `a + b` with broadcasting (a number is a scalar). */
export const add = (a: Tensor, b: Tensor | number): Tensor => binary('add', a, b);
/** `a - b` with broadcasting (a number is a scalar). */
export const sub = (a: Tensor, b: Tensor | number): Tensor => binary('sub', a, b);
/** `a * b` elementwise with broadcasting (a number is a scalar). */
export const mul = (a: Tensor, b: Tensor | number): Tensor => binary('mul', a, b);
/** `a / b` elementwise with broadcasting (a number is a scalar). */
export const div = (a: Tensor, b: Tensor | number): Tensor => binary('div', a, b);
/** `a ** b` elementwise with broadcasting (a number is a scalar exponent). */
export const pow = (a: Tensor, b: Tensor | number): Tensor => binary('pow', a, b);
/** The larger of `a` and `b`, elementwise with broadcasting. */
export const maximum = (a: Tensor, b: Tensor | number): Tensor => binary('maximum', a, b);
/** The smaller of `a` and `b`, elementwise with broadcasting. */
export const minimum = (a: Tensor, b: Tensor | number): Tensor => binary('minimum', a, b);
/** 1 where a > b, else 0. */
export const greater = (a: Tensor, b: Tensor | number): Tensor => binary('greater', a, b);
/** 1 where a >= b, else 0. */
export const greaterEqual = (a: Tensor, b: Tensor | number): Tensor => binary('greaterEqual', a, b);
/** 1 where a == b, else 0. */
export const equal = (a: Tensor, b: Tensor | number): Tensor => binary('equal', a, b);
