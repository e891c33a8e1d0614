/**
 * Which kernels go to ONNX Runtime: big ones do, small ones run in
 * TypeScript; options move the thresholds and the threading.
 */
import { availableParallelism } from 'node:os';
import { describe, expect, it } from 'vitest';
import { OrtBackend } from '../src/index.js';
import { SessionCache } from '../src/sessions.js';

describe('oneHot on ORT', () => {
  it.each(['float32', 'float64'] as const)('puts a 1 at each index and 0 elsewhere (%s), small ones in TypeScript', (dtype) => {
    const backend = new OrtBackend({ minElements: 64 });
    const depth = 7;
    for (const [count, where] of [[3, 'ts'], [50, 'ort']] as const) {
      const values = Array.from({ length: count }, (_, i) => (i * 5 + 3) % depth);
      const indices = backend.fromData(values, [count], 'int32');
      const before = backend.stats().kernels[`oneHot:${where}`] ?? 0;
      const encoded = backend.oneHot(indices, [count], depth, dtype);
      expect(backend.stats().kernels[`oneHot:${where}`]).toBe(before + 1);
      const expected = values.flatMap((index) => Array.from({ length: depth }, (_, j) => (j === index ? 1 : 0)));
      const read = backend.read(encoded, [count, depth], dtype);
      expect(read).toBeInstanceOf(dtype === 'float32' ? Float32Array : Float64Array);
      expect(Array.from(read)).toEqual(expected);
      backend.dispose(indices);
      backend.dispose(encoded);
    }
    expect(backend.liveCount()).toBe(0);
    backend.release();
  });
});

describe('kernel routing', () => {
  it('runs small kernels in TypeScript and big ones on ORT, in float32 and float64', () => {
    for (const dtype of ['float32', 'float64'] as const) {
      const backend = new OrtBackend();
      const small = backend.fromData([1, 2, 3, 4], [1, 2, 2], dtype);
      const big = backend.full([1, 128, 128], 0.5, dtype);
      backend.dispose(backend.matmul(small, [1, 2, 2], small, [1, 2, 2], false, false, dtype));
      backend.dispose(backend.unary('exp', small, [1, 2, 2], dtype));
      const product = backend.matmul(big, [1, 128, 128], big, [1, 128, 128], false, true, dtype);
      expect(backend.read(product, [1, 128, 128], dtype)[0]).toBe(32);
      backend.dispose(backend.unary('exp', big, [1, 128, 128], dtype));
      backend.dispose(backend.reduce('sum', big, [1, 128, 128], [2], dtype));
      backend.dispose(backend.softmax(big, [1, 128, 128], 2, dtype));
      expect(backend.stats().kernels).toMatchObject({
        'matmul:ts': 1,
        'matmul:ort': 1,
        'unary:ts': 1,
        'unary:ort': 1,
        'reduce:ort': 1,
        'softmax:ort': 1,
      });
      expect(backend.stats().sessions.unsupported.size).toBe(0);
      for (const h of [small, big, product]) backend.dispose(h);
      backend.release();
    }
  });

  it('sends everything ORT has a graph for to ORT with minElements 0 and minMatmulMacs 0', () => {
    const backend = new OrtBackend({ minElements: 0, minMatmulMacs: 0 });
    const x = backend.fromData([1, -2, 3], [3], 'float32');
    backend.dispose(backend.unary('relu', x, [3], 'float32'));
    backend.dispose(backend.binaryScalar('mul', x, [3], 2, 'float32'));
    expect(backend.stats().kernels).toEqual({ 'unary:ort': 1, 'binaryScalar:ort': 1 });
    backend.dispose(x);
  });

  it('keeps int32 division and fractional int32 scalars in TypeScript (JavaScript semantics)', () => {
    const backend = new OrtBackend({ minElements: 0 });
    const x = backend.fromData([7, -7, 1], [3], 'int32');
    const zero = backend.fromData([2, 2, 0], [3], 'int32');
    const q = backend.binary('div', x, [3], zero, [3], [3], 'int32');
    expect(Array.from(backend.read(q, [3], 'int32'))).toEqual([3, -3, 0]);
    const s = backend.binaryScalar('mul', x, [3], 0.5, 'int32');
    expect(Array.from(backend.read(s, [3], 'int32'))).toEqual([3, -3, 0]);
    expect(backend.stats().kernels).toEqual({ 'binary:ts': 1, 'binaryScalar:ts': 1 });
  });

  it('uses every core by default, no spinning, and takes overrides', () => {
    expect(new OrtBackend().threads).toBe(availableParallelism());
    const one = new OrtBackend({ intraOpNumThreads: 1, allowSpinning: true, minMatmulMacs: 0 });
    expect(one.threads).toBe(1);
    const a = one.full([1, 4, 4], 1, 'float32');
    const p = one.matmul(a, [1, 4, 4], a, [1, 4, 4], false, false, 'float32');
    expect(Array.from(one.read(p, [1, 4, 4], 'float32')).every((v) => v === 4)).toBe(true);
  });

  it('remembers a kernel variant ORT refuses, and caches sessions by key with LRU eviction', () => {
    const cache = new SessionCache({ intraOpNumThreads: 1 }, 2);
    const bogus = () => ({ nodes: [{ op: 'NotAnOp', inputs: ['a'], outputs: ['y'] }], inputs: [{ name: 'a', type: 'float32' as const, dims: ['n'] }], outputs: [{ name: 'y', type: 'float32' as const, dims: ['n'] }] });
    const neg = () => ({ nodes: [{ op: 'Neg', inputs: ['a'], outputs: ['y'] }], inputs: [{ name: 'a', type: 'float32' as const, dims: ['n'] }], outputs: [{ name: 'y', type: 'float32' as const, dims: ['n'] }] });
    expect(cache.get('bogus', bogus)).toBeUndefined();
    expect(cache.isRefused('bogus')).toBe(true);
    expect(cache.stats().unsupported.get('bogus')).toMatch(/NotAnOp/);
    const first = cache.get('neg1', neg);
    expect(cache.get('neg1', neg)).toBe(first);
    cache.get('neg2', neg);
    cache.get('neg3', neg);
    expect(cache.stats()).toMatchObject({ sessions: 2, created: 3 });
    expect(cache.get('neg1', neg)).not.toBe(first);
    cache.dispose();
  });
});
