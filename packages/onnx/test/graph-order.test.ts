/**
 * The order the importer runs a graph's nodes in: a topological order found
 * in time linear in the graph (a chain of 20,000 nodes stored in reverse
 * imports and backpropagates, with the gradient written out by hand), the
 * file's order for sorted graphs, and clear errors for cycles and missing
 * inputs.
 */
import { cpu } from '@backpack-ts/backend-cpu';
import { MSELoss, extend, tensor } from '@backpack-ts/core';
import { describe, expect, it } from 'vitest';
import { importOnnx } from '../src/index.js';
import { buildModel, type NodeSpec } from './helpers/onnx-builder.js';

/** Gemm (weight [3, 2], bias [3]) then `relus` ReLUs: `y = relu(W x + b)`, nodes listed in `order`. */
function gemmThenRelus(relus: number, order: 'file' | 'reversed'): Uint8Array {
  const nodes: NodeSpec[] = [{ op: 'Gemm', inputs: ['x', 'fc.weight', 'fc.bias'], outputs: ['r0'], name: '/fc/Gemm', attrs: { transB: 1 } }];
  for (let i = 1; i <= relus; i++) nodes.push({ op: 'Relu', inputs: [`r${i - 1}`], outputs: [i === relus ? 'y' : `r${i}`], name: `/relu${i}/Relu` });
  if (order === 'reversed') nodes.reverse();
  return buildModel({
    inputs: [{ name: 'x', dims: ['N', 2] }],
    outputs: [{ name: 'y', dims: ['N', 3] }],
    initializers: [
      { name: 'fc.weight', dims: [3, 2], values: [0.5, -0.25, 0.75, 0.125, -0.5, 0.25] },
      { name: 'fc.bias', dims: [3], values: [2, 3, 4] },
    ],
    nodes,
  });
}

describe('graph order', () => {
  it('a chain of 20,000 nodes stored in reverse imports and backpropagates', () => {
    const model = extend(importOnnx(gemmThenRelus(19_999, 'reversed'), { backend: cpu }));
    expect(model.steps).toHaveLength(20_000);
    expect(model.steps[0]!.module.typeName).toBe('Linear');

    const x = [1, -2, 0.5, 1.5];
    const t = [0, 1, 2, 3, 4, 5];
    const loss = extend(new MSELoss()).forward(model.forward(tensor(x, [2, 2], { backend: cpu })), tensor(t, [2, 3], { backend: cpu }));
    loss.backward();

    // Every pre-activation is positive here, so y = W x + b and d mean((y - t)²) / dy = 2 (y - t) / 6.
    const w = [0.5, -0.25, 0.75, 0.125, -0.5, 0.25];
    const b = [2, 3, 4];
    const gradW = new Array<number>(6).fill(0);
    const gradB = new Array<number>(3).fill(0);
    for (let n = 0; n < 2; n++) {
      for (let o = 0; o < 3; o++) {
        const y = w[2 * o]! * x[2 * n]! + w[2 * o + 1]! * x[2 * n + 1]! + b[o]!;
        expect(y).toBeGreaterThan(0);
        const g = (2 * (y - t[3 * n + o]!)) / 6;
        gradB[o]! += g;
        gradW[2 * o]! += g * x[2 * n]!;
        gradW[2 * o + 1]! += g * x[2 * n + 1]!;
      }
    }
    const params = new Map(model.namedParameters());
    Array.from(params.get('fc.weight')!.grad!.toArray()).forEach((v, i) => expect(v).toBeCloseTo(gradW[i]!, 14));
    Array.from(params.get('fc.bias')!.grad!.toArray()).forEach((v, i) => expect(v).toBeCloseTo(gradB[i]!, 14));
  });

  it('a sorted graph keeps the file order; a reversed one gets the same order', () => {
    const paths = (bytes: Uint8Array) => importOnnx(bytes, { backend: cpu }).steps.map((s) => s.module.path);
    const sorted = paths(gemmThenRelus(3, 'file'));
    expect(sorted).toEqual(paths(gemmThenRelus(3, 'reversed')));
    expect(sorted).toHaveLength(4);
  });

  it('a cycle is named', () => {
    const bytes = buildModel({
      inputs: [{ name: 'x', dims: ['N', 2] }],
      outputs: [{ name: 'y', dims: ['N', 2] }],
      nodes: [
        { op: 'Add', inputs: ['x', 'b'], outputs: ['a'], name: 'first' },
        { op: 'Relu', inputs: ['a'], outputs: ['b'], name: 'second' },
        { op: 'Relu', inputs: ['a'], outputs: ['y'], name: 'last' },
      ],
    });
    expect(() => importOnnx(bytes, { backend: cpu })).toThrow("ONNX node 'second' (op Relu): the graph has a cycle through 'a'");
  });
});
