/**
 * The ONNX writer, checked through ONNX Runtime itself: every field kind it
 * writes (int, negative int, float, ints, floats, string and tensor
 * attributes; int64, int32, float32 and float64 initializers, raw and typed;
 * symbolic, fixed and unknown dimensions; the contrib domain) produces a
 * model that loads and computes what it says.
 */
import { describe, expect, it } from 'vitest';
import { encodeModel, type GraphSpec } from '@backpack-ts/backend-onnxruntime/proto';
import { createSyncSession } from '../src/ort/binding.js';

function run(graph: GraphSpec, inputs: Record<string, { data: Float32Array | Float64Array | Int32Array; dims: number[] }>, outLength: number, outDims: number[]) {
  const session = createSyncSession(encodeModel(graph), { intraOpNumThreads: 1 });
  const type = graph.outputs[0]!.type as 'float32' | 'float64' | 'int32';
  const out = type === 'float64' ? new Float64Array(outLength) : type === 'int32' ? new Int32Array(outLength) : new Float32Array(outLength);
  const feeds = Object.fromEntries(
    Object.entries(inputs).map(([name, t]) => {
      const inputType = (t.data instanceof Float64Array ? 'float64' : t.data instanceof Int32Array ? 'int32' : 'float32') as 'float32' | 'float64' | 'int32';
      return [name, { type: inputType, dims: t.dims, data: t.data, location: 'cpu' as const }];
    }),
  );
  session.run(feeds, { y: { type, dims: outDims, data: out, location: 'cpu' } });
  session.dispose();
  return Array.from(out);
}

describe('encodeModel', () => {
  it('writes negative int attributes (Softmax over axis -1)', () => {
    const y = run(
      {
        nodes: [{ op: 'Softmax', inputs: ['a'], outputs: ['y'], attributes: { axis: -1 } }],
        inputs: [{ name: 'a', type: 'float32', dims: [2, 'n'] }],
        outputs: [{ name: 'y', type: 'float32', dims: [2, 'n'] }],
      },
      { a: { data: new Float32Array([0, 0, Math.log(3), 0]), dims: [2, 2] } },
      4,
      [2, 2],
    );
    expect(y.map((v) => Number(v.toFixed(6)))).toEqual([0.5, 0.5, 0.75, 0.25]);
  });

  it('writes float attributes and ints attributes', () => {
    const y = run(
      {
        nodes: [
          { op: 'LeakyRelu', inputs: ['a'], outputs: ['t'], attributes: { alpha: { float: 0.25 } } },
          { op: 'Transpose', inputs: ['t'], outputs: ['y'], attributes: { perm: [1, 0] } },
        ],
        inputs: [{ name: 'a', type: 'float32', dims: ['r', 'c'] }],
        outputs: [{ name: 'y', type: 'float32', dims: ['c', 'r'] }],
      },
      { a: { data: new Float32Array([-4, 1, 2, -8]), dims: [2, 2] } },
      4,
      [2, 2],
    );
    expect(y).toEqual([-1, 2, 1, -2]);
  });

  it('writes string attributes and int64 initializers (Pad in reflect mode)', () => {
    const y = run(
      {
        nodes: [{ op: 'Pad', inputs: ['a', 'pads'], outputs: ['y'], attributes: { mode: 'reflect' } }],
        initializers: [{ name: 'pads', type: 'int64', dims: [2], values: [1, 1] }],
        inputs: [{ name: 'a', type: 'float32', dims: ['n'] }],
        outputs: [{ name: 'y', type: 'float32', dims: ['m'] }],
      },
      { a: { data: new Float32Array([1, 2, 3]), dims: [3] } },
      5,
      [5],
    );
    expect(y).toEqual([2, 1, 2, 3, 2]);
  });

  it('writes float32, float64 and int32 initializers, raw and typed, and large ints', () => {
    for (const [type, storage] of [['float32', 'raw'], ['float64', 'raw'], ['int32', 'raw'], ['float32', 'typed'], ['float64', 'typed'], ['int32', 'typed']] as const) {
      const data = type === 'float64' ? new Float64Array([1, 2]) : type === 'int32' ? new Int32Array([1, 2]) : new Float32Array([1, 2]);
      const y = run(
        {
          nodes: [{ op: 'Add', inputs: ['a', 'c'], outputs: ['y'] }],
          initializers: [{ name: 'c', type, dims: [], values: [type === 'int32' ? 300_000 : 0.5], storage }],
          inputs: [{ name: 'a', type, dims: ['n'] }],
          outputs: [{ name: 'y', type, dims: ['n'] }],
        },
        { a: { data, dims: [2] } },
        2,
        [2],
      );
      expect(y).toEqual(type === 'int32' ? [300_001, 300_002] : [1.5, 2.5]);
    }
  });

  it('writes the contrib domain (com.microsoft FusedMatMul with transA)', () => {
    const y = run(
      {
        nodes: [{ op: 'FusedMatMul', domain: 'com.microsoft', inputs: ['a', 'b'], outputs: ['y'], attributes: { transA: 1, alpha: { float: 2 } } }],
        inputs: [
          { name: 'a', type: 'float32', dims: ['k', 'm'] },
          { name: 'b', type: 'float32', dims: ['k', 'n'] },
        ],
        outputs: [{ name: 'y', type: 'float32', dims: ['m', 'n'] }],
      },
      { a: { data: new Float32Array([1, 2, 3, 4]), dims: [2, 2] }, b: { data: new Float32Array([1, 0, 0, 1]), dims: [2, 2] } },
      4,
      [2, 2],
    );
    expect(y).toEqual([2, 6, 4, 8]);
  });

  it('writes tensor and floats attributes, typed int64 initializers, unknown output shapes, names and the producer', () => {
    const graph: GraphSpec = {
      nodes: [
        { op: 'Constant', inputs: [], outputs: ['w'], name: 'weights', attributes: { value: { tensor: { name: 'w', type: 'float32', dims: [2], values: [10, 20], storage: 'typed' } } } },
        { op: 'Constant', inputs: [], outputs: ['f'], attributes: { value_floats: { floats: [0.5, -1] } } },
        { op: 'Add', inputs: ['a', 'w'], outputs: ['t'] },
        { op: 'Mul', inputs: ['t', 'f'], outputs: ['u'] },
        { op: 'Reshape', inputs: ['u', 'shape'], outputs: ['y'] },
      ],
      initializers: [{ name: 'shape', type: 'int64', dims: [1], values: [-1], storage: 'typed' }],
      inputs: [{ name: 'a', type: 'float32', dims: [2] }],
      outputs: [{ name: 'y', type: 'float32' }],
      graphName: 'check',
      producer: { name: 'tests', version: '2' },
      opset: 13,
    };
    expect(run(graph, { a: { data: new Float32Array([1, 2]), dims: [2] } }, 2, [2])).toEqual([5.5, -22]);
  });

  it('refuses values of an element type it has no encoding for', () => {
    const graph: GraphSpec = {
      nodes: [{ op: 'Identity', inputs: ['c'], outputs: ['y'] }],
      initializers: [{ name: 'c', type: 10, dims: [1], values: [1] }],
      inputs: [],
      outputs: [{ name: 'y', type: 10, dims: [1] }],
    };
    expect(() => encodeModel(graph)).toThrow(/no encoding for the values of tensor 'c' \(element type 10\)/);
  });
});
