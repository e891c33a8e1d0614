import { cpu } from '@backpack-ts/backend-cpu';
import { describe, expect, it } from 'vitest';
import { loadFastestBackend, OrtBackend } from '../src/index.js';

describe('loadFastestBackend', () => {
  it('picks onnxruntime where it loads', () => {
    const { backend, skipped } = loadFastestBackend();
    expect(backend).toBeInstanceOf(OrtBackend);
    expect(backend.name).toBe('onnxruntime');
    expect(skipped).toEqual([]);
  });

  it('passes options to the backend', () => {
    const { backend } = loadFastestBackend({ intraOpNumThreads: 1 });
    expect((backend as OrtBackend).threads).toBe(1);
  });

  it('falls back to cpu, saying why, when onnxruntime cannot be used', () => {
    const { backend, skipped } = loadFastestBackend({ intraOpNumThreads: -3 });
    expect(backend).toBe(cpu);
    expect(skipped).toHaveLength(1);
    expect(skipped[0]!.name).toBe('onnxruntime');
  });
});
