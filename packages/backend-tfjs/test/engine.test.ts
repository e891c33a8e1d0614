/**
 * Engine choice: tfjs-node when it loads, else wasm, else tfjs's cpu; the
 * backend's name says which runs. Engines are process-wide in tfjs, so this
 * file (one vitest worker) switches between them and checks each.
 */
import * as tf from '@tensorflow/tfjs';
import { cpu } from '@backpack-ts/backend-cpu';
import { runBackendConformance, formatConformanceReport } from '@backpack-ts/conformance';
import { describe, expect, it } from 'vitest';
import { ENGINE_ORDER, loadTfjsBackend, loadTfjsBackendSync, tfjs } from '../src/index.js';

/** Whether @tensorflow/tfjs-node can load here (its addon is only built where libtensorflow could be downloaded). */
const tfjsNodeLoads = await (async () => {
  try {
    const { createRequire } = await import('node:module');
    createRequire(import.meta.url)('@tensorflow/tfjs-node');
    return true;
  } catch {
    return false;
  }
})();

describe('engine selection', () => {
  it('starts the fastest engine that loads and names it', async () => {
    const backend = await loadTfjsBackend();
    expect(backend).toBe(tfjs);
    expect(ENGINE_ORDER).toEqual(['tensorflow', 'wasm', 'cpu']);
    const expected = tfjsNodeLoads ? 'tensorflow' : 'wasm';
    expect(backend.engine).toBe(expected);
    expect(backend.name).toBe(`tfjs (${expected})`);
    if (!tfjsNodeLoads) {
      // tfjs-node's failure (no code, a multi-line message) is kept, first line only.
      expect(backend.skipped).toHaveLength(1);
      expect(backend.skipped[0]!.engine).toBe('tensorflow');
      expect(backend.skipped[0]!.reason).toMatch(/^@tensorflow\/tfjs-node: /);
      expect(backend.skipped[0]!.reason).not.toContain('\n');
      console.log(`tfjs-node skipped: ${backend.skipped[0]!.reason}`);
    }
    const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
    console.log(`engine: ${backend.engine}; wasm SIMD: ${String(simd)}`);
  });

  it('the synchronous start gives the same engine, and switches engines on request', () => {
    expect(loadTfjsBackendSync({ engines: ['cpu'] }).name).toBe('tfjs (cpu)');
    expect(loadTfjsBackendSync({ engines: ['wasm', 'cpu'] }).name).toBe('tfjs (wasm)');
    expect(loadTfjsBackendSync().engine).toBe(tfjsNodeLoads ? 'tensorflow' : 'wasm');
    expect(() => loadTfjsBackendSync({ engines: [] })).toThrow(/no engine to try/);
    expect(() => loadTfjsBackendSync({ engines: ['webgl' as never] })).toThrow(/unknown engine 'webgl'/);
  });

  it('tensors created on one engine are read on another (tfjs moves the data)', async () => {
    await loadTfjsBackend({ engines: ['wasm'] });
    const h = tfjs.fromData([1, 2, 3], [3], 'float32');
    await loadTfjsBackend({ engines: ['cpu'] });
    expect(Array.from(tfjs.read(h, [3], 'float32'))).toEqual([1, 2, 3]);
    tfjs.dispose(h);
    await loadTfjsBackend();
  });
});

describe("tfjs's cpu engine (the last resort) passes the kernel checks too", () => {
  it('conformance kernels, float32', async () => {
    const backend = await loadTfjsBackend({ engines: ['cpu'] });
    expect(backend.name).toBe('tfjs (cpu)');
    const report = runBackendConformance(backend, { dtype: 'float32', golden: { cases: ['cnn2d_pool_ce', 'mlp_tanh_mse'] } });
    if (!report.passed) console.log(formatConformanceReport(report));
    expect(report.failures.map((check) => check.message)).toEqual([]);
    // read() hands out a copy on the cpu engine, whose storage is shared by reshapes.
    const h = backend.fromData([1, 2], [2], 'float32');
    const data = backend.read(h, [2], 'float32');
    data[0] = 99;
    expect(Array.from(backend.read(h, [2], 'float32'))).toEqual([1, 2]);
    backend.dispose(h);
    expect(cpu.name).toBe('cpu');
    await loadTfjsBackend();
  });
});
