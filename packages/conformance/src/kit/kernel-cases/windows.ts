/**
 * The sliding-window kernel cases: unfold, fold, max pooling and the
 * convolutions, over geometries with strides, padding, dilation and groups.
 */
import {
  conv,
  convTranspose,
  convWeightGrad,
  formatShape,
  maxPool,
  maxPoolTranspose,
  sizeOf,
  windowOutputSize,
  type Shape,
  type WindowGeometry,
} from '@backpack-ts/core';
import { describeViews, input, type InputView, type KernelCase } from '../kernel-check.js';
import { viaCore } from '../via-core.js';
import { Draw, PERMUTED_3D } from './inputs.js';

interface WindowSpec {
  readonly shape: Shape;
  readonly window: WindowGeometry;
  readonly view?: InputView;
}

const geometry = (kernel: number[], stride: number[], padding: number[], dilation: number[]): WindowGeometry => ({ kernel, stride, padding, dilation });

const WINDOWS: readonly WindowSpec[] = [
  { shape: [2, 3, 10], window: geometry([3], [1], [0], [1]) },
  { shape: [1, 2, 9], window: geometry([2], [2], [1], [2]) },
  { shape: [1, 1, 9], window: geometry([2], [3], [0], [1]) },
  { shape: [2, 3, 6, 5], window: geometry([3, 2], [1, 1], [1, 0], [1, 1]) },
  { shape: [1, 2, 7, 7], window: geometry([3, 3], [2, 2], [1, 1], [1, 1]) },
  { shape: [1, 1, 8, 8], window: geometry([2, 2], [1, 2], [0, 1], [2, 3]) },
  { shape: [1, 2, 4, 5, 3], window: geometry([2, 2, 2], [1, 2, 1], [1, 0, 0], [1, 1, 1]) },
  { shape: [2, 3, 6, 5], window: geometry([3, 2], [1, 2], [1, 1], [1, 1]), view: { kind: 'permuted', perm: [0, 1, 3, 2] } },
  { shape: [8, 16, 20, 20], window: geometry([3, 3], [1, 1], [1, 1], [1, 1]) },
];

/** Max-pooling geometries: windows that tile the input (with and without a tail), overlapping, padded, dilated. */
const MAX_POOLS: readonly WindowSpec[] = [
  { shape: [2, 3, 8, 8], window: geometry([2, 2], [2, 2], [0, 0], [1, 1]) },
  { shape: [2, 2, 7, 9], window: geometry([2, 3], [2, 3], [0, 0], [1, 1]) },
  { shape: [2, 2, 11], window: geometry([3], [2], [1], [1]) },
  { shape: [1, 2, 6, 7], window: geometry([3, 2], [1, 2], [1, 1], [2, 1]) },
  { shape: [1, 2, 4, 4, 6], window: geometry([2, 2, 3], [2, 2, 3], [0, 0, 0], [1, 1, 1]) },
  { shape: [8, 16, 28, 28], window: geometry([2, 2], [2, 2], [0, 0], [1, 1]) },
];

/**
 * Convolutions (any rank, strides with a tail, padding, dilation, groups; with
 * and without a bias) and the rows `vectors` of their transposes' inputs.
 */
const CONVS: readonly (WindowSpec & { readonly weight: Shape; readonly groups: number; readonly bias: boolean; readonly vectors: number })[] = [
  { shape: [2, 4, 11], weight: [6, 2, 3], window: geometry([3], [2], [1], [1]), groups: 2, bias: true, vectors: 1 },
  { shape: [2, 3, 12], weight: [4, 3, 3], window: geometry([3], [1], [2], [2]), groups: 1, bias: false, vectors: 2 },
  { shape: [2, 3, 7, 6], weight: [4, 3, 3, 2], window: geometry([3, 2], [2, 1], [1, 0], [1, 2]), groups: 1, bias: true, vectors: 2 },
  { shape: [1, 4, 8, 8], weight: [6, 2, 3, 3], window: geometry([3, 3], [2, 2], [1, 1], [1, 1]), groups: 2, bias: false, vectors: 3 },
  { shape: [2, 4, 9, 9], weight: [8, 1, 3, 3], window: geometry([3, 3], [2, 1], [0, 2], [2, 2]), groups: 4, bias: true, vectors: 1 },
  { shape: [1, 2, 5, 4, 6], weight: [3, 2, 2, 3, 2], window: geometry([2, 3, 2], [1, 2, 2], [1, 0, 1], [2, 1, 1]), groups: 1, bias: true, vectors: 2 },
  {
    shape: [2, 3, 6, 5],
    weight: [4, 3, 3, 3],
    window: geometry([3, 3], [1, 1], [1, 1], [1, 1]),
    groups: 1,
    bias: false,
    vectors: 1,
    view: { kind: 'permuted', perm: [0, 1, 3, 2] },
  },
  { shape: [8, 16, 20, 20], weight: [8, 16, 3, 3], window: geometry([3, 3], [1, 1], [1, 1], [1, 1]), groups: 1, bias: true, vectors: 1 },
];

function describeWindow(w: WindowGeometry): string {
  return `kernel [${w.kernel.join(', ')}] stride [${w.stride.join(', ')}] padding [${w.padding.join(', ')}] dilation [${w.dilation.join(', ')}]`;
}

export function windowCases(draw: Draw): KernelCase[] {
  const cases: KernelCase[] = [];
  for (const { shape, window, view } of WINDOWS) {
    const [n, c, ...spatial] = shape as [number, number, ...number[]];
    const positions = sizeOf(windowOutputSize(spatial, window));
    const rows = c * sizeOf(window.kernel);
    const colsShape = [n, rows, positions];
    const x = input(shape, draw.normal(sizeOf(shape)), view);
    cases.push({
      family: 'window',
      name: `unfold ${formatShape(shape)} ${describeWindow(window)}${describeViews([x])}`,
      inputs: [x],
      exact: true,
      run: (b, [h], dtype) => ({ handle: b.unfold(h, shape, window, dtype), shape: colsShape, dtype }),
    });
    const cols = input(colsShape, draw.normal(sizeOf(colsShape)));
    cases.push({
      family: 'window',
      name: `fold ${formatShape(colsShape)} to ${formatShape(spatial)} ${describeWindow(window)}`,
      inputs: [cols],
      run: (b, [h], dtype) => ({ handle: b.fold(h, colsShape, spatial, window, dtype), shape, dtype }),
    });
  }
  for (const { shape, window } of MAX_POOLS) {
    const [n, c, ...spatial] = shape as [number, number, ...number[]];
    const outShape = [n, c, ...windowOutputSize(spatial, window)];
    const positions = [n, c, sizeOf(outShape.slice(2))];
    // Few distinct values: ties, whose first position must win.
    const x = input(shape, draw.ints(sizeOf(shape), -1, 3));
    const described = `${formatShape(shape)} ${describeWindow(window)} (ties)`;
    cases.push({
      family: 'window',
      name: `maxPool values ${described}`,
      inputs: [x],
      exact: true,
      run: (b, [h], dtype) => ({ handle: viaCore(b, [{ handle: h, shape, dtype }], ([t]) => maxPool(t!, window).values).handle, shape: outShape, dtype }),
    });
    const [v, l] = [2, sizeOf(outShape.slice(2))];
    const matShape = [v, n, c, l];
    const mat = input(matShape, draw.normal(v * n * c * l));
    const positionsIn = input(positions, draw.ints(n * c * l, 0, sizeOf(window.kernel) - 1), undefined, true);
    cases.push({
      family: 'window',
      name: `maxPoolTranspose ${formatShape(matShape)} to ${formatShape(spatial)} ${describeWindow(window)}`,
      inputs: [mat, positionsIn],
      run: (b, [m, k], dtype) => ({
        handle: viaCore(b, [{ handle: m, shape: matShape, dtype }, { handle: k, shape: positions, dtype: 'int32' }], ([mt, kt]) =>
          maxPoolTranspose(mt!, kt!, spatial, window),
        ).handle,
        shape: [v, ...shape],
        dtype,
      }),
    });
    cases.push({
      family: 'window',
      name: `maxPool positions ${described}`,
      inputs: [x],
      exact: true,
      needs: () => ['int32'],
      run: (b, [h], dtype) => ({ handle: viaCore(b, [{ handle: h, shape, dtype }], ([t]) => maxPool(t!, window).argmax).handle, shape: positions, dtype: 'int32' }),
    });
  }
  for (const { shape, weight, window, groups, bias, vectors, view } of CONVS) {
    const [n, , ...spatial] = shape as [number, number, ...number[]];
    const outSpatial = windowOutputSize(spatial, window);
    const o = weight[0]!;
    const described = `${formatShape(shape)} weight ${formatShape(weight)} ${describeWindow(window)} groups ${groups}`;
    const x = input(shape, draw.normal(sizeOf(shape)), view);
    const w = input(weight, draw.normal(sizeOf(weight)));
    const b = input([o], draw.normal(o));
    cases.push({
      family: 'window',
      name: `conv ${described}${bias ? ' with bias' : ''}${describeViews([x, w])}`,
      inputs: bias ? [x, w, b] : [x, w],
      run: (backend, [xh, wh, bh], dtype) => {
        const operands = [
          { handle: xh, shape, dtype },
          { handle: wh, shape: weight, dtype },
          ...(bias ? [{ handle: bh, shape: [o], dtype }] : []),
        ];
        const out = viaCore(backend, operands, ([xt, wt, bt]) => conv(xt!, wt!, window, groups, bt).output);
        return { handle: out.handle, shape: out.shape, dtype };
      },
    });
    const matShape = [n * vectors, o, ...outSpatial];
    const mat = input(matShape, draw.normal(sizeOf(matShape)));
    cases.push({
      family: 'window',
      name: `convTranspose ${formatShape(matShape)} to ${described}`,
      inputs: [mat, w],
      run: (b, [mh, wh], dtype) => {
        const out = viaCore(b, [{ handle: mh, shape: matShape, dtype }, { handle: wh, shape: weight, dtype }], ([mt, wt]) =>
          convTranspose(mt!, wt!, spatial, window, groups),
        );
        return { handle: out.handle, shape: out.shape, dtype };
      },
    });
    const gradShape = [vectors, n, o, ...outSpatial];
    const grad = input(gradShape, draw.normal(sizeOf(gradShape)));
    cases.push({
      family: 'window',
      name: `convWeightGrad ${formatShape(gradShape)} of ${described}${describeViews([x, grad])}`,
      inputs: [x, grad],
      run: (b, [xh, gh], dtype) => {
        const out = viaCore(b, [{ handle: xh, shape, dtype }, { handle: gh, shape: gradShape, dtype }], ([xt, gt]) => convWeightGrad(xt!, gt!, window, groups));
        return { handle: out.handle, shape: out.shape, dtype };
      },
    });
  }
  const argmaxes: [Shape, number, InputView?][] = [
    [[4, 5], 1],
    [[4, 5], 0],
    [[2, 3, 4], 1],
    [[3, 1], 1],
    [[1], 0],
    [[4, 5, 6], 0, PERMUTED_3D],
    [[300, 50], 1],
  ];
  for (const [shape, axis, view] of argmaxes) {
    const x = input(shape, draw.ints(sizeOf(shape), 0, 3), view);
    const outShape = shape.filter((_, d) => d !== axis);
    cases.push({
      family: 'window',
      name: `argmax ${formatShape(shape)} axis ${axis} (ties)${describeViews([x])}`,
      inputs: [x],
      exact: true,
      needs: () => ['int32'],
      run: (b, [h], dtype) => ({ handle: b.argmax(h, shape, axis, dtype), shape: outShape, dtype: 'int32' }),
    });
  }
  return cases;
}
