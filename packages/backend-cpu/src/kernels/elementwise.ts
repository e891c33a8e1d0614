/**
 * Elementwise kernels. Each op gets its own loop: dispatching per element
 * (a switch, or a call through a table of op functions, which V8 cannot
 * inline once it sees many targets) costs 1.5x to 4x the arithmetic.
 * Comparisons are written `Number(a > b)` rather than `a > b ? 1 : 0`: V8
 * compiles the former without a branch, which is 4x faster on data whose
 * signs are unpredictable.
 */
import type { BinaryOp, DType, Shape, UnaryOp } from '@backpack-ts/core';
import { sizeOf } from '@backpack-ts/core';
import type { CpuHandle } from '../storage.js';
import { allocate } from '../storage.js';
import { broadcastStrides, coalesce, contiguousStrides, forEachRun, innerStride } from '../strides.js';

/** PyTorch's sign: 0 for zero and for NaN (comparisons with NaN are false). */
function sign(v: number): number {
  return Number(v > 0) - Number(v < 0);
}

/** 1 / (1 + exp(-v)), arranged so that exp never overflows. */
function sigmoid(v: number): number {
  if (v >= 0) return 1 / (1 + Math.exp(-v));
  const e = Math.exp(v);
  return e / (1 + e);
}

/** log(1 + exp(v)) = max(v, 0) + log1p(exp(-|v|)), which never overflows. */
function softplus(v: number): number {
  return Math.max(v, 0) + Math.log1p(Math.exp(-Math.abs(v)));
}

/**
 * C's pow (which PyTorch follows) where it differs from `**`: 1 to any power
 * and (-1) to an infinite power are 1, where JavaScript gives NaN.
 */
function pow(base: number, exponent: number): number {
  if (base === 1 || (base === -1 && Math.abs(exponent) === Infinity)) return 1;
  return base ** exponent;
}

/** `op` applied to every element of `x`. */
export function unary(op: UnaryOp, x: CpuHandle, dtype: DType): CpuHandle {
  const n = x.length;
  const out = allocate(dtype, n);
  switch (op) {
    case 'neg':
      for (let i = 0; i < n; i++) out[i] = -x[i];
      break;
    case 'abs':
      for (let i = 0; i < n; i++) out[i] = Math.abs(x[i]);
      break;
    case 'sign':
      for (let i = 0; i < n; i++) out[i] = sign(x[i]);
      break;
    case 'exp':
      for (let i = 0; i < n; i++) out[i] = Math.exp(x[i]);
      break;
    case 'expm1':
      for (let i = 0; i < n; i++) out[i] = Math.expm1(x[i]);
      break;
    case 'log':
      for (let i = 0; i < n; i++) out[i] = Math.log(x[i]);
      break;
    case 'log1p':
      for (let i = 0; i < n; i++) out[i] = Math.log1p(x[i]);
      break;
    case 'sqrt':
      for (let i = 0; i < n; i++) out[i] = Math.sqrt(x[i]);
      break;
    case 'square':
      for (let i = 0; i < n; i++) out[i] = x[i] * x[i];
      break;
    case 'reciprocal':
      for (let i = 0; i < n; i++) out[i] = 1 / x[i];
      break;
    case 'tanh':
      for (let i = 0; i < n; i++) out[i] = Math.tanh(x[i]);
      break;
    case 'sigmoid':
      for (let i = 0; i < n; i++) out[i] = sigmoid(x[i]);
      break;
    case 'relu':
      // Math.max propagates NaN, as PyTorch's relu does.
      for (let i = 0; i < n; i++) out[i] = Math.max(x[i], 0);
      break;
    case 'step':
      for (let i = 0; i < n; i++) out[i] = Number(x[i] > 0);
      break;
    case 'softplus':
      for (let i = 0; i < n; i++) out[i] = softplus(x[i]);
      break;
  }
  return out;
}

/**
 * `out[outStart + i] = op(a[aStart + i * aStep], b[bStart + i * bStep])` for
 * `i < length`: the inner loop of every binary kernel. A step of 0 repeats one
 * element (broadcasting); `out` may be `a` for in-place accumulation.
 */
export function binaryRun(
  op: BinaryOp,
  a: CpuHandle,
  aStart: number,
  aStep: number,
  b: CpuHandle,
  bStart: number,
  bStep: number,
  out: CpuHandle,
  outStart: number,
  length: number,
): void {
  switch (op) {
    case 'add':
      for (let i = 0; i < length; i++) out[outStart + i] = a[aStart + i * aStep] + b[bStart + i * bStep];
      break;
    case 'sub':
      for (let i = 0; i < length; i++) out[outStart + i] = a[aStart + i * aStep] - b[bStart + i * bStep];
      break;
    case 'mul':
      for (let i = 0; i < length; i++) out[outStart + i] = a[aStart + i * aStep] * b[bStart + i * bStep];
      break;
    case 'div':
      for (let i = 0; i < length; i++) out[outStart + i] = a[aStart + i * aStep] / b[bStart + i * bStep];
      break;
    case 'pow':
      for (let i = 0; i < length; i++) out[outStart + i] = pow(a[aStart + i * aStep], b[bStart + i * bStep]);
      break;
    case 'maximum':
      // Math.max / Math.min propagate NaN like torch.maximum / torch.minimum.
      for (let i = 0; i < length; i++) out[outStart + i] = Math.max(a[aStart + i * aStep], b[bStart + i * bStep]);
      break;
    case 'minimum':
      for (let i = 0; i < length; i++) out[outStart + i] = Math.min(a[aStart + i * aStep], b[bStart + i * bStep]);
      break;
    case 'greater':
      for (let i = 0; i < length; i++) out[outStart + i] = Number(a[aStart + i * aStep] > b[bStart + i * bStep]);
      break;
    case 'greaterEqual':
      for (let i = 0; i < length; i++) out[outStart + i] = Number(a[aStart + i * aStep] >= b[bStart + i * bStep]);
      break;
    case 'equal':
      for (let i = 0; i < length; i++) out[outStart + i] = Number(a[aStart + i * aStep] === b[bStart + i * bStep]);
      break;
  }
}

/** `op(a, b)` with NumPy broadcasting; `aShape` and `bShape` have the rank of `outShape`. */
export function binary(
  op: BinaryOp,
  a: CpuHandle,
  aShape: Shape,
  b: CpuHandle,
  bShape: Shape,
  outShape: Shape,
  dtype: DType,
): CpuHandle {
  const out = allocate(dtype, sizeOf(outShape));
  const layout = coalesce(outShape, [broadcastStrides(aShape), broadcastStrides(bShape), contiguousStrides(outShape)]);
  const aStep = innerStride(layout, 0);
  const bStep = innerStride(layout, 1);
  forEachRun(layout, [0, 0, 0], (offsets, length) =>
    binaryRun(op, a, offsets[0], aStep, b, offsets[1], bStep, out, offsets[2], length),
  );
  return out;
}

/** `op(x, scalar)` for every element of `x`. */
export function binaryScalar(
  op: BinaryOp,
  x: CpuHandle,
  scalar: number,
  dtype: DType,
): CpuHandle {
  const out = allocate(dtype, x.length);
  // A one-element operand with step 0 is the scalar, repeated.
  binaryRun(op, x, 0, 1, Float64Array.of(scalar), 0, 0, out, 0, x.length);
  return out;
}
