/**
 * The window kernels against a brute force written here (explicit loops over
 * every window position and kernel offset), independent of backend-cpu's
 * run-based walk, with every kernel ORT has a graph for sent to ORT
 * (`minElements: 0`): fold on ORT's Col2Im (float32), argmax on ArgMax, the
 * convolutions on Conv and ConvTranspose, and the TypeScript paths that
 * remain (unfold, float64 fold, 3-d dilated fold).
 */
import { Generator, sizeOf, windowOutputSize, type FloatDType, type WindowGeometry } from '@backpack-ts/core';
import { afterAll, describe, expect, it } from 'vitest';
import { OrtBackend } from '../src/index.js';

const geometry = (kernel: number[], stride: number[], padding: number[], dilation: number[]): WindowGeometry => ({ kernel, stride, padding, dilation });

/** Row-major multi-index of `flat` in `dims`. */
function unravel(flat: number, dims: readonly number[]): number[] {
  const index = new Array<number>(dims.length);
  for (let d = dims.length - 1; d >= 0; d--) {
    index[d] = flat % dims[d]!;
    flat = Math.floor(flat / dims[d]!);
  }
  return index;
}

/**
 * Calls `visit(plane, row, column, source)` for every entry of the unfolded
 * `[N, C * K, L]`: plane n * C + c, row c * K + k, column l, and the flat
 * index of the input element it reads, or -1 in the padding.
 */
function eachTap(shape: readonly number[], w: WindowGeometry, visit: (n: number, row: number, l: number, source: number) => void): void {
  const [n, c, ...spatial] = shape as [number, number, ...number[]];
  const out = windowOutputSize(spatial, w);
  const k = sizeOf(w.kernel);
  for (let i = 0; i < n; i++) {
    for (let ch = 0; ch < c; ch++) {
      for (let kk = 0; kk < k; kk++) {
        const offset = unravel(kk, w.kernel);
        for (let l = 0; l < sizeOf(out); l++) {
          const at = unravel(l, out);
          let source = (i * c + ch) * sizeOf(spatial);
          let inside = true;
          let stride = sizeOf(spatial);
          for (let d = 0; d < spatial.length; d++) {
            const coordinate = at[d]! * w.stride[d]! + offset[d]! * w.dilation[d]! - w.padding[d]!;
            if (coordinate < 0 || coordinate >= spatial[d]!) inside = false;
            stride /= spatial[d]!;
            source += coordinate * stride;
          }
          visit(i, ch * k + kk, l, inside ? source : -1);
        }
      }
    }
  }
}

function bruteUnfold(x: ArrayLike<number>, shape: readonly number[], w: WindowGeometry): Float64Array {
  const [, c, ...spatial] = shape as [number, number, ...number[]];
  const rows = c * sizeOf(w.kernel);
  const l = sizeOf(windowOutputSize(spatial, w));
  const out = new Float64Array(shape[0]! * rows * l);
  eachTap(shape, w, (n, row, column, source) => {
    out[(n * rows + row) * l + column] = source < 0 ? 0 : x[source]!;
  });
  return out;
}

function bruteFold(cols: ArrayLike<number>, shape: readonly number[], w: WindowGeometry): Float64Array {
  const [, c, ...spatial] = shape as [number, number, ...number[]];
  const rows = c * sizeOf(w.kernel);
  const l = sizeOf(windowOutputSize(spatial, w));
  const out = new Float64Array(sizeOf(shape));
  eachTap(shape, w, (n, row, column, source) => {
    if (source >= 0) out[source] += cols[(n * rows + row) * l + column]!;
  });
  return out;
}

/** First index of the largest element along `axis`; NaN is the largest (the first NaN wins). */
function bruteArgmax(x: ArrayLike<number>, shape: readonly number[], axis: number): Int32Array {
  const outer = sizeOf(shape.slice(0, axis));
  const length = shape[axis]!;
  const inner = sizeOf(shape.slice(axis + 1));
  const out = new Int32Array(outer * inner);
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < inner; j++) {
      let best = 0;
      for (let i = 1; i < length; i++) {
        const v = x[(o * length + i) * inner + j]!;
        const b = x[(o * length + best) * inner + j]!;
        if (Number.isNaN(b)) break;
        if (Number.isNaN(v) || v > b) best = i;
      }
      out[o * inner + j] = best;
    }
  }
  return out;
}

const g = new Generator(11);
const normal = (n: number) => Float64Array.from({ length: n }, () => g.nextUniform() * 2 - 1);

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, dtype: FloatDType, label: string): void {
  expect(actual.length, label).toBe(expected.length);
  const tolerance = dtype === 'float32' ? 1e-5 : 1e-12;
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i]!;
    const a = actual[i]!;
    if (Number.isNaN(e) || !Number.isFinite(e)) {
      expect(Object.is(a, e) || (Number.isNaN(a) && Number.isNaN(e)), `${label} [${i}]: ${a} vs ${e}`).toBe(true);
    } else if (!(Math.abs(a - e) <= tolerance * Math.max(1, Math.abs(e)))) {
      expect.fail(`${label} [${i}]: ${a} vs ${e}`);
    }
  }
}

interface Case {
  readonly name: string;
  readonly shape: readonly number[];
  readonly window: WindowGeometry;
  /** Whether float32 fold runs on ORT (else TypeScript, see `foldOnOrt`). */
  readonly foldOnOrt: boolean;
}

const CASES: readonly Case[] = [
  { name: '1-d, stride 2, padding 1', shape: [2, 3, 11], window: geometry([3], [2], [1], [1]), foldOnOrt: true },
  { name: '1-d, stride 2, padding 2, dilation 2', shape: [3, 2, 17], window: geometry([3], [2], [2], [2]), foldOnOrt: true },
  { name: '1-d, stride 3 > kernel (uncovered tail)', shape: [1, 2, 9], window: geometry([2], [3], [0], [1]), foldOnOrt: true },
  { name: '2-d, mixed stride, padding, dilation', shape: [2, 3, 10, 9], window: geometry([3, 2], [2, 1], [1, 0], [1, 2]), foldOnOrt: true },
  { name: '2-d, dilation 2x3, padding 0x1, stride 1x2', shape: [1, 4, 8, 8], window: geometry([2, 2], [1, 2], [0, 1], [2, 3]), foldOnOrt: true },
  { name: '2-d, padding wider than the kernel', shape: [2, 2, 3, 3], window: geometry([2, 2], [3, 2], [2, 2], [1, 1]), foldOnOrt: true },
  { name: '2-d, the cnn benchmark conv (3x3, padding 1)', shape: [4, 16, 14, 14], window: geometry([3, 3], [1, 1], [1, 1], [1, 1]), foldOnOrt: true },
  { name: '2-d, the cnn benchmark pool (2x2, stride 2)', shape: [4, 16, 14, 14], window: geometry([2, 2], [2, 2], [0, 0], [1, 1]), foldOnOrt: true },
  { name: '3-d, stride and padding', shape: [2, 3, 6, 5, 4], window: geometry([2, 3, 2], [2, 1, 1], [1, 1, 0], [1, 1, 1]), foldOnOrt: true },
  { name: '3-d, dilation (fold in TypeScript)', shape: [2, 2, 7, 8, 5], window: geometry([2, 3, 2], [1, 2, 1], [1, 0, 1], [2, 1, 2]), foldOnOrt: false },
];

describe.each(['float32', 'float64'] as const)('window kernels on ORT against a brute force, %s', (dtype) => {
  const backend = new OrtBackend({ minElements: 0 });
  afterAll(() => backend.release());
  const round = (data: Float64Array) => (dtype === 'float32' ? data.map(Math.fround) : data);

  for (const { name, shape, window, foldOnOrt } of CASES) {
    const [n, c, ...spatial] = shape as [number, number, ...number[]];
    const colsShape = [n, c * sizeOf(window.kernel), sizeOf(windowOutputSize(spatial, window))];

    it(`unfold and fold: ${name}`, () => {
      const live = backend.liveCount();
      const before = { ...backend.stats().kernels };
      const xData = round(normal(sizeOf(shape)));
      const colsData = round(normal(sizeOf(colsShape)));
      const x = backend.fromData(xData, shape, dtype);
      const cols = backend.fromData(colsData, colsShape, dtype);
      const unfolded = backend.unfold(x, shape, window, dtype);
      const folded = backend.fold(cols, colsShape, spatial, window, dtype);
      expectClose(backend.read(unfolded, colsShape, dtype), bruteUnfold(xData, shape, window), dtype, 'unfold');
      expectClose(backend.read(folded, shape, dtype), bruteFold(colsData, shape, window), dtype, 'fold');
      const kernels = backend.stats().kernels;
      const ran = (key: string) => (kernels[key] ?? 0) - (before[key] ?? 0);
      const where = dtype === 'float32' && foldOnOrt ? 'ort' : 'ts';
      expect(ran(`fold:${where}`)).toBe(1);
      expect(ran('unfold:ts')).toBe(1);

      // The adjoint identity <fold(c), x> = <c, unfold(x)>, with the backend's own results.
      const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => {
        let s = 0;
        for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
        return s;
      };
      const left = dot(backend.read(folded, shape, dtype), xData);
      const right = dot(colsData, backend.read(unfolded, colsShape, dtype));
      const scale = dot(colsData.map(Math.abs), bruteUnfold(xData.map(Math.abs), shape, window));
      expect(Math.abs(left - right)).toBeLessThanOrEqual((dtype === 'float32' ? 1e-5 : 1e-12) * Math.max(1, scale));

      for (const h of [x, cols, unfolded, folded]) backend.dispose(h);
      expect(backend.liveCount()).toBe(live);
    });
  }

  it('fold puts a NaN or an infinity only where its entry belongs', () => {
    const { shape, window } = CASES[3]!;
    const [n, c, ...spatial] = shape as [number, number, ...number[]];
    const colsShape = [n, c * sizeOf(window.kernel), sizeOf(windowOutputSize(spatial, window))];
    const colsData = round(normal(sizeOf(colsShape)));
    colsData[7] = Number.NaN;
    colsData[colsData.length - 40] = Number.POSITIVE_INFINITY;
    colsData[colsData.length / 2] = Number.NEGATIVE_INFINITY;
    const cols = backend.fromData(colsData, colsShape, dtype);
    const folded = backend.fold(cols, colsShape, spatial, window, dtype);
    expectClose(backend.read(folded, shape, dtype), bruteFold(colsData, shape, window), dtype, 'fold');
    backend.dispose(cols);
    backend.dispose(folded);
  });

  const argmaxes: [number[], number][] = [
    [[4, 5], 1],
    [[4, 5], 0],
    [[3, 4, 6], 1],
    [[2, 3, 4, 5], 2],
    [[6, 1, 3], 1],
    [[7], 0],
    [[16, 8, 4, 9], 2],
  ];
  for (const [shape, axis] of argmaxes) {
    it(`argmax of ${JSON.stringify(shape)} along ${axis}: the first maximum, NaN the largest`, () => {
      const live = backend.liveCount();
      const outShape = shape.filter((_, d) => d !== axis);
      // Few distinct values, so many ties; then NaN in some lanes (one lane with two), and infinities.
      const data = Float64Array.from({ length: sizeOf(shape) }, () => Math.floor(g.nextUniform() * 3));
      const withNaN = data.slice();
      for (const i of [0, 5, 6, data.length - 1]) if (i < data.length) withNaN[i] = Number.NaN;
      if (data.length > 3) withNaN[3] = Number.POSITIVE_INFINITY;
      if (data.length > 9) withNaN[9] = Number.NEGATIVE_INFINITY;
      for (const values of [data, withNaN]) {
        const x = backend.fromData(values, shape, dtype);
        const before = backend.stats().kernels['argmax:ort'] ?? 0;
        const result = backend.argmax(x, shape, axis, dtype);
        expect(backend.stats().kernels['argmax:ort']).toBe(before + 1);
        const read = backend.read(result, outShape, 'int32');
        expect(read).toBeInstanceOf(Int32Array);
        expect(Array.from(read)).toEqual(Array.from(bruteArgmax(values, shape, axis)));
        backend.dispose(x);
        backend.dispose(result);
      }
      expect(backend.liveCount()).toBe(live);
    });
  }
});

/** Max pooling by brute force: every window's maximum over its taps inside the input, and its first position (kernel offset). */
function bruteMaxPool(x: ArrayLike<number>, shape: readonly number[], w: WindowGeometry): { values: Float64Array; argmax: Int32Array } {
  const [n, c, ...spatial] = shape as [number, number, ...number[]];
  const l = sizeOf(windowOutputSize(spatial, w));
  const k = sizeOf(w.kernel);
  const values = new Float64Array(n * c * l).fill(Number.NEGATIVE_INFINITY);
  const argmax = new Int32Array(n * c * l).fill(-1);
  eachTap(shape, w, (i, row, column, source) => {
    const plane = i * c + Math.floor(row / k);
    const at = plane * l + column;
    if (source >= 0 && (argmax[at] === -1 || x[source]! > values[at]!)) {
      values[at] = x[source]!;
      argmax[at] = row % k;
    }
  });
  return { values, argmax };
}

/** The transpose of max pooling by brute force: `mat` `[V, N·C·L]` added where each window's `argmax` points. */
function bruteMaxPoolTranspose(mat: ArrayLike<number>, v: number, argmax: ArrayLike<number>, shape: readonly number[], w: WindowGeometry): Float64Array {
  const [, c, ...spatial] = shape as [number, number, ...number[]];
  const l = sizeOf(windowOutputSize(spatial, w));
  const k = sizeOf(w.kernel);
  const size = sizeOf(shape);
  const windows = argmax.length;
  const out = new Float64Array(v * size);
  eachTap(shape, w, (i, row, column, source) => {
    const at = (i * c + Math.floor(row / k)) * l + column;
    if (source >= 0 && argmax[at] === row % k) for (let j = 0; j < v; j++) out[j * size + source] += mat[j * windows + at]!;
  });
  return out;
}

/** Windows that tile the input (run on ORT), with and without a tail beyond the last whole window. */
const TILING_POOLS: readonly { name: string; shape: number[]; window: WindowGeometry }[] = [
  { name: '2-d, the cnn benchmark pool (2x2, stride 2)', shape: [4, 16, 14, 14], window: geometry([2, 2], [2, 2], [0, 0], [1, 1]) },
  { name: '2-d, 2x2, odd height (tail sliced off)', shape: [4, 16, 15, 14], window: geometry([2, 2], [2, 2], [0, 0], [1, 1]) },
  { name: '1-d, kernel 3 (tail sliced off)', shape: [2, 3, 11], window: geometry([3], [3], [0], [1]) },
  { name: '3-d, 2x3x2 (tails sliced off)', shape: [2, 2, 5, 7, 4], window: geometry([2, 3, 2], [2, 3, 2], [0, 0, 0], [1, 1, 1]) },
];

/** Other windows: overlapping, padded, dilated (core's path). */
const OTHER_POOLS: readonly { name: string; shape: number[]; window: WindowGeometry }[] = [
  { name: '1-d, kernel 3, stride 2, padding 1', shape: [2, 3, 11], window: geometry([3], [2], [1], [1]) },
  { name: '2-d, kernel 2, stride 2, dilation 2', shape: [2, 3, 10, 9], window: geometry([2, 2], [2, 2], [0, 0], [2, 2]) },
];

describe.each(['float32', 'float64'] as const)('maxPool on ORT against a brute force, %s', (dtype) => {
  const backend = new OrtBackend({ minElements: 0 });
  afterAll(() => backend.release());

  for (const { name, shape, window } of TILING_POOLS) {
    it(`${name}: maxima and first positions, with ties and -Infinity; NaN falls back`, () => {
      const live = backend.liveCount();
      const [n, c, ...spatial] = shape as [number, number, ...number[]];
      const outSize = n * c * sizeOf(windowOutputSize(spatial, window));
      // Few distinct values (many ties, as after a ReLU), all exact in float32; a block of -Infinity.
      const data = Float64Array.from({ length: sizeOf(shape) }, () => Math.floor(g.nextUniform() * 4) - 1);
      data.fill(Number.NEGATIVE_INFINITY, 0, 2 * sizeOf(window.kernel));
      const before = backend.stats().kernels['maxPool:ort'] ?? 0;
      const x = backend.fromData(data, shape, dtype);
      const result = backend.maxPool(x, shape, window, dtype)!;
      expect(backend.stats().kernels['maxPool:ort']).toBe(before + 1);
      const expected = bruteMaxPool(data, shape, window);
      expect(Array.from(backend.read(result.values, [outSize], dtype))).toEqual(Array.from(expected.values));
      const argmax = backend.read(result.argmax, [outSize], 'int32');
      expect(argmax).toBeInstanceOf(Int32Array);
      expect(Array.from(argmax)).toEqual(Array.from(expected.argmax));
      // The transpose, for V = 2 vectors, routed through the positions just computed.
      const matData = normal(2 * outSize);
      const mat = backend.fromData(matData, [2, n, c, outSize / (n * c)], dtype);
      const routed = backend.maxPoolTranspose(mat, [2, n, c, outSize / (n * c)], result.argmax, spatial, window, dtype)!;
      expect(backend.stats().kernels['maxPoolTranspose:ort']).toBeGreaterThan(0);
      expectClose(backend.read(routed, [2, ...shape], dtype), bruteMaxPoolTranspose(matData, 2, argmax, shape, window), dtype, 'maxPoolTranspose');
      backend.dispose(mat);
      backend.dispose(routed);
      const withNaN = data.slice();
      withNaN[data.length - 3] = Number.NaN;
      const y = backend.fromData(withNaN, shape, dtype);
      expect(backend.maxPool(y, shape, window, dtype)).toBeUndefined();
      for (const h of [x, y, result.values, result.argmax]) backend.dispose(h);
      expect(backend.liveCount()).toBe(live);
    });
  }

  for (const { name, shape, window } of OTHER_POOLS) {
    it(`${name}: left to core (undefined)`, () => {
      const x = backend.fromData(normal(sizeOf(shape)), shape, dtype);
      expect(backend.maxPool(x, shape, window, dtype)).toBeUndefined();
      const [n, c, ...spatial] = shape as [number, number, ...number[]];
      const matShape = [1, n, c, sizeOf(windowOutputSize(spatial, window))];
      const mat = backend.full(matShape, 1, dtype);
      const argmax = backend.full(matShape.slice(1), 0, 'int32');
      expect(backend.maxPoolTranspose(mat, matShape, argmax, spatial, window, dtype)).toBeUndefined();
      for (const h of [x, mat, argmax]) backend.dispose(h);
    });
  }
});

/** `[N, O, ...out]`: `bias[o] + Σ_{c in o's group} Σ_k weight[o, c', k] x[n, c, tap]`, from every tap of the window. */
function bruteConv(x: ArrayLike<number>, shape: readonly number[], weight: ArrayLike<number>, weightShape: readonly number[], bias: ArrayLike<number>, w: WindowGeometry, groups: number): Float64Array {
  const [n, c, ...spatial] = shape as [number, number, ...number[]];
  const [o, cg] = weightShape as [number, number];
  const [k, l] = [sizeOf(w.kernel), sizeOf(windowOutputSize(spatial, w))];
  const out = new Float64Array(n * o * l);
  for (let i = 0; i < n * o; i++) out.fill(bias[i % o]!, i * l, (i + 1) * l);
  eachTap(shape, w, (sample, row, column, source) => {
    if (source < 0) return;
    const [channel, tap] = [Math.floor(row / k), row % k];
    const group = Math.floor(channel / cg);
    for (let oo = group * (o / groups); oo < (group + 1) * (o / groups); oo++) {
      out[(sample * o + oo) * l + column] += weight[(oo * cg + (channel - group * cg)) * k + tap]! * x[source]!;
    }
  });
  return out;
}

/** The input gradient `[B, C, ...spatial]` of {@link bruteConv} for `mat` `[B, O, ...out]`. */
function bruteConvTranspose(mat: ArrayLike<number>, shape: readonly number[], weight: ArrayLike<number>, weightShape: readonly number[], w: WindowGeometry, groups: number): Float64Array {
  const [, , ...spatial] = shape as [number, number, ...number[]];
  const [o, cg] = weightShape as [number, number];
  const [k, l] = [sizeOf(w.kernel), sizeOf(windowOutputSize(spatial, w))];
  const out = new Float64Array(sizeOf(shape));
  eachTap(shape, w, (sample, row, column, source) => {
    if (source < 0) return;
    const [channel, tap] = [Math.floor(row / k), row % k];
    const group = Math.floor(channel / cg);
    for (let oo = group * (o / groups); oo < (group + 1) * (o / groups); oo++) {
      out[source] += weight[(oo * cg + (channel - group * cg)) * k + tap]! * mat[(sample * o + oo) * l + column]!;
    }
  });
  return out;
}

/** The weight gradient `[V, O, C/G, ...kernel]` of {@link bruteConv} for `mat` `[V, N, O, ...out]`, summed over the batch. */
function bruteConvWeightGrad(x: ArrayLike<number>, shape: readonly number[], mat: ArrayLike<number>, vectors: number, o: number, w: WindowGeometry, groups: number): Float64Array {
  const [n, c, ...spatial] = shape as [number, number, ...number[]];
  const cg = c / groups;
  const [k, l] = [sizeOf(w.kernel), sizeOf(windowOutputSize(spatial, w))];
  const out = new Float64Array(vectors * o * cg * k);
  eachTap(shape, w, (sample, row, column, source) => {
    if (source < 0) return;
    const [channel, tap] = [Math.floor(row / k), row % k];
    const group = Math.floor(channel / cg);
    for (let v = 0; v < vectors; v++) {
      for (let oo = group * (o / groups); oo < (group + 1) * (o / groups); oo++) {
        out[((v * o + oo) * cg + (channel - group * cg)) * k + tap] += mat[((v * n + sample) * o + oo) * l + column]! * x[source]!;
      }
    }
  });
  return out;
}

const CONVOLUTIONS: readonly { name: string; shape: number[]; outChannels: number; groups: number; window: WindowGeometry }[] = [
  { name: '1-d, stride 2 with a tail, padding 1, 2 groups', shape: [3, 4, 12], outChannels: 6, groups: 2, window: geometry([3], [2], [1], [1]) },
  { name: '2-d, stride [2, 1], padding [1, 2], dilation [1, 2]', shape: [2, 3, 9, 8], outChannels: 5, groups: 1, window: geometry([3, 2], [2, 1], [1, 2], [1, 2]) },
  { name: '2-d depthwise, stride 2, dilation 2', shape: [2, 4, 11, 10], outChannels: 8, groups: 4, window: geometry([3, 3], [2, 2], [0, 1], [2, 2]) },
  { name: '3-d, stride [1, 2, 3], padding [1, 0, 1], dilation [2, 1, 1]', shape: [2, 2, 6, 5, 7], outChannels: 3, groups: 1, window: geometry([2, 3, 2], [1, 2, 3], [1, 0, 1], [2, 1, 1]) },
];

describe('convolutions on ORT against a brute force', () => {
  const backend = new OrtBackend({ minElements: 0, minMatmulMacs: 0 });
  afterAll(() => backend.release());

  for (const { name, shape, outChannels, groups, window } of CONVOLUTIONS) {
    it(`${name}: conv with bias, its input and weight gradients (2 vectors) in float32`, () => {
      const live = backend.liveCount();
      const [n, c, ...spatial] = shape as [number, number, ...number[]];
      const outSpatial = windowOutputSize(spatial, window);
      const weightShape = [outChannels, c / groups, ...window.kernel];
      const outShape = [n, outChannels, ...outSpatial];
      const [xData, wData, bData, matData] = [normal(sizeOf(shape)), normal(sizeOf(weightShape)), normal(outChannels), normal(2 * sizeOf(outShape))];
      const x = backend.fromData(xData, shape, 'float32');
      const weight = backend.fromData(wData, weightShape, 'float32');
      const bias = backend.fromData(bData, [outChannels], 'float32');
      const mat = backend.fromData(matData, [2, ...outShape], 'float32');
      const matFlat = backend.reshape(mat, [2, ...outShape], [2 * n, outChannels, ...outSpatial], 'float32');
      const y = backend.conv(x, shape, weight, weightShape, bias, window, groups, 'float32')!;
      expectClose(backend.read(y, outShape, 'float32'), bruteConv(xData, shape, wData, weightShape, bData, window, groups), 'float32', 'conv');
      const dx = backend.convTranspose(matFlat, [2 * n, outChannels, ...outSpatial], weight, weightShape, spatial, window, groups, 'float32')!;
      expectClose(backend.read(dx, [2 * n, c, ...spatial], 'float32'), bruteConvTranspose(matData, [2 * n, c, ...spatial], wData, weightShape, window, groups), 'float32', 'convTranspose');
      const dw = backend.convWeightGrad(x, shape, mat, [2, ...outShape], window, groups, 'float32')!;
      expectClose(backend.read(dw, [2, ...weightShape], 'float32'), bruteConvWeightGrad(xData, shape, matData, 2, outChannels, window, groups), 'float32', 'convWeightGrad');
      expect(backend.stats().kernels).toMatchObject({ 'conv:ort': expect.any(Number), 'convTranspose:ort': expect.any(Number), 'convWeightGrad:ort': expect.any(Number) });
      for (const h of [x, weight, bias, mat, matFlat, y, dx, dw]) backend.dispose(h);
      expect(backend.liveCount()).toBe(live);
    });
  }

  it('leaves float64, and every convolution of a backend built with `convolutions: false`, to core (undefined)', () => {
    const { shape, outChannels, window } = CONVOLUTIONS[1]!;
    const without = new OrtBackend({ minElements: 0, minMatmulMacs: 0, convolutions: false });
    const weightShape = [outChannels, shape[1]!, ...window.kernel];
    const outShape = [shape[0]!, outChannels, ...windowOutputSize(shape.slice(2), window)];
    for (const [b, dtype] of [[backend, 'float64'], [without, 'float32']] as const) {
      const x = b.fromData(normal(sizeOf(shape)), shape, dtype);
      const weight = b.fromData(normal(sizeOf(weightShape)), weightShape, dtype);
      const mat = b.full([1, ...outShape], 1, dtype);
      expect(b.conv(x, shape, weight, weightShape, undefined, window, 1, dtype)).toBeUndefined();
      expect(b.convTranspose(mat, outShape, weight, weightShape, shape.slice(2), window, 1, dtype)).toBeUndefined();
      expect(b.convWeightGrad(x, shape, mat, [1, ...outShape], window, 1, dtype)).toBeUndefined();
      for (const h of [x, weight, mat]) b.dispose(h);
    }
    expect(backend.stats().sessions.unsupported.size).toBe(0);
  });
});

describe('window kernel routing', () => {
  it('sends big float32 folds and big argmaxes to ORT and small ones to TypeScript', () => {
    const backend = new OrtBackend();
    const window = geometry([3, 3], [1, 1], [1, 1], [1, 1]);
    for (const [n, c, size, where] of [[1, 1, 6, 'ts'], [8, 16, 14, 'ort']] as const) {
      const shape = [n, c, size, size];
      const colsShape = [n, c * 9, size * size];
      const cols = backend.full(colsShape, 1, 'float32');
      const folded = backend.fold(cols, colsShape, [size, size], window, 'float32');
      // Interior elements are covered by all 9 taps, corners by 4; the first interior one is (1, 1).
      const read = backend.read(folded, shape, 'float32');
      expect([read[0], read[size + 1]]).toEqual([4, 9]);
      const x = backend.fromData(read, shape, 'float32');
      const index = backend.argmax(x, [n, c * size * size], 1, 'float32');
      expect(backend.read(index, [n], 'int32')[0]).toBe(size + 1);
      expect(backend.stats().kernels[`fold:${where}`]).toBe(1);
      expect(backend.stats().kernels[`argmax:${where}`]).toBe(1);
      for (const h of [cols, folded, x, index]) backend.dispose(h);
    }
    expect(backend.liveCount()).toBe(0);
    expect(backend.stats().sessions.unsupported.size).toBe(0);
    backend.release();
  });

  it('runs int32 argmax on ORT too', () => {
    const backend = new OrtBackend({ minElements: 0 });
    const x = backend.fromData([3, 7, 7, -2, 0, 0], [2, 3], 'int32');
    const result = backend.argmax(x, [2, 3], 1, 'int32');
    expect(Array.from(backend.read(result, [2], 'int32'))).toEqual([1, 1]);
    expect(backend.stats().kernels).toMatchObject({ 'argmax:ort': 1 });
    expect(backend.stats().sessions.unsupported.size).toBe(0);
  });
});
