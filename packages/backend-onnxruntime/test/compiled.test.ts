/**
 * Compiled steps: the golden suite through them (traced, then replayed as
 * one graph) at the kit's tolerances, and what a step does when its
 * sequence of kernels changes, reads a value it computed, throws, draws
 * random numbers or runs with new parameters: always the eager results.
 */
import { assertConformance, formatConformanceReport, runBackendConformance, type RunPass } from '@backpack-ts/conformance';
import {
  Conv2d,
  CrossEntropyLoss,
  Flatten,
  Generator,
  Linear,
  MaxPool2d,
  ReLU,
  Sequential,
  Tanh,
  backpack,
  div,
  extend,
  sub,
  tensor,
  tidy,
  type Extension,
  type FloatDType,
  type Module,
  type Parameter,
  type Quantity,
  type Tensor,
} from '@backpack-ts/core';
import { DiagGGNMC } from '@backpack-ts/diag-ggn';
import { BatchGrad, SumGradSquared, Variance } from '@backpack-ts/first-order';
import { KFAC, KFLR } from '@backpack-ts/kronecker';
import { afterAll, describe, expect, it } from 'vitest';
import { OrtBackend, compileStep } from '../src/index.js';
import { unexpectedGoldenSkips } from './helpers/golden-skips.js';

const summaries: string[] = [];
afterAll(() => console.log(summaries.join('\n')));

describe.each(['float32', 'float64'] as const)('the golden suite through compiled steps, %s', (dtype) => {
  const backend = new OrtBackend();
  afterAll(() => backend.release());

  it('gives every quantity of every case from the replayed graph, within the kit tolerance', () => {
    const notReplayed: string[] = [];
    const runPass: RunPass = (pass, model) => {
      const step = compileStep(backend, pass);
      step.run(); // traced
      model.zeroGrad();
      step.run(); // replayed: these are the results compared
      if (step.reason !== undefined) notReplayed.push(step.reason);
      step.dispose();
    };
    const report = runBackendConformance(backend, { dtype, kernels: false, golden: { runPass } });
    summaries.push(`[compiled] ${formatConformanceReport(report)}`);
    assertConformance(report);
    expect(unexpectedGoldenSkips(report.skipped)).toEqual([]);
    expect(report.checks.length).toBeGreaterThan(500);
    expect(notReplayed).toEqual([]);
  });
});

/** Every tensor field of every parameter (`.grad` and each extension's), as arrays. */
function quantities(model: Module, extensions: readonly Extension[]): Record<string, number[][]> {
  const result: Record<string, number[][]> = {};
  for (const [name, parameter] of model.namedParameters()) {
    const fields = parameter as unknown as Record<string, Quantity | undefined>;
    for (const field of ['grad', ...extensions.map((e) => e.savefield)]) {
      const value = fields[field];
      const tensors = value === undefined ? [] : Array.isArray(value) ? (value as Tensor[]) : [value as Tensor];
      result[`${name} ${field}`] = tensors.map((t) => Array.from(t.toArray()));
    }
  }
  return result;
}

function expectClose(actual: Record<string, number[][]>, expected: Record<string, number[][]>, tolerance: number): void {
  expect(Object.keys(actual)).toEqual(Object.keys(expected));
  for (const [key, tensors] of Object.entries(expected)) {
    expect(actual[key]!.length, key).toBe(tensors.length);
    tensors.forEach((values, i) => {
      const scale = Math.max(...values.map(Math.abs), Number.MIN_VALUE);
      const worst = Math.max(0, ...values.map((v, j) => Math.abs(actual[key]![i]![j]! - v) / scale));
      expect(worst, `${key}[${i}]`).toBeLessThanOrEqual(tolerance);
    });
  }
}

/** A small CNN and MLP on one backend, built the same way for every call with the same seed. */
function problem(backend: OrtBackend, dtype: FloatDType, seed = 0) {
  const g = new Generator(seed);
  const options = { backend, dtype, generator: g };
  const model = extend(
    new Sequential(new Conv2d(1, 4, 3, { ...options, padding: 1 }), new ReLU(), new MaxPool2d(2), new Flatten(), new Linear(36, 8, options), new Tanh(), new Linear(8, 3, options)),
  );
  const lossFunction = extend(new CrossEntropyLoss());
  const batch = (n: number) => ({
    x: g.normal([n, 1, 6, 6], { backend, dtype }),
    y: tensor(Array.from({ length: n }, (_, i) => (i * 7) % 3), [n], { backend, dtype: 'int32' }),
  });
  return { model, lossFunction, batch };
}

describe('a compiled step', () => {
  const backend = new OrtBackend();
  const dtype = 'float64';
  const TOLERANCE = 1e-10;
  afterAll(() => backend.release());

  it('draws Monte-Carlo samples as in eager mode, step after step, from generators that persist', () => {
    const eager = problem(backend, dtype);
    const compiled = problem(backend, dtype);
    const extensions = (): Extension[] => [new KFAC({ seed: 5 }), new DiagGGNMC({ seed: 6, mcSamples: 2 })];
    const [eagerExtensions, compiledExtensions] = [extensions(), extensions()];
    const data = eager.batch(5);
    const pass = (p: typeof eager, exts: readonly Extension[]) => () => {
      const loss = p.lossFunction.forward(p.model.forward(data.x), data.y);
      backpack(exts, () => loss.backward());
      return loss;
    };
    const step = compileStep(backend, pass(compiled, compiledExtensions));
    for (let i = 0; i < 4; i++) {
      eager.model.zeroGrad();
      compiled.model.zeroGrad();
      tidy(pass(eager, eagerExtensions));
      step.run();
      expectClose(quantities(compiled.model, compiledExtensions), quantities(eager.model, eagerExtensions), TOLERANCE);
    }
    expect(step.stats).toEqual({ replayed: 3, eager: 1, compiled: 1 });
  });

  it('keeps a graph per batch size and per extension set, and falls back to eager mode where the calls diverge', () => {
    const { model, lossFunction, batch } = problem(backend, dtype);
    const reference = problem(backend, dtype);
    const batches = [batch(4), batch(6)];
    let extensions: Extension[] = [new BatchGrad()];
    const pass = (m: Module, l: typeof lossFunction, b: { x: Tensor; y: Tensor }) => {
      const loss = l.forward(m.forward(b.x), b.y);
      backpack(extensions, () => loss.backward());
      return loss;
    };
    const step = compileStep(backend, (b: { x: Tensor; y: Tensor }) => pass(model, lossFunction, b));
    const check = (b: { x: Tensor; y: Tensor }) => {
      model.zeroGrad();
      reference.model.zeroGrad();
      step.run(b);
      tidy(() => pass(reference.model, reference.lossFunction, b));
      expectClose(quantities(model, extensions), quantities(reference.model, extensions), TOLERANCE);
    };
    check(batches[0]!); // traced
    check(batches[1]!); // another batch size: differs from the first call on, traced
    check(batches[0]!);
    check(batches[1]!);
    expect(step.stats).toEqual({ replayed: 2, eager: 2, compiled: 2 });
    // Another extension set: the forward pass replays, then the calls diverge; computed eagerly from there, and compiled.
    extensions = [new SumGradSquared(), new Variance()];
    check(batches[0]!);
    expect(step.reason).toMatch(/traced/);
    check(batches[0]!);
    expect(step.reason).toBeUndefined();
    expect(step.stats).toEqual({ replayed: 3, eager: 3, compiled: 3 });
  });

  it('uses the parameters of each run, as an optimizer replaces them', () => {
    const { model, lossFunction, batch } = problem(backend, dtype);
    const reference = problem(backend, dtype);
    const data = batch(4);
    const extensions = [new KFLR()];
    const pass = (m: Module, l: typeof lossFunction) => () => {
      const loss = l.forward(m.forward(data.x), data.y);
      backpack(extensions, () => loss.backward());
      return loss;
    };
    const step = compileStep(backend, pass(model, lossFunction));
    const sgd = (m: Module) => {
      for (const parameter of m.parameters()) {
        const previous = parameter.data;
        parameter.data = tidy(() => sub(previous, div(parameter.grad!, 10)));
        previous.dispose();
      }
    };
    for (let i = 0; i < 3; i++) {
      model.zeroGrad();
      reference.model.zeroGrad();
      const loss = step.run().item();
      const expected = tidy(() => pass(reference.model, reference.lossFunction)().item());
      expect(Math.abs(loss - expected)).toBeLessThan(TOLERANCE);
      expectClose(quantities(model, extensions), quantities(reference.model, extensions), TOLERANCE);
      sgd(model);
      sgd(reference.model);
    }
    expect(step.stats.replayed).toBe(2);
  });

  it('runs eagerly, saying why, when the step reads a value it computed', () => {
    const { model, lossFunction, batch } = problem(backend, dtype);
    const data = batch(3);
    const step = compileStep(backend, () => {
      const loss = lossFunction.forward(model.forward(data.x), data.y);
      const value = loss.item();
      loss.backward();
      return value;
    });
    const first = step.run();
    model.zeroGrad();
    expect(step.run()).toBe(first);
    expect(step.reason).toMatch(/reads a value it computed/);
    expect(step.stats).toEqual({ replayed: 0, eager: 2, compiled: 0 });
  });

  it('runs eagerly, saying why, for int32 arithmetic the graph does not express', () => {
    const indices = tensor([5, 7, 9], [3], { backend, dtype: 'int32' });
    const step = compileStep(backend, () => div(indices, 2));
    expect(Array.from(step.run().toArray())).toEqual([2, 3, 4]);
    expect(step.reason).toMatch(/'div' to int32/);
  });

  it('leaves what it computed before a throw as eager mode would, and the live handles as they were', () => {
    const { model, lossFunction, batch } = problem(backend, dtype);
    const data = batch(3);
    let fail = false;
    let forward: Tensor | undefined;
    const step = compileStep(backend, () => {
      forward = model.forward(data.x);
      if (fail) throw new Error('stop');
      const loss = lossFunction.forward(forward, data.y);
      loss.backward();
      return loss;
    });
    tidy(() => step.run());
    model.zeroGrad();
    const live = backend.liveCount();
    fail = true;
    expect(() => step.run()).toThrow('stop');
    // The forward output existed, computed, until the step's scope disposed it.
    expect(forward!.isDisposed).toBe(true);
    expect(backend.liveCount()).toBe(live);
    fail = false;
    const loss = step.run().item();
    expect(Number.isFinite(loss)).toBe(true);
  });

  it('keeps live handles flat over many runs', () => {
    const { model, lossFunction, batch } = problem(backend, 'float32');
    const data = batch(8);
    const parameters: Parameter[] = model.parameters();
    const step = compileStep(backend, () => {
      const loss = lossFunction.forward(model.forward(data.x), data.y);
      backpack([new BatchGrad(), new KFAC({ seed: 1 })], () => loss.backward());
      return loss;
    });
    const run = () => {
      model.zeroGrad();
      tidy(() => step.run().item());
    };
    run();
    run();
    const live = backend.liveCount();
    const buffers = backend.stats().liveBuffers;
    for (let i = 0; i < 50; i++) run();
    expect(backend.liveCount()).toBe(live);
    expect(backend.stats().liveBuffers).toBe(buffers);
    expect(step.stats.replayed).toBe(51);
    for (const parameter of parameters) expect(parameter.kfac!.every((factor) => factor.toArray().every(Number.isFinite))).toBe(true);
  });
});
