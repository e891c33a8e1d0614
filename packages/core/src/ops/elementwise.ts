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

export const neg = (x: Tensor): Tensor => unary('neg', x);
export const abs = (x: Tensor): Tensor => unary('abs', x);
export const sign = (x: Tensor): Tensor => unary('sign', x);
export const exp = (x: Tensor): Tensor => unary('exp', x);
export const expm1 = (x: Tensor): Tensor => unary('expm1', x);
export const log = (x: Tensor): Tensor => unary('log', x);
export const log1p = (x: Tensor): Tensor => unary('log1p', x);
export const sqrt = (x: Tensor): Tensor => unary('sqrt', x);
export const square = (x: Tensor): Tensor => unary('square', x);
export const reciprocal = (x: Tensor): Tensor => unary('reciprocal', x);
export const tanh = (x: Tensor): Tensor => unary('tanh', x);
export const sigmoid = (x: Tensor): Tensor => unary('sigmoid', x);
export const relu = (x: Tensor): Tensor => unary('relu', x);
/** 1 where x > 0, else 0. */
export const step = (x: Tensor): Tensor => unary('step', x);
export const softplus = (x: Tensor): Tensor => unary('softplus', x);

export const add = (a: Tensor, b: Tensor | number): Tensor => binary('add', a, b);
export const sub = (a: Tensor, b: Tensor | number): Tensor => binary('sub', a, b);
export const mul = (a: Tensor, b: Tensor | number): Tensor => binary('mul', a, b);
export const div = (a: Tensor, b: Tensor | number): Tensor => binary('div', a, b);
export const pow = (a: Tensor, b: Tensor | number): Tensor => binary('pow', a, b);
export const maximum = (a: Tensor, b: Tensor | number): Tensor => binary('maximum', a, b);
export const minimum = (a: Tensor, b: Tensor | number): Tensor => binary('minimum', a, b);
/** 1 where a > b, else 0. */
export const greater = (a: Tensor, b: Tensor | number): Tensor => binary('greater', a, b);
/** 1 where a >= b, else 0. */
export const greaterEqual = (a: Tensor, b: Tensor | number): Tensor => binary('greaterEqual', a, b);
/** 1 where a == b, else 0. */
export const equal = (a: Tensor, b: Tensor | number): Tensor => binary('equal', a, b);
