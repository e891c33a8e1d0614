/**
 * The layout, creation and read-back kernel cases.
 */
import { formatShape, sizeOf, type DType, type FloatDType } from '@backpack-ts/core';
import { describeViews, input, type InputSpec, type KernelCase } from '../kernel-check.js';
import { Draw, PERMUTED_3D, TRANSPOSED, SLICED, BIG_2D } from './inputs.js';

export function layoutCases(draw: Draw): KernelCase[] {
  const cases: KernelCase[] = [];
  const push = (name: string, inputs: InputSpec[], run: KernelCase['run'], extra: Partial<KernelCase> = {}) =>
    cases.push({ family: 'layout', name: `${name}${describeViews(inputs)}`, inputs, run, exact: true, ...extra });

  // Creation and read-back.
  // The only kernels that see tensors with no elements.
  for (const shape of [[], [0], [3, 4], BIG_2D] as const) {
    const spec = input(shape, draw.normal(sizeOf(shape)));
    push(`fromData + read ${formatShape(shape)}`, [spec], (_b, [x], dtype) => ({ handle: x, shape, dtype }));
  }
  push(`fromData + read int32 [3, 4]`, [input([3, 4], draw.ints(12, -1e6, 1e6), undefined, true)], (_b, [x]) => ({ handle: x, shape: [3, 4], dtype: 'int32' }));
  for (const [shape, value] of [[[3, 4], 0.1], [[], -2.5], [[0], 1], [BIG_2D, 0], [[2, 3], -0]] as const) {
    push(`full ${formatShape(shape)} ${Object.is(value, -0) ? '-0' : value}`, [], (b, _h, dtype) => ({ handle: b.full(shape, value, dtype), shape, dtype }));
  }
  push('full int32 [2, 3] 7', [], (b) => ({ handle: b.full([2, 3], 7, 'int32'), shape: [2, 3], dtype: 'int32' }), { needs: () => ['int32'] });

  // reshape
  for (const [spec, to] of [
    [input([2, 3], draw.normal(6)), [3, 2]],
    [input([2, 3, 4], draw.normal(24), PERMUTED_3D), [6, 4]],
    [input([4, 5, 6], draw.normal(120), SLICED), [120]],
    [input([], [1.5]), [1, 1]],
  ] as const) {
    push(`reshape ${formatShape(spec.shape)} -> ${formatShape(to)}`, [spec], (b, [x], dtype) => ({ handle: b.reshape(x, spec.shape, to, dtype), shape: to, dtype }));
  }

  // permute
  const perms3 = [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]];
  const permutes: [InputSpec, readonly number[]][] = [
    ...perms3.map((p): [InputSpec, number[]] => [input([2, 3, 4], draw.normal(24)), p]),
    [input([1, 5, 1, 3], draw.normal(15)), [3, 2, 1, 0]],
    [input([], [4]), []],
    [input([7], draw.normal(7)), [0]],
    [input([4, 5, 6], draw.normal(120), SLICED), [1, 2, 0]],
    [input([40, 30, 20], draw.normal(24_000)), [2, 0, 1]],
    [input([40, 30, 20], draw.normal(24_000)), [1, 0, 2]],
    [input([100, 120], draw.normal(12_000)), [1, 0]],
    [input([3, 4], draw.ints(12, -9, 9), undefined, true), [1, 0]],
  ];
  for (const [spec, perm] of permutes) {
    const outShape = perm.map((d) => spec.shape[d]!);
    const dt = spec.int32 === true ? ' int32' : '';
    push(`permute${dt} ${formatShape(spec.shape)} by [${perm.join(', ')}]`, [spec], (b, [x], dtype) => {
      const d: DType = spec.int32 === true ? 'int32' : dtype;
      return { handle: b.permute(x, spec.shape, perm, d), shape: outShape, dtype: d };
    });
  }

  // slice
  const slices: [InputSpec, number[], number[]][] = [
    [input([5, 6], draw.normal(30)), [1, 2], [3, 3]],
    [input([5, 6], draw.normal(30)), [0, 0], [5, 6]],
    [input([4, 5, 6], draw.normal(120)), [1, 0, 2], [2, 5, 3]],
    [input([4, 5, 6], draw.normal(120), PERMUTED_3D), [0, 1, 1], [3, 3, 3]],
    [input([], [2]), [], []],
    [input([7], draw.normal(7)), [6], [1]],
    [input([150, 100], draw.normal(15_000)), [10, 5], [120, 90]],
    [input([5, 6], draw.ints(30, -9, 9), undefined, true), [1, 1], [2, 4]],
  ];
  for (const [spec, begin, size] of slices) {
    const d = spec.int32 === true ? ' int32' : '';
    push(`slice${d} ${formatShape(spec.shape)} at [${begin.join(', ')}] size [${size.join(', ')}]`, [spec], (b, [x], dtype) => {
      const dt: DType = spec.int32 === true ? 'int32' : dtype;
      return { handle: b.slice(x, spec.shape, begin, size, dt), shape: size, dtype: dt };
    });
  }

  // concat
  const concats: [InputSpec[], number][] = [
    [[input([2, 3], draw.normal(6)), input([4, 3], draw.normal(12))], 0],
    [[input([2, 3], draw.normal(6)), input([2, 1], draw.normal(2)), input([2, 5], draw.normal(10))], 1],
    [[input([2, 3, 1], draw.normal(6)), input([2, 3, 4], draw.normal(24), SLICED)], 2],
    [[input([3, 4], draw.normal(12), TRANSPOSED)], 0],
    [[input([1], draw.normal(1)), input([3], draw.normal(3)), input([2], draw.normal(2))], 0],
    [[input([100, 60], draw.normal(6000)), input([100, 70], draw.normal(7000))], 1],
    [[input([2, 2], draw.ints(4, -9, 9), undefined, true), input([2, 3], draw.ints(6, -9, 9), undefined, true)], 1],
  ];
  for (const [specs, axis] of concats) {
    const outShape = specs[0]!.shape.map((d, i) => (i === axis ? specs.reduce((s, x) => s + x.shape[i]!, 0) : d));
    const int32 = specs[0]!.int32 === true;
    push(`concat${int32 ? ' int32' : ''} ${specs.map((s) => formatShape(s.shape)).join(' + ')} axis ${axis}`, specs, (b, handles, dtype) => {
      const dt: DType = int32 ? 'int32' : dtype;
      return { handle: b.concat(handles, specs.map((s) => s.shape), axis, dt), shape: outShape, dtype: dt };
    });
  }

  // pad
  const pads: [InputSpec, number[], number[], number][] = [
    [input([3, 4], draw.normal(12)), [1, 0], [2, 3], 0],
    [input([2, 3, 4], draw.normal(24)), [0, 1, 2], [1, 0, 0], -1.5],
    [input([5], draw.normal(5)), [0], [0], 0],
    [input([4, 5, 6], draw.normal(120), SLICED), [1, 1, 1], [1, 1, 1], 0.25],
    [input([100, 100], draw.normal(10_000)), [1, 2], [2, 1], 0],
    [input([2, 2], draw.ints(4, -9, 9), undefined, true), [1, 1], [1, 1], 5],
  ];
  for (const [spec, before, after, value] of pads) {
    const outShape = spec.shape.map((d, i) => d + before[i]! + after[i]!);
    const int32 = spec.int32 === true;
    push(`pad${int32 ? ' int32' : ''} ${formatShape(spec.shape)} by [${before.join(', ')}] / [${after.join(', ')}] with ${value}`, [spec], (b, [x], dtype) => {
      const dt: DType = int32 ? 'int32' : dtype;
      return { handle: b.pad(x, spec.shape, before, after, value, dt), shape: outShape, dtype: dt };
    });
  }

  // cast (JavaScript reference: truncation toward zero, float rounding)
  const truncate = (values: readonly (readonly number[])[]) => values[0]!.map((v) => Math.trunc(v));
  for (const shape of [[3, 4], BIG_2D] as const) {
    push(`cast ${formatShape(shape)} float -> int32`, [input(shape, draw.uniform(sizeOf(shape), -5, 5))], (b, [x], dtype) => ({
      handle: b.cast(x, shape, dtype, 'int32'),
      shape,
      dtype: 'int32',
    }), { expected: truncate, needs: () => ['int32'] });
  }
  push('cast [3, 4] int32 -> float', [input([3, 4], draw.ints(12, -1e6, 1e6), undefined, true)], (b, [x], dtype) => ({
    handle: b.cast(x, [3, 4], 'int32', dtype),
    shape: [3, 4],
    dtype,
  }), { expected: (v) => v[0]! });
  push('cast [3, 4] float -> same float', [input([3, 4], draw.normal(12), SLICED)], (b, [x], dtype) => ({
    handle: b.cast(x, [3, 4], dtype, dtype),
    shape: [3, 4],
    dtype,
  }), { expected: (v) => v[0]! });
  const other = (dtype: FloatDType): FloatDType => (dtype === 'float32' ? 'float64' : 'float32');
  push('cast [3, 4] float -> the other float', [input([3, 4], draw.normal(12))], (b, [x], dtype) => ({
    handle: b.cast(x, [3, 4], dtype, other(dtype)),
    shape: [3, 4],
    dtype: other(dtype),
  }), { expected: (v, dtype) => (other(dtype) === 'float32' ? v[0]!.map(Math.fround) : v[0]!), needs: (dtype) => [other(dtype)] });
  return cases;
}
