import { describe, expect, it } from 'vitest';
import { cpu } from '../src/index.js';
import { expectClose, FLOAT_DTYPES, randomData, stored, type TestDType } from './reference.js';

interface Problem {
  batchA: number;
  batchB: number;
  m: number;
  k: number;
  n: number;
  transA: boolean;
  transB: boolean;
}

/** Stored shapes of the operands: transposed operands keep the other two dims swapped. */
function shapesOf({ batchA, batchB, m, k, n, transA, transB }: Problem) {
  return {
    aShape: transA ? [batchA, k, m] : [batchA, m, k],
    bShape: transB ? [batchB, n, k] : [batchB, k, n],
  };
}

/** Naive triple loop over explicit indices into the stored layouts. */
function matmulReference(a: readonly number[], b: readonly number[], p: Problem): number[] {
  const { batchA, batchB, m, k, n, transA, transB } = p;
  const batch = batchA === 1 ? batchB : batchA;
  const out: number[] = [];
  for (let t = 0; t < batch; t++) {
    const ta = batchA === 1 ? 0 : t;
    const tb = batchB === 1 ? 0 : t;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let sum = 0;
        for (let q = 0; q < k; q++) {
          const aij = transA ? a[(ta * k + q) * m + i] : a[(ta * m + i) * k + q];
          const bij = transB ? b[(tb * n + j) * k + q] : b[(tb * k + q) * n + j];
          sum += aij * bij;
        }
        out.push(sum);
      }
    }
  }
  return out;
}

function check(p: Problem, dtype: TestDType, seed: number): void {
  const { aShape, bShape } = shapesOf(p);
  const aData = stored(randomData(aShape[0] * aShape[1] * aShape[2], seed), dtype);
  const bData = stored(randomData(bShape[0] * bShape[1] * bShape[2], seed + 1), dtype);
  const a = cpu.fromData(aData, aShape, dtype);
  const b = cpu.fromData(bData, bShape, dtype);
  const c = cpu.matmul(a, aShape, b, bShape, p.transA, p.transB, dtype);
  expect(c).toBeInstanceOf(dtype === 'float64' ? Float64Array : Float32Array);
  expectClose(c, matmulReference(aData, bData, p), dtype);
  expect(Array.from(a)).toEqual(aData);
  expect(Array.from(b)).toEqual(bData);
}

const TRANSPOSES: [boolean, boolean][] = [
  [false, false],
  [true, false],
  [false, true],
  [true, true],
];

describe('matmul', () => {
  for (const dtype of FLOAT_DTYPES) {
    for (const [transA, transB] of TRANSPOSES) {
      const flags = `${transA ? 'T' : 'N'}${transB ? 'T' : 'N'}`;

      it(`${flags} (${dtype}): every m, k, n in {1, 3, 17, 65}`, () => {
        const sizes = [1, 3, 17, 65];
        let seed = 0;
        for (const m of sizes) for (const k of sizes) for (const n of sizes) {
          check({ batchA: 1, batchB: 1, m, k, n, transA, transB }, dtype, seed++);
        }
      });

      it(`${flags} (${dtype}): equal and broadcast batches`, () => {
        for (const [batchA, batchB] of [[3, 3], [1, 3], [3, 1], [1, 1]]) {
          check({ batchA, batchB, m: 5, k: 7, n: 6, transA, transB }, dtype, batchA * 10 + batchB);
          check({ batchA, batchB, m: 17, k: 3, n: 65, transA, transB }, dtype, batchA * 10 + batchB + 1);
        }
      });

      it(`${flags} (${dtype}): crosses every cache block edge`, () => {
        check({ batchA: 2, batchB: 1, m: 70, k: 300, n: 520, transA, transB }, dtype, 99);
      });
    }
  }

  it('handles size-0 dimensions', () => {
    for (const [batchA, batchB, m, k, n] of [
      [1, 1, 0, 3, 4],
      [1, 1, 3, 3, 0],
      [2, 2, 0, 0, 0],
      [0, 0, 2, 3, 4],
      [0, 1, 2, 3, 4],
      [1, 0, 2, 3, 4],
    ]) {
      for (const [transA, transB] of TRANSPOSES) {
        check({ batchA, batchB, m, k, n, transA, transB }, 'float64', 1);
      }
    }
  });

  it('gives zeros for an empty inner dimension', () => {
    const a = cpu.full([1, 2, 0], 0, 'float32');
    const b = cpu.full([1, 0, 3], 0, 'float32');
    const c = cpu.matmul(a, [1, 2, 0], b, [1, 0, 3], false, false, 'float32');
    expect(Array.from(c)).toEqual([0, 0, 0, 0, 0, 0]);
  });

  it('multiplies int32 matrices exactly', () => {
    const a = cpu.fromData([1, 2, 3, 4, 5, 6], [1, 2, 3], 'int32');
    const b = cpu.fromData([7, 8, 9, 10, 11, 12], [1, 3, 2], 'int32');
    const c = cpu.matmul(a, [1, 2, 3], b, [1, 3, 2], false, false, 'int32');
    expect(c).toBeInstanceOf(Int32Array);
    expect(Array.from(c)).toEqual([58, 64, 139, 154]);
  });

  it('propagates NaN and Infinity only into the affected entries', () => {
    const a = cpu.fromData([NaN, 0, 1, 2], [1, 2, 2], 'float64');
    const b = cpu.fromData([1, 2, 3, Infinity], [1, 2, 2], 'float64');
    const c = cpu.matmul(a, [1, 2, 2], b, [1, 2, 2], false, false, 'float64');
    expect(Array.from(c)).toEqual([NaN, NaN, 7, Infinity]);
  });

  it('gives the same result when called repeatedly (pack buffers are reused)', () => {
    const p: Problem = { batchA: 1, batchB: 1, m: 9, k: 9, n: 9, transA: false, transB: true };
    check({ ...p, m: 70, k: 300, n: 520 }, 'float64', 3);
    check(p, 'float64', 4);
    check(p, 'float32', 5);
  });
});
