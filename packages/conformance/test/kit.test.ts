/**
 * The conformance kit itself: backend-cpu passes it in float64 and float32,
 * and it catches broken backends (a wrong kernel, one that writes into its
 * input, a leaking dispose, float32 arithmetic that is too coarse, a missing
 * dtype), with a report any runner can print.
 */
import { CpuBackend, cpu } from '@backpack-ts/backend-cpu';
import type { Backend, DType, Shape, UnaryOp } from '@backpack-ts/core';
import { describe, expect, it } from 'vitest';
import {
  assertConformance,
  formatConformanceReport,
  kernelCases,
  runBackendConformance,
  type ConformanceReport,
} from '../src/index.js';
import { forbidEmptyKernelCalls } from '../src/kit/empty-cases.js';

/** backend-cpu with some methods replaced: a stand-in for a third-party backend with a bug. */
function brokenBackend(name: string, overrides: (base: CpuBackend) => Partial<Backend<Float32Array | Float64Array | Int32Array>>): Backend {
  const base = new CpuBackend();
  const replaced = overrides(base);
  return new Proxy(base, {
    get(target, property, receiver) {
      if (property === 'name') return name;
      if (property in replaced) return (replaced as Record<PropertyKey, unknown>)[property];
      const value = Reflect.get(target, property, receiver) as unknown;
      return typeof value === 'function' ? value.bind(target) : value;
    },
    has(target, property) {
      return property in replaced || property in target;
    },
  }) as unknown as Backend;
}

const failedFamilies = (report: ConformanceReport) => [...new Set(report.failures.map((c) => `${c.part}/${c.family}`))].sort();

describe('runBackendConformance on backend-cpu', () => {
  for (const dtype of ['float64', 'float32'] as const) {
    it(`passes in ${dtype}: every kernel family, then the golden suite`, () => {
      const report = runBackendConformance(cpu, { dtype });
      expect(() => assertConformance(report), formatConformanceReport(report)).not.toThrow();
      expect(report.passed).toBe(true);
      expect(report.tolerance).toBe(dtype === 'float64' ? 1e-10 : 1e-4);
      const families = report.families.map((f) => `${f.part}/${f.family}`);
      for (const family of ['layout', 'unary', 'binary', 'binaryScalar', 'reduce', 'matmul', 'window', 'nn', 'nan', 'empty']) {
        expect(families).toContain(`kernels/${family}`);
      }
      for (const group of ['forward', 'first-order', 'ggn', 'hessian', 'kronecker']) expect(families).toContain(`golden/${group}`);
      for (const check of report.checks) {
        expect(check.name.length).toBeGreaterThan(0);
        expect(check.maxError).toBeLessThanOrEqual(check.tolerance);
      }
      console.log(formatConformanceReport(report));
    });
  }
});

describe('what the kit catches', () => {
  const kernelsOnly = { dtype: 'float64' as const, golden: false as const };

  it('a kernel that ignores a flag (matmul without transB), in the kernel checks and end to end', () => {
    const backend = brokenBackend('no-transB', (base) => ({
      matmul: (a, aShape, b, bShape, transA, transB, dtype) => {
        if (!transB) return base.matmul(a, aShape, b, bShape, transA, false, dtype);
        const [batch, n, k] = bShape as [number, number, number];
        // Reinterprets B^T's storage as B: right only when B is symmetric.
        return base.matmul(a, aShape, b, [batch, k, n], transA, false, dtype);
      },
    }));
    const report = runBackendConformance(backend, { dtype: 'float64', only: ['matmul'], golden: { cases: ['seed_linear'], groups: ['first-order'] } });
    expect(report.passed).toBe(false);
    expect(failedFamilies(report)).toEqual(['golden/first-order', 'golden/forward', 'kernels/matmul']);
    const failed = report.failures.filter((c) => c.part === 'kernels').map((c) => c.name);
    expect(failed.every((name) => name.includes('ᵀ'))).toBe(true);
    expect(() => assertConformance(report)).toThrow(/FAIL kernels\/matmul[\s\S]*failures:\n {2}matmul \[1, 3, 4\] @ \[1, 5, 4\]ᵀ: FAIL rel/);
  });

  it('a kernel that writes into its input', () => {
    const backend = brokenBackend('in-place', (base) => ({
      unary: (op: UnaryOp, x, shape: Shape, dtype: DType) => {
        if (op !== 'neg') return base.unary(op, x, shape, dtype);
        for (let i = 0; i < x.length; i++) x[i] = -x[i]!;
        return x;
      },
    }));
    const report = runBackendConformance(backend, { ...kernelsOnly, only: ['unary neg'] });
    expect(report.failures.length).toBeGreaterThan(0);
    expect(report.failures.every((c) => c.message.includes('modified its input 0'))).toBe(true);
  });

  it('a dispose that does not release (live handles left over)', () => {
    let live = 0;
    const backend = brokenBackend('leaky', (base) => ({
      fromData: (data, shape, dtype) => {
        live += 1;
        return base.fromData(data, shape, dtype);
      },
      dispose: () => {},
      liveCount: () => live,
    }));
    const report = runBackendConformance(backend, { ...kernelsOnly, only: ['reduce sum'] });
    expect(report.failures.map((c) => c.name)).toEqual(['dispose releases every handle']);
    expect(report.failures[0]!.message).toMatch(/liveCount 0 before the kernel checks, \d+ after/);
  });

  it('float32 arithmetic that is too coarse for 1e-4 (exp rounded to 3 digits)', () => {
    const backend = brokenBackend('coarse', (base) => ({
      unary: (op: UnaryOp, x, shape: Shape, dtype: DType) => {
        const out = base.unary(op, x, shape, dtype);
        if (op === 'exp') for (let i = 0; i < out.length; i++) out[i] = Number(out[i]!.toPrecision(3));
        return out;
      },
    }));
    const report = runBackendConformance(backend, { dtype: 'float32', golden: false, only: ['unary exp', 'unary log'] });
    expect(failedFamilies(report)).toEqual(['kernels/unary']);
    expect(report.failures.every((c) => c.name.startsWith('unary exp') && c.maxError > 1e-4)).toBe(true);
  });

  it('a read-back of the wrong typed array, and a missing dtype', () => {
    const backend = brokenBackend('float64-reads', (base) => ({
      read: (x) => Float64Array.from(x),
    }));
    const report = runBackendConformance(backend, { dtype: 'float32', golden: false, only: ['softmax [4, 5]'] });
    expect(report.failures.map((c) => c.message)).toContainEqual(expect.stringMatching(/read returned a Float64Array for float32/));

    const noFloat64 = brokenBackend('float32-only', () => ({ dtypes: ['float32'] }));
    const missing = runBackendConformance(noFloat64, { dtype: 'float64' });
    expect(missing.passed).toBe(false);
    expect(missing.failures.map((c) => c.name)).toEqual(['backend stores float64']);
  });

  it('a backend whose full refuses empty shapes, which core needs for every op on an empty tensor', () => {
    const backend = brokenBackend('no-empty-full', (base) => ({
      full: (shape, value, dtype) => {
        if (shape.includes(0)) throw new Error('full: empty shape');
        return base.full(shape, value, dtype);
      },
    }));
    const report = runBackendConformance(backend, { ...kernelsOnly, only: ['full', 'empty: '] });
    expect(failedFamilies(report)).toEqual(['kernels/empty', 'kernels/layout']);
    expect(report.failures.every((c) => c.message.includes('full: empty shape'))).toBe(true);
  });

  it('skips the checks that need a dtype the backend does not store, saying so', () => {
    const float32Only = brokenBackend('float32-only', () => ({ dtypes: ['float32', 'int32'] }));
    const report = runBackendConformance(float32Only, { dtype: 'float32', golden: false, only: ['cast'] });
    expect(report.passed).toBe(true);
    expect(report.checks.map((c) => c.name)).not.toContain('cast [3, 4] float -> the other float');
    expect(report.skipped).toEqual(['1 kernel checks that need float64 (the backend does not store it)']);
  });

  it('skips int32 checks, saying so, for a backend without int32', () => {
    const backend = brokenBackend('no-int32', () => ({ dtypes: ['float32', 'float64'] }));
    const report = runBackendConformance(backend, { ...kernelsOnly, only: ['int32', 'argmax', 'oneHot', 'unary exp'] });
    expect(report.passed).toBe(true);
    expect(report.checks.every((c) => /^(empty: )?unary exp/.test(c.name))).toBe(true);
    expect(report.skipped).toContainEqual(expect.stringMatching(/kernel checks that need int32/));
  });
});

describe('the empty cases', () => {
  it('fail where core would call a kernel with an empty tensor, or a kernel whose result is empty', () => {
    const watched = forbidEmptyKernelCalls(cpu, new Set(), ['slice']);
    const empty = watched.full([2, 0], 0, 'float64');
    const some = watched.fromData([1, 2], [2], 'float64');
    expect(() => watched.unary('exp', empty, [2, 0], 'float64')).toThrow(/core called the unary kernel with an empty tensor/);
    expect(() => watched.concat([some, empty], [[2], [0]], 0, 'float64')).toThrow(/concat kernel with an empty tensor/);
    expect(() => watched.slice(some, [2], [0], [1], 'float64')).toThrow(/core called the slice kernel for an empty result/);
    expect(Array.from(watched.read(watched.unary('neg', some, [2], 'float64'), [2], 'float64'))).toEqual([-1, -2]);
  });
});

describe('the kernel cases', () => {
  it('cover every kernel of the contract, with unique names', () => {
    const cases = kernelCases(0);
    const names = cases.map((c) => c.name);
    expect(new Set(names).size).toBe(names.length);
    const kernels = [
      'fromData',
      'full',
      'reshape',
      'permute',
      'slice',
      'concat',
      'pad',
      'cast',
      'unary',
      'binary',
      'binaryScalar',
      'reduce',
      'matmul',
      'unfold',
      'fold',
      'argmax',
      'softmax',
      'logSoftmax',
      'oneHot',
    ];
    for (const kernel of kernels) expect(names.some((n) => n.startsWith(`${kernel} `)), kernel).toBe(true);
    // Awkward inputs are there: views, empty and rank-0 tensors, large and tiny values.
    for (const marker of ['permuted', 'sliced', 'reshaped', '[0]', '[]', 'large', 'tiny', 'NaN']) {
      expect(names.some((n) => n.includes(marker)), marker).toBe(true);
    }
  });

  it('draw the same inputs for the same seed', () => {
    const a = kernelCases(3).map((c) => c.inputs.map((i) => i.values.slice(0, 3)));
    const b = kernelCases(3).map((c) => c.inputs.map((i) => i.values.slice(0, 3)));
    expect(a).toEqual(b);
  });
});
