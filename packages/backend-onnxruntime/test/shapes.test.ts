/**
 * The shape simplifications must not change any result: each is checked by
 * running the kernel on backend-cpu with the original and the simplified
 * shapes, over many random shapes with size-1 dimensions.
 */
import { CpuBackend } from '@backpack-ts/backend-cpu';
import { Generator, sizeOf } from '@backpack-ts/core';
import { describe, expect, it } from 'vitest';
import { coalesceBroadcast, coalescePermute, coalesceReduce, isIdentity } from '../src/shapes.js';

const cpu = new CpuBackend();
const g = new Generator(7);
const randomInt = (n: number) => Math.floor(g.nextUniform() * n);
const randomShape = (rank: number) => Array.from({ length: rank }, () => [1, 1, 2, 3, 4][randomInt(5)]!);
const data = (shape: number[]) => Float64Array.from({ length: sizeOf(shape) }, (_, i) => i + 1);

function shuffle(n: number): number[] {
  const p = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    [p[i], p[j]] = [p[j]!, p[i]!];
  }
  return p;
}

describe('shape simplifications', () => {
  it('coalescePermute keeps the permuted order', () => {
    for (let trial = 0; trial < 300; trial++) {
      const shape = randomShape(1 + randomInt(5));
      const perm = shuffle(shape.length);
      const x = data(shape);
      const expected = cpu.permute(x, shape, perm, 'float64');
      const simple = coalescePermute(shape, perm);
      expect(sizeOf(simple.shape)).toBe(sizeOf(shape));
      const actual = isIdentity(simple.perm) ? x : cpu.permute(x, simple.shape, simple.perm, 'float64');
      expect(Array.from(actual)).toEqual(Array.from(expected));
    }
    expect(coalescePermute([2, 3, 4], [0, 1, 2])).toEqual({ shape: [24], perm: [0] });
    expect(coalescePermute([2, 3, 4], [2, 0, 1])).toEqual({ shape: [6, 4], perm: [1, 0] });
  });

  it('coalesceBroadcast keeps the broadcast result', () => {
    for (let trial = 0; trial < 300; trial++) {
      const out = randomShape(1 + randomInt(5));
      const a = out.map((d) => (g.nextUniform() < 0.4 ? 1 : d));
      const b = out.map((d) => (g.nextUniform() < 0.4 ? 1 : d));
      const expected = cpu.binary('sub', data(a), a, data(b), b, out, 'float64');
      const simple = coalesceBroadcast(a, b, out);
      expect(simple.a.length).toBe(simple.out.length);
      const actual = cpu.binary('sub', data(a), simple.a, data(b), simple.b, simple.out, 'float64');
      expect(Array.from(actual)).toEqual(Array.from(expected));
    }
    expect(coalesceBroadcast([2, 3, 4], [1, 1, 4], [2, 3, 4])).toEqual({ a: [6, 4], b: [1, 4], out: [6, 4] });
  });

  it('coalesceReduce keeps the reduction', () => {
    for (let trial = 0; trial < 300; trial++) {
      const shape = randomShape(1 + randomInt(5));
      const axes = shape.flatMap((_, d) => (g.nextUniform() < 0.5 ? [d] : []));
      const x = data(shape);
      const expected = cpu.reduce('sum', x, shape, axes, 'float64');
      const simple = coalesceReduce(shape, axes);
      const actual = simple.axes.length === 0 ? x : cpu.reduce('sum', x, simple.shape, simple.axes, 'float64');
      expect(Array.from(actual)).toEqual(Array.from(expected));
    }
    expect(coalesceReduce([2, 3, 1, 4], [1, 2, 3])).toEqual({ shape: [2, 12], axes: [1] });
  });
});
