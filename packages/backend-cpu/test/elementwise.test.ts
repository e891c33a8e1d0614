import { sizeOf, type BinaryOp, type UnaryOp } from '@backpack-ts/core';
import { describe, expect, it } from 'vitest';
import { cpu } from '../src/index.js';
import { allIndices, expectClose, FLOAT_DTYPES, flatIndex, randomData, stored } from './reference.js';

/** Textbook definitions; the kernels must agree with them where these do not overflow. */
const UNARY_REFERENCE: Record<UnaryOp, (x: number) => number> = {
  neg: (x) => -x,
  abs: (x) => Math.abs(x),
  sign: (x) => (x > 0 ? 1 : x < 0 ? -1 : 0),
  exp: (x) => Math.exp(x),
  expm1: (x) => Math.expm1(x),
  log: (x) => Math.log(x),
  log1p: (x) => Math.log1p(x),
  sqrt: (x) => Math.sqrt(x),
  square: (x) => x * x,
  reciprocal: (x) => 1 / x,
  tanh: (x) => Math.tanh(x),
  sigmoid: (x) => 1 / (1 + Math.exp(-x)),
  relu: (x) => (Number.isNaN(x) ? NaN : x > 0 ? x : 0),
  step: (x) => (x > 0 ? 1 : 0),
  softplus: (x) => Math.log(1 + Math.exp(x)),
};

const BINARY_REFERENCE: Record<BinaryOp, (a: number, b: number) => number> = {
  add: (a, b) => a + b,
  sub: (a, b) => a - b,
  mul: (a, b) => a * b,
  div: (a, b) => a / b,
  pow: (a, b) => Math.pow(a, b),
  maximum: (a, b) => (Number.isNaN(a) || Number.isNaN(b) ? NaN : a > b ? a : b),
  minimum: (a, b) => (Number.isNaN(a) || Number.isNaN(b) ? NaN : a < b ? a : b),
  greater: (a, b) => (a > b ? 1 : 0),
  greaterEqual: (a, b) => (a >= b ? 1 : 0),
  equal: (a, b) => (a === b ? 1 : 0),
};

const UNARY_OPS = Object.keys(UNARY_REFERENCE) as UnaryOp[];
const BINARY_OPS = Object.keys(BINARY_REFERENCE) as BinaryOp[];

/** Moderate values (so the textbook formulas are accurate) plus exact zeros. */
function unaryInputs(): number[] {
  return [...randomData(40, 1).map((v) => v * 6), 0, -0, 1, -1, 0.5];
}

describe('unary', () => {
  for (const dtype of FLOAT_DTYPES) {
    for (const op of UNARY_OPS) {
      it(`${op} (${dtype}) matches its definition`, () => {
        const input = stored(unaryInputs(), dtype);
        const x = cpu.fromData(input, [input.length], dtype);
        const y = cpu.unary(op, x, [input.length], dtype);
        expect(y).toBeInstanceOf(dtype === 'float64' ? Float64Array : Float32Array);
        expectClose(y, stored(input.map(UNARY_REFERENCE[op]), dtype), dtype);
        expect(Array.from(x)).toEqual(input);
      });
    }
  }

  it('handles rank-0 and size-0 tensors', () => {
    expect(Array.from(cpu.unary('exp', cpu.fromData([0], [], 'float64'), [], 'float64'))).toEqual([1]);
    expect(cpu.unary('neg', cpu.full([2, 0], 0, 'float32'), [2, 0], 'float32').length).toBe(0);
  });

  it('follows PyTorch at zero and NaN', () => {
    const x = cpu.fromData([0, -0, NaN, -1, 2], [5], 'float64');
    const run = (op: UnaryOp) => Array.from(cpu.unary(op, x, [5], 'float64'));
    expect(run('sign')).toEqual([0, 0, 0, -1, 1]);
    expect(run('step')).toEqual([0, 0, 0, 0, 1]);
    expect(run('relu')).toEqual([0, 0, NaN, 0, 2]);
    expect(run('exp')[2]).toBeNaN();
    expect(run('sigmoid')[2]).toBeNaN();
    expect(run('softplus')[2]).toBeNaN();
  });

  for (const dtype of FLOAT_DTYPES) {
    it(`sigmoid and softplus stay finite at extremes (${dtype})`, () => {
      const x = cpu.fromData([-800, -50, 800, 50], [4], dtype);
      const sigmoid = cpu.unary('sigmoid', x, [4], dtype);
      expect(sigmoid[0]).toBe(0);
      expectClose([sigmoid[1]], stored([Math.exp(-50) / (1 + Math.exp(-50))], dtype), dtype);
      expect(Array.from(sigmoid.subarray(2))).toEqual([1, 1]);
      const softplus = cpu.unary('softplus', x, [4], dtype);
      expect(softplus[0]).toBe(0);
      expectClose([softplus[1]], stored([Math.log1p(Math.exp(-50))], dtype), dtype);
      expect(Array.from(softplus.subarray(2))).toEqual([800, 50]);
    });
  }

  it('handles infinities', () => {
    const x = cpu.fromData([Infinity, -Infinity], [2], 'float64');
    expect(Array.from(cpu.unary('sigmoid', x, [2], 'float64'))).toEqual([1, 0]);
    expect(Array.from(cpu.unary('softplus', x, [2], 'float64'))).toEqual([Infinity, 0]);
    expect(Array.from(cpu.unary('tanh', x, [2], 'float64'))).toEqual([1, -1]);
  });

  it('keeps int32 results in int32', () => {
    const x = cpu.fromData([-3, 0, 4], [3], 'int32');
    const y = cpu.unary('neg', x, [3], 'int32');
    expect(y).toBeInstanceOf(Int32Array);
    expect(Array.from(y)).toEqual([3, 0, -4]);
    expect(Array.from(cpu.unary('abs', x, [3], 'int32'))).toEqual([3, 0, 4]);
  });
});

/** Brute-force broadcast: every output index reads index 0 along the operand's size-1 dims. */
function broadcastReference(
  op: BinaryOp,
  a: readonly number[],
  aShape: readonly number[],
  b: readonly number[],
  bShape: readonly number[],
  outShape: readonly number[],
): number[] {
  return allIndices(outShape).map((index) => {
    const ai = index.map((i, d) => (aShape[d] === 1 ? 0 : i));
    const bi = index.map((i, d) => (bShape[d] === 1 ? 0 : i));
    return BINARY_REFERENCE[op](a[flatIndex(aShape, ai)], b[flatIndex(bShape, bi)]);
  });
}

/** [aShape, bShape, outShape], operand shapes already padded to the output rank. */
const BROADCAST_CASES: [number[], number[], number[]][] = [
  [[], [], []],
  [[5], [5], [5]],
  [[4], [1], [4]],
  [[1], [4], [4]],
  [[2, 3], [2, 3], [2, 3]],
  [[2, 1], [1, 3], [2, 3]],
  [[1, 3], [2, 3], [2, 3]],
  [[3, 1, 5], [1, 4, 1], [3, 4, 5]],
  [[4, 1, 3, 1], [1, 5, 1, 2], [4, 5, 3, 2]],
  [[2, 3, 4, 5], [1, 3, 1, 5], [2, 3, 4, 5]],
  [[1, 1, 1], [2, 3, 4], [2, 3, 4]],
  [[2, 0, 3], [2, 1, 3], [2, 0, 3]],
  [[0], [1], [0]],
  [[1, 0], [3, 1], [3, 0]],
];

describe('binary', () => {
  for (const dtype of FLOAT_DTYPES) {
    for (const op of BINARY_OPS) {
      it(`${op} (${dtype}) broadcasts like NumPy`, () => {
        BROADCAST_CASES.forEach(([aShape, bShape, outShape], c) => {
          // Small integers alongside fractions make equal / greaterEqual and integer powers meaningful.
          const mixed = (size: number, seed: number, every: number) =>
            stored(randomData(size, seed).map((v, i) => (i % every === 0 ? Math.round(v * 2) : v * 3)), dtype);
          const aData = mixed(sizeOf(aShape), 10 + c, 3);
          const bData = mixed(sizeOf(bShape), 50 + c, 2);
          const a = cpu.fromData(aData, aShape, dtype);
          const b = cpu.fromData(bData, bShape, dtype);
          const out = cpu.binary(op, a, aShape, b, bShape, outShape, dtype);
          expect(out).toBeInstanceOf(dtype === 'float64' ? Float64Array : Float32Array);
          expectClose(out, stored(broadcastReference(op, aData, aShape, bData, bShape, outShape), dtype), dtype);
          expect(Array.from(a)).toEqual(aData);
          expect(Array.from(b)).toEqual(bData);
        });
      });
    }
  }

  it('propagates NaN through arithmetic, maximum and minimum; comparisons give 0', () => {
    const a = cpu.fromData([NaN, NaN, 1], [3], 'float64');
    const b = cpu.fromData([1, NaN, NaN], [3], 'float64');
    const run = (op: BinaryOp) => Array.from(cpu.binary(op, a, [3], b, [3], [3], 'float64'));
    expect(run('add')).toEqual([NaN, NaN, NaN]);
    expect(run('maximum')).toEqual([NaN, NaN, NaN]);
    expect(run('minimum')).toEqual([NaN, NaN, NaN]);
    expect(run('greater')).toEqual([0, 0, 0]);
    expect(run('greaterEqual')).toEqual([0, 0, 0]);
    expect(run('equal')).toEqual([0, 0, 0]);
  });

  it('computes pow with C semantics', () => {
    const a = cpu.fromData([1, -1, 2, -8, 0, NaN, 4], [7], 'float64');
    const b = cpu.fromData([NaN, Infinity, 3, 1 / 3, 0, 0, 0.5], [7], 'float64');
    expect(Array.from(cpu.binary('pow', a, [7], b, [7], [7], 'float64'))).toEqual([1, 1, 8, NaN, 1, 1, 2]);
  });

  it('computes in int32', () => {
    const a = cpu.fromData([7, -7, 3], [3], 'int32');
    const b = cpu.fromData([2], [1], 'int32');
    const run = (op: BinaryOp) => {
      const out = cpu.binary(op, a, [3], b, [1], [3], 'int32');
      expect(out).toBeInstanceOf(Int32Array);
      return Array.from(out);
    };
    expect(run('add')).toEqual([9, -5, 5]);
    expect(run('mul')).toEqual([14, -14, 6]);
    expect(run('div')).toEqual([3, -3, 1]);
    expect(run('greater')).toEqual([1, 0, 1]);
    expect(run('maximum')).toEqual([7, 2, 3]);
  });
});

describe('binaryScalar', () => {
  for (const dtype of FLOAT_DTYPES) {
    for (const op of BINARY_OPS) {
      it(`${op} (${dtype}) applies the scalar to every element`, () => {
        const data = stored([...randomData(20, 3).map((v) => v * 4), 0, 1, -1, 2, 0.5], dtype);
        const x = cpu.fromData(data, [5, 5], dtype);
        for (const scalar of [0.5, -2, 1, 0]) {
          const out = cpu.binaryScalar(op, x, [5, 5], scalar, dtype);
          expect(out).toBeInstanceOf(dtype === 'float64' ? Float64Array : Float32Array);
          expectClose(out, stored(data.map((v) => BINARY_REFERENCE[op](v, scalar)), dtype), dtype);
        }
        expect(Array.from(x)).toEqual(data);
      });
    }
  }

  it('handles rank-0, size-0 and int32 tensors', () => {
    expect(Array.from(cpu.binaryScalar('mul', cpu.fromData([3], [], 'float64'), [], 2, 'float64'))).toEqual([6]);
    expect(cpu.binaryScalar('add', cpu.full([0], 0, 'float32'), [0], 1, 'float32').length).toBe(0);
    const ints = cpu.binaryScalar('sub', cpu.fromData([5, -5], [2], 'int32'), [2], 3, 'int32');
    expect(ints).toBeInstanceOf(Int32Array);
    expect(Array.from(ints)).toEqual([2, -8]);
  });
});
