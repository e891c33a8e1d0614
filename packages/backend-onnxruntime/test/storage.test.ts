import { describe, expect, it } from 'vitest';
import { OrtBackend } from '../src/index.js';
import { BufferPool, HandleRegistry } from '../src/storage.js';

describe('handles, shared storage and the buffer pool', () => {
  it('counts live handles; reshape and identity casts share storage until the last handle goes', () => {
    const backend = new OrtBackend();
    const start = backend.liveCount();
    const x = backend.fromData([1, 2, 3, 4, 5, 6], [2, 3], 'float32');
    const y = backend.reshape(x, [2, 3], [3, 2], 'float32');
    const z = backend.cast(y, [3, 2], 'float32', 'float32');
    expect(backend.liveCount()).toBe(start + 3);
    expect(backend.stats().liveBuffers).toBe(1);
    backend.dispose(x);
    backend.dispose(y);
    expect(Array.from(backend.read(z, [3, 2], 'float32'))).toEqual([1, 2, 3, 4, 5, 6]);
    expect(backend.stats().pooledBuffers).toBe(0);
    backend.dispose(z);
    expect(backend.liveCount()).toBe(start);
    expect(backend.stats().liveBuffers).toBe(0);
    expect(backend.stats().pooledBuffers).toBe(1);
  });

  it('reuses a disposed buffer of fromData for the next fromData or full of that dtype and length', () => {
    const backend = new OrtBackend({ minElements: 0 });
    const a = backend.fromData(new Float32Array(20_000).fill(2), [20_000], 'float32');
    const buffer = a.data;
    backend.dispose(a);
    const b = backend.full([20_000], 1.5, 'float32');
    expect(b.data).toBe(buffer);
    expect(b.data[19_999]).toBe(1.5);
    backend.dispose(b);
    const c = backend.fromData(new Float32Array(20_000).fill(3), [20_000], 'float32');
    expect(c.data).toBe(buffer);
    expect(c.data[0]).toBe(3);
    backend.dispose(c);
  });

  it('returns each ORT output in a buffer of its own, not one of the inputs', () => {
    const backend = new OrtBackend({ minElements: 0 });
    const a = backend.fromData(new Float32Array(20_000).fill(2), [20_000], 'float32');
    const b = backend.unary('sqrt', a, [20_000], 'float32');
    expect(b.data).not.toBe(a.data);
    expect(b.data).toBeInstanceOf(Float32Array);
    expect(b.data[0]).toBeCloseTo(Math.SQRT2, 6);
    expect(a.data[0]).toBe(2);
    backend.dispose(a);
    backend.dispose(b);
  });

  it('makes dispose idempotent and refuses disposed handles', () => {
    const backend = new OrtBackend();
    const x = backend.full([3], 1.5, 'float64');
    backend.dispose(x);
    backend.dispose(x);
    expect(x.disposed).toBe(true);
    expect(() => backend.read(x, [3], 'float64')).toThrow(/disposed/);
  });

  it('keeps no more than maxBytes in the pool, and never views into a larger buffer', () => {
    const pool = new BufferPool(100);
    const registry = new HandleRegistry(pool);
    // 40 bytes each: two fit under 100 bytes, the rest are dropped.
    for (let i = 0; i < 5; i++) registry.dispose(registry.create(new Float64Array(5), true));
    expect(pool.pooledBuffers).toBe(2);
    expect(pool.pooledBytes).toBe(80);
    const held = [0, 1, 2].map(() => registry.create(pool.take('float64', 5), true));
    expect(pool.pooledBuffers).toBe(0);
    for (const h of held) registry.dispose(h);
    expect(pool.pooledBuffers).toBe(2);
    pool.give(new Float64Array(10).subarray(0, 5));
    expect(pool.pooledBuffers).toBe(2);
    // Buffers that did not come from the pool are left to the garbage collector.
    registry.dispose(registry.create(new Float64Array(1)));
    expect(pool.pooledBuffers).toBe(2);
    expect(registry.handles).toBe(0);
  });

  it('read returns a copy the caller may modify', () => {
    const backend = new OrtBackend();
    const x = backend.fromData([1, 2], [2], 'int32');
    const copy = backend.read(x, [2], 'int32');
    copy[0] = 99;
    expect(Array.from(backend.read(x, [2], 'int32'))).toEqual([1, 2]);
    expect(copy).toBeInstanceOf(Int32Array);
    backend.dispose(x);
  });
});
