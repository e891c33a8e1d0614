import { sizeOf, type WindowGeometry } from '@backpack-ts/core';
import { describe, expect, it } from 'vitest';
import { cpu } from '../src/index.js';
import { allIndices, expectClose, FLOAT_DTYPES, flatIndex, randomData, stored } from './reference.js';

interface Case {
  readonly name: string;
  readonly shape: readonly number[];
  readonly window: WindowGeometry;
}

function geometry(kernel: number[], stride: number[], padding: number[], dilation: number[]): WindowGeometry {
  return { kernel, stride, padding, dilation };
}

const CASES: readonly Case[] = [
  { name: '1-d, stride 2, padding 1', shape: [2, 3, 7], window: geometry([3], [2], [1], [1]) },
  { name: '1-d, dilation 3', shape: [1, 2, 9], window: geometry([2], [1], [0], [3]) },
  { name: '1-d, stride 3, padding 2, dilation 2', shape: [2, 1, 8], window: geometry([3], [3], [2], [2]) },
  { name: '2-d, non-square kernel, mixed stride/padding/dilation', shape: [2, 3, 5, 7], window: geometry([3, 2], [2, 1], [1, 0], [1, 2]) },
  { name: '2-d, 1x1 kernel (identity)', shape: [1, 2, 4, 3], window: geometry([1, 1], [1, 1], [0, 0], [1, 1]) },
  { name: '2-d, 1x1 kernel, stride 2, padding 1', shape: [1, 2, 5, 4], window: geometry([1, 1], [2, 2], [1, 1], [1, 1]) },
  { name: '2-d, size-1 spatial dim', shape: [3, 2, 1, 6], window: geometry([1, 3], [1, 2], [0, 1], [1, 1]) },
  { name: '2-d, padding wider than kernel (rows all padding)', shape: [1, 2, 3, 3], window: geometry([2, 2], [3, 2], [2, 2], [1, 1]) },
  { name: '2-d, kernel covers the input (one position)', shape: [2, 1, 5, 5], window: geometry([5, 5], [1, 1], [0, 0], [1, 1]) },
  { name: '2-d, odd sizes, stride 2, padding 1, 3x3', shape: [2, 3, 7, 9], window: geometry([3, 3], [2, 2], [1, 1], [1, 1]) },
  { name: '3-d, mixed', shape: [2, 2, 4, 5, 3], window: geometry([2, 3, 2], [1, 2, 1], [1, 0, 1], [2, 1, 1]) },
  { name: '3-d, stride 2 everywhere', shape: [1, 3, 5, 5, 5], window: geometry([3, 1, 2], [2, 2, 2], [1, 0, 1], [1, 1, 1]) },
  { name: '4-d spatial', shape: [1, 2, 3, 4, 3, 2], window: geometry([2, 2, 1, 2], [1, 2, 1, 1], [0, 1, 0, 1], [1, 1, 2, 1]) },
];

/** Window positions along one dimension, straight from the definition. */
function outSize(size: number, k: number, s: number, p: number, d: number): number {
  return Math.floor((size + 2 * p - d * (k - 1) - 1) / s) + 1;
}

/**
 * Brute force: for every (n, c, kernel offset, window position) compute the
 * input index it taps and read it (0 in the padding). `visit` gets the
 * unfolded flat index and the input flat index (or -1).
 */
function forEachTap(
  shape: readonly number[],
  w: WindowGeometry,
  visit: (colsIndex: number, inputIndex: number) => void,
): { colsShape: number[] } {
  const [n, c] = shape;
  const spatial = shape.slice(2);
  const out = spatial.map((size, d) => outSize(size, w.kernel[d], w.stride[d], w.padding[d], w.dilation[d]));
  const K = sizeOf(w.kernel);
  const L = sizeOf(out);
  const colsShape = [n, c * K, L];
  for (const [b, ch] of allIndices([n, c])) {
    for (const kk of allIndices(w.kernel)) {
      const k = flatIndex(w.kernel, kk);
      for (const oo of allIndices(out)) {
        const at = oo.map((o, d) => o * w.stride[d] + kk[d] * w.dilation[d] - w.padding[d]);
        const inside = at.every((i, d) => i >= 0 && i < spatial[d]);
        const colsIndex = flatIndex(colsShape, [b, ch * K + k, flatIndex(out, oo)]);
        visit(colsIndex, inside ? flatIndex(shape, [b, ch, ...at]) : -1);
      }
    }
  }
  return { colsShape };
}

function unfoldReference(data: readonly number[], shape: readonly number[], w: WindowGeometry) {
  const cols: number[] = [];
  const { colsShape } = forEachTap(shape, w, (ci, xi) => (cols[ci] = xi < 0 ? 0 : data[xi]));
  return { cols, colsShape };
}

function foldReference(cols: readonly number[], shape: readonly number[], w: WindowGeometry): number[] {
  const out = new Array<number>(sizeOf(shape)).fill(0);
  forEachTap(shape, w, (ci, xi) => {
    if (xi >= 0) out[xi] += cols[ci];
  });
  return out;
}

function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i] * b[i];
  return sum;
}

describe('unfold', () => {
  for (const dtype of FLOAT_DTYPES) {
    for (const { name, shape, window } of CASES) {
      it(`${name} ${JSON.stringify(shape)} (${dtype})`, () => {
        const data = stored(randomData(sizeOf(shape), 3), dtype);
        const x = cpu.fromData(data, shape, dtype);
        const { cols, colsShape } = unfoldReference(data, shape, window);
        const y = cpu.unfold(x, shape, window, dtype);
        expect(y).toBeInstanceOf(dtype === 'float64' ? Float64Array : Float32Array);
        expect(y.length).toBe(sizeOf(colsShape));
        // A pure copy: exact in both dtypes.
        expect(Array.from(y)).toEqual(cols);
        expect(Array.from(x)).toEqual(data);
      });

      it(`${name} ${JSON.stringify(shape)} (${dtype}) into a recycled buffer full of garbage`, () => {
        const data = stored(randomData(sizeOf(shape), 4), dtype);
        const { cols, colsShape } = unfoldReference(data, shape, window);
        const out = cpu.full(colsShape, Number.NaN, dtype);
        const y = cpu.unfold(cpu.fromData(data, shape, dtype), shape, window, dtype, out);
        expect(y).toBe(out);
        expect(Array.from(y)).toEqual(cols);
      });
    }
  }

  it('refuses an output buffer of the wrong dtype or length, naming both', () => {
    const w = geometry([2], [1], [0], [1]);
    const x = cpu.fromData([1, 2, 3], [1, 1, 3], 'float32');
    expect(() => cpu.unfold(x, [1, 1, 3], w, 'float32', new Float64Array(4))).toThrow(/unfold.*Float64Array of 4 elements.*4 float32/);
    expect(() => cpu.unfold(x, [1, 1, 3], w, 'float32', new Float32Array(5))).toThrow(/Float32Array of 5 elements.*4 float32/);
  });

  it('handles empty batches and channels', () => {
    const w = geometry([2, 2], [1, 1], [1, 1], [1, 1]);
    expect(cpu.unfold(cpu.full([0, 3, 4, 4], 0, 'float64'), [0, 3, 4, 4], w, 'float64').length).toBe(0);
    expect(cpu.unfold(cpu.full([2, 0, 4, 4], 0, 'float32'), [2, 0, 4, 4], w, 'float32').length).toBe(0);
  });

  it('pads with zeros where the whole input is padding-adjacent', () => {
    // [1, 1, 1] with kernel 3, padding 1: the single element sits in the middle tap.
    const y = cpu.unfold(cpu.fromData([5], [1, 1, 1], 'float64'), [1, 1, 1], geometry([3], [1], [1], [1]), 'float64');
    expect(Array.from(y)).toEqual([0, 5, 0]);
  });
});

describe('fold', () => {
  for (const dtype of FLOAT_DTYPES) {
    for (const { name, shape, window } of CASES) {
      it(`${name} ${JSON.stringify(shape)} (${dtype})`, () => {
        const { colsShape } = unfoldReference(new Array(sizeOf(shape)).fill(0), shape, window);
        const cols = stored(randomData(sizeOf(colsShape), 5), dtype);
        const y = cpu.fold(cpu.fromData(cols, colsShape, dtype), colsShape, shape.slice(2), window, dtype);
        expect(y).toBeInstanceOf(dtype === 'float64' ? Float64Array : Float32Array);
        expectClose(y, stored(foldReference(cols, shape, window), dtype), dtype);
      });

      it(`is the adjoint of unfold: ${name} (${dtype})`, () => {
        const { colsShape } = unfoldReference(new Array(sizeOf(shape)).fill(0), shape, window);
        const xData = stored(randomData(sizeOf(shape), 17), dtype);
        const cData = stored(randomData(sizeOf(colsShape), 19), dtype);
        const ux = cpu.unfold(cpu.fromData(xData, shape, dtype), shape, window, dtype);
        const fc = cpu.fold(cpu.fromData(cData, colsShape, dtype), colsShape, shape.slice(2), window, dtype);
        const lhs = dot(ux, cData);
        const rhs = dot(xData, fc);
        const scale = Math.max(1, Math.sqrt(dot(cData, cData) * dot(xData, xData)));
        expect(Math.abs(lhs - rhs)).toBeLessThanOrEqual((dtype === 'float64' ? 1e-12 : 1e-5) * scale);
      });
    }
  }

  it('counts how often unfold reads each element', () => {
    // 1-d, size 5, kernel 3, stride 1, no padding: counts 1 2 3 2 1.
    const w = geometry([3], [1], [0], [1]);
    const ones = cpu.full([1, 3, 3], 1, 'float32');
    expect(Array.from(cpu.fold(ones, [1, 3, 3], [5], w, 'float32'))).toEqual([1, 2, 3, 2, 1]);
  });

  it('handles empty batches', () => {
    const w = geometry([2], [1], [0], [1]);
    expect(cpu.fold(cpu.full([0, 4, 3], 0, 'float64'), [0, 4, 3], [4], w, 'float64').length).toBe(0);
  });
});

/** Brute force: for every output index, scan its lane for the first maximum (NaN counts as largest). */
function argmaxReference(data: readonly number[], shape: readonly number[], axis: number): number[] {
  const outShape = shape.filter((_, d) => d !== axis);
  return allIndices(outShape).map((index) => {
    let best = 0;
    let bestValue = -Infinity;
    for (let j = 0; j < shape[axis]; j++) {
      const at = [...index.slice(0, axis), j, ...index.slice(axis)];
      const v = data[flatIndex(shape, at)];
      if (Number.isNaN(v)) return j;
      if (j === 0 || v > bestValue) {
        best = j;
        bestValue = v;
      }
    }
    return best;
  });
}

describe('argmax', () => {
  for (const dtype of [...FLOAT_DTYPES, 'int32'] as const) {
    it(`along every axis, first index on ties (${dtype})`, () => {
      for (const shape of [[3, 4, 5], [2, 1, 3, 2], [7], [1, 6]]) {
        // Few distinct values, so ties are common.
        const data = randomData(sizeOf(shape), 23).map((v) => Math.floor(v * 3));
        const x = cpu.fromData(data, shape, dtype);
        for (let axis = 0; axis < shape.length; axis++) {
          const y = cpu.argmax(x, shape, axis, dtype);
          expect(y).toBeInstanceOf(Int32Array);
          expect(Array.from(y)).toEqual(argmaxReference(data, shape, axis));
        }
      }
    });
  }

  for (const dtype of FLOAT_DTYPES) {
    it(`handles -Infinity, Infinity and NaN (${dtype})`, () => {
      const data = [-Infinity, -Infinity, 1, NaN, 2, NaN, 3, Infinity, 3, Infinity];
      const x = cpu.fromData(data, [5, 2], dtype);
      expect(Array.from(cpu.argmax(x, [5, 2], 0, dtype))).toEqual([3, 1]);
      expect(Array.from(cpu.argmax(x, [5, 2], 1, dtype))).toEqual([0, 1, 1, 1, 1]);
      expect(Array.from(cpu.argmax(cpu.fromData([-Infinity, -Infinity], [2], dtype), [2], 0, dtype))).toEqual([0]);
    });

    it(`random data along every axis (${dtype})`, () => {
      const shape = [4, 6, 5];
      const data = stored(randomData(sizeOf(shape), 29), dtype);
      const x = cpu.fromData(data, shape, dtype);
      for (let axis = 0; axis < shape.length; axis++) {
        expect(Array.from(cpu.argmax(x, shape, axis, dtype))).toEqual(argmaxReference(data, shape, axis));
      }
    });
  }

  it('returns an empty result when another axis is empty', () => {
    expect(cpu.argmax(cpu.full([0, 3], 0, 'float64'), [0, 3], 1, 'float64').length).toBe(0);
  });
});
