/**
 * The reduction kernel cases: every reduce op over single and several axes,
 * keeping and dropping them, on views and in int32.
 */
import { formatShape, sizeOf, type DType, type ReduceOp, type Shape } from '@backpack-ts/core';
import { describeViews, input, type InputSpec, type KernelCase } from '../kernel-check.js';
import { Draw, PERMUTED_3D, SLICED } from './inputs.js';

function reduceCase(op: ReduceOp, spec: InputSpec, axes: readonly number[], suffix = '', int32 = false): KernelCase {
  const outShape = spec.shape.filter((_, d) => !axes.includes(d));
  return {
    family: 'reduce',
    name: `reduce ${op}${int32 ? ' int32' : ''} ${formatShape(spec.shape)} axes [${axes.join(', ')}]${suffix}${describeViews([spec])}`,
    inputs: [spec],
    exact: int32 || op !== 'sum',
    run: (b, [x], dtype) => {
      const dt: DType = int32 ? 'int32' : dtype;
      return { handle: b.reduce(op, x, spec.shape, axes, dt), shape: outShape, dtype: dt };
    },
  };
}

const REDUCTIONS: readonly [Shape, readonly number[]][] = [
  [[3, 4], [0]],
  [[3, 4], [1]],
  [[3, 4], [0, 1]],
  [[2, 3, 4], [1]],
  [[2, 3, 4], [0, 2]],
  [[2, 3, 4], []],
  [[5], [0]],
  [[], []],
  [[2, 1, 3], [1]],
  [[1, 1], [0, 1]],
  [[200, 80], [0]],
  [[200, 80], [1]],
  [[20, 30, 40], [0, 2]],
  [[20, 30, 40], [1]],
  [[20, 30, 40], [0, 1, 2]],
];

export function reduceCases(draw: Draw): KernelCase[] {
  const cases: KernelCase[] = [];
  for (const op of ['sum', 'max', 'min'] as const) {
    for (const [shape, axes] of REDUCTIONS) cases.push(reduceCase(op, input(shape, draw.normal(sizeOf(shape))), axes));
    cases.push(reduceCase(op, input([4, 5, 6], draw.normal(120), PERMUTED_3D), [1]));
    cases.push(reduceCase(op, input([4, 5, 6], draw.normal(120), SLICED), [0, 2]));
    for (const [variant, scale] of [['tiny', 1e-30], ['large', 1e30]] as const) {
      cases.push(reduceCase(op, input([3, 4], draw.normal(12, scale)), [1], ` ${variant}`));
      cases.push(reduceCase(op, input([200, 80], draw.normal(16_000, scale)), [1], ` ${variant}`));
    }
  }
  for (const [shape, axes] of [[[3, 4], [1]], [[200, 80], [0]]] as const) {
    cases.push(reduceCase('sum', input(shape, draw.ints(sizeOf(shape), -1000, 1000), undefined, true), axes, '', true));
  }
  return cases;
}
