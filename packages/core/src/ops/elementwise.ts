import type { BinaryOp, UnaryOp } from '../backend/backend.js';
import { broadcastShapes, padShapeLeft } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { assertFloat, sameBackend, sameDType } from './check.js';
import { runKernel } from './run-kernel.js';

/** Applies an elementwise function of one argument. */
export function unary(op: UnaryOp, x: Tensor): Tensor {
  const backend = sameBackend(op, [x]);
  assertFloat(op, x);
  return runKernel(backend, [x], x.shape, x.dtype, () => backend.unary(op, x.handle, x.shape, x.dtype));
}

/**
 * Applies an elementwise function of two arguments with NumPy broadcasting.
 * A number as second argument is a scalar of the first argument's dtype.
 */
export function binary(op: BinaryOp, a: Tensor, b: Tensor | number): Tensor {
  if (typeof b === 'number') {
    const backend = sameBackend(op, [a]);
    return runKernel(backend, [a], a.shape, a.dtype, () => backend.binaryScalar(op, a.handle, a.shape, b, a.dtype));
  }
  const backend = sameBackend(op, [a, b]);
  const dtype = sameDType(op, [a, b]);
  const outShape = broadcastShapes(a.shape, b.shape, op);
  const rank = outShape.length;
  return runKernel(backend, [a, b], outShape, dtype, () =>
    backend.binary(op, a.handle, padShapeLeft(a.shape, rank), b.handle, padShapeLeft(b.shape, rank), outShape, dtype),
  );
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
