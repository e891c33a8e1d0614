/**
 * The importer orders the graph's nodes topologically in linear time: a
 * chain of 20,000 nodes listed in reverse order (ONNX requires sorted
 * graphs, but files are untrusted) imports in the chain's order (with the
 * former passes over the pending nodes this took 15 s; the test checks the
 * result, not the time). On random graphs in random order the order is
 * the one those passes give, computed here the slow way as a reference.
 */
import { cpu } from '@backpack-ts/backend-cpu';
import { MSELoss, extend, relu, tensor } from '@backpack-ts/core';
import { describe, expect, it } from 'vitest';
import { importOnnx, type NodeProto } from '../src/index.js';
import { graphOrder } from '../src/import/graph-order.js';
import { buildModel, init, type NodeSpec } from './helpers/onnx-builder.js';

describe('graph order', () => {
  it('sorts a chain of 20,000 nodes given in reverse order', () => {
    const count = 20_000;
    const value = (i: number) => (i === 0 ? 'x' : i === count ? 'y' : `v${i}`);
    const chain: NodeSpec[] = Array.from({ length: count }, (_, i) =>
      i === count - 1
        ? { op: 'Gemm', inputs: [value(i), 'w'], outputs: [value(i + 1)], name: `n${i}`, attrs: { transB: 1 } }
        : { op: i % 2 === 0 ? 'Relu' : 'Identity', inputs: [value(i)], outputs: [value(i + 1)], name: `n${i}` },
    );
    const bytes = buildModel({
      inputs: [{ name: 'x', dims: ['N', 3] }],
      outputs: [{ name: 'y', dims: ['N', 2] }],
      initializers: [init('w', [2, 3], 1)],
      nodes: chain.reverse(),
    });
    const model = importOnnx(bytes, { backend: cpu });
    // Every Relu in the chain's order, then the Linear; the Identity nodes are aliases.
    expect(model.steps.map((s) => s.nodes)).toEqual([
      ...Array.from({ length: count / 2 }, (_, k) => `'n${2 * k}' (Relu)`),
      `'n${count - 1}' (Gemm)`,
    ]);
    const x = tensor([-1, 2, -3, 4, -5, 6], [2, 3], { backend: cpu, dtype: 'float64' });
    const w = new Map(model.namedParameters()).get('w')!.data;
    const expected = relu(x).toArray();
    const wv = w.toArray();
    const y = Array.from(model.forward(x).toArray());
    for (let n = 0; n < 2; n++) {
      for (let o = 0; o < 2; o++) {
        let s = 0;
        for (let i = 0; i < 3; i++) s += expected[n * 3 + i]! * wv[o * 3 + i]!;
        expect(y[n * 2 + o]).toBeCloseTo(s, 12);
      }
    }
  });

  it('gives the order of passes over the pending nodes in file order, on random graphs listed in random order', () => {
    let state = 2024;
    const random = () => (state = (state * 1103515245 + 12345) % 2147483648) / 2147483648;
    for (let trial = 0; trial < 50; trial++) {
      const count = 1 + Math.floor(random() * 60);
      const nodes: NodeProto[] = Array.from({ length: count }, (_, i) => ({
        name: `n${i}`,
        opType: 'Add',
        domain: '',
        // Inputs among the graph input, an initializer and earlier nodes' outputs (a node may use one twice).
        input: Array.from({ length: 1 + Math.floor(random() * 3) }, () => {
          const from = Math.floor(random() * (i + 2)) - 2;
          return from === -2 ? 'x' : from === -1 ? 'w' : `v${from}`;
        }),
        output: [`v${i}`],
        attribute: [],
      }));
      const shuffled = [...nodes].sort(() => random() - 0.5);
      const outputs = [`v${count - 1}`, `v${Math.floor(random() * count)}`];
      const available = new Set(['x', 'w']);
      expect(graphOrder(shuffled, available, outputs).map((n) => n.name)).toEqual(passes(shuffled, available, outputs).map((n) => n.name));
    }
  });

  it('names a cycle or an input nobody produces', () => {
    const node = (name: string, input: string[], output: string): NodeProto => ({ name, opType: 'Relu', domain: '', input, output: [output], attribute: [] });
    expect(() => graphOrder([node('a', ['v2'], 'v1'), node('b', ['v1'], 'v2'), node('c', ['v2'], 'y')], new Set(['x']), ['y'])).toThrow(
      "ONNX node 'a' (op Relu): the graph has a cycle through 'v2'",
    );
    expect(() => graphOrder([node('a', ['x', 'nope'], 'v1'), node('b', ['v1'], 'y')], new Set(['x']), ['y'])).toThrow(
      "ONNX node 'a' (op Relu): input 'nope' is not produced by any node, initializer or graph input",
    );
    expect(() => graphOrder([node('a', ['x'], 'v'), node('b', ['x'], 'v')], new Set(['x']), ['v'])).toThrow(
      "ONNX node 'b' (op Relu): value 'v' is produced twice (the graph is not valid ONNX)",
    );
  });
});

/** The live nodes in the order of passes over the pending ones in file order, each taking every node ready by then. */
function passes(nodes: readonly NodeProto[], available: ReadonlySet<string>, outputs: readonly string[]): NodeProto[] {
  const producer = new Map(nodes.flatMap((n) => n.output.map((o): [string, NodeProto] => [o, n])));
  const live = new Set<NodeProto>();
  const visit = (name: string): void => {
    const node = producer.get(name);
    if (node === undefined || live.has(node)) return;
    live.add(node);
    node.input.forEach(visit);
  };
  outputs.forEach(visit);
  const done = new Set(available);
  const order: NodeProto[] = [];
  let pending = nodes.filter((n) => live.has(n));
  while (pending.length > 0) {
    const waiting: NodeProto[] = [];
    for (const node of pending) {
      if (node.input.every((i) => done.has(i))) {
        order.push(node);
        node.output.forEach((o) => done.add(o));
      } else waiting.push(node);
    }
    if (waiting.length === pending.length) throw new Error('not a DAG');
    pending = waiting;
  }
  return order;
}

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

describe('graph order through the whole import', () => {
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
});
