/**
 * The backend calls onnxruntime-node's synchronous native binding, which is
 * not public API. These tests fail loudly if a future version moves it:
 * update src/ort/binding.ts (the only file that touches it) when they do.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { encodeModel } from '../src/onnx/proto.js';
import { createSyncSession, loadBinding, ORT_NODE_VERSION } from '../src/ort/binding.js';

const require = createRequire(import.meta.url);

describe('onnxruntime-node internals the backend relies on', () => {
  it('is the pinned version', () => {
    const manifest = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
      dependencies: Record<string, string>;
    };
    expect(manifest.dependencies['onnxruntime-node']).toBe(ORT_NODE_VERSION);
    expect(loadBinding().version).toBe(ORT_NODE_VERSION);
  });

  it('exposes dist/binding.js with initOrt and a native InferenceSession (loadModel, run, dispose)', () => {
    const module = require('onnxruntime-node/dist/binding.js') as {
      initOrt?: unknown;
      binding?: { InferenceSession?: { prototype: Record<string, unknown> } };
    };
    expect(typeof module.initOrt, 'onnxruntime-node/dist/binding.js no longer exports initOrt').toBe('function');
    const ctor = module.binding?.InferenceSession;
    expect(typeof ctor, 'the native binding no longer has InferenceSession').toBe('function');
    for (const method of ['loadModel', 'run', 'dispose']) {
      expect(typeof ctor!.prototype[method], `native InferenceSession.${method} moved`).toBe('function');
    }
  });

  it('runs synchronously, reading inputs in place and writing into a preallocated output', () => {
    const model = encodeModel({
      nodes: [{ op: 'Add', inputs: ['a', 'b'], outputs: ['y'] }],
      inputs: [
        { name: 'a', type: 'float32', dims: ['n'] },
        { name: 'b', type: 'float32', dims: ['n'] },
      ],
      outputs: [{ name: 'y', type: 'float32', dims: ['n'] }],
    });
    const session = createSyncSession(model, { intraOpNumThreads: 1 });
    const a = new Float32Array([1, 2, 3]);
    const b = new Float32Array([10, 20, 30]);
    const out = new Float32Array(3);
    const result = session.run(
      { a: { type: 'float32', dims: [3], data: a, location: 'cpu' }, b: { type: 'float32', dims: [3], data: b, location: 'cpu' } },
      { y: { type: 'float32', dims: [3], data: out, location: 'cpu' } },
    );
    // Synchronous: the result is an object, not a promise, and the output is already written.
    expect(result).not.toBeInstanceOf(Promise);
    expect(Array.from(out)).toEqual([11, 22, 33]);
    // Inputs are untouched.
    expect(Array.from(a)).toEqual([1, 2, 3]);
    session.dispose();
  });

  it('reports a model ORT refuses with its message', () => {
    const model = encodeModel({
      nodes: [{ op: 'NoSuchOperator', inputs: ['a'], outputs: ['y'] }],
      inputs: [{ name: 'a', type: 'float32', dims: ['n'] }],
      outputs: [{ name: 'y', type: 'float32', dims: ['n'] }],
    });
    expect(() => createSyncSession(model, { intraOpNumThreads: 1 })).toThrow(/NoSuchOperator/);
  });
});
