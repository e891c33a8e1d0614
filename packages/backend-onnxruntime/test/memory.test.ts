/**
 * Memory stays flat over many extended backward passes: every pass (forward,
 * then one backward with every extension there is) runs in `tidy`, so all it
 * creates is disposed except what the extensions store on the parameters,
 * which the next pass replaces (and disposes); eagerly, and replayed by a
 * compiled step (one graph per pass, its sessions and outputs included).
 *
 * After a warm-up, the backend's live handle and buffer counts must be exactly
 * the same after every pass, and the process's memory (RSS, JavaScript heap,
 * ArrayBuffers) must not grow. Every kernel ORT has a graph for goes to ORT
 * (`minElements: 0`), so ORT's sessions, arenas and output copies are all
 * exercised.
 *
 * Passes: 1,000 each way (BACKPACK_MEMORY_PASSES overrides), on a small MLP
 * (the cost of an eager pass is the ~800 kernel calls into ORT, not their
 * size): 5-30 ms a pass on 2 cores, depending on the machine's load, so
 * 10-60 s.
 */
import {
  CrossEntropyLoss,
  Generator,
  Linear,
  ReLU,
  Sequential,
  Sigmoid,
  Tanh,
  backpack,
  extend,
  tensor,
  tidy,
  type Extension,
} from '@backpack-ts/core';
import { BatchDiagGGNExact, BatchDiagGGNMC, DiagGGNExact, DiagGGNMC, SqrtGGNExact, SqrtGGNMC } from '@backpack-ts/diag-ggn';
import { BatchDiagHessian, DiagHessian } from '@backpack-ts/diag-hessian';
import { BatchGrad, BatchL2Grad, SumGradSquared, Variance } from '@backpack-ts/first-order';
import { KFAC, KFLR, KFRA } from '@backpack-ts/kronecker';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { doubleBackwardStep } from '@backpack-ts/conformance';
import { expect, it } from 'vitest';
import { OrtBackend, compileStep } from '../src/index.js';

const PASSES = Number(process.env['BACKPACK_MEMORY_PASSES'] ?? 1000);
const SAMPLES = 10;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function allExtensions(): Extension[] {
  return [
    new BatchGrad(),
    new Variance(),
    new SumGradSquared(),
    new BatchL2Grad(),
    new DiagGGNExact(),
    new DiagGGNMC({ seed: 0 }),
    new BatchDiagGGNExact(),
    new BatchDiagGGNMC({ seed: 1 }),
    new SqrtGGNExact(),
    new SqrtGGNMC({ seed: 2 }),
    new DiagHessian(),
    new BatchDiagHessian(),
    new KFAC({ seed: 3 }),
    new KFLR(),
    new KFRA(),
  ];
}

function memory() {
  gc();
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, arrayBuffers: m.arrayBuffers };
}

const MB = 1024 * 1024;

/** The MLP of these tests, its loss, and one batch, on `backend`. */
function problem(backend: OrtBackend) {
  const dtype = 'float32';
  const g = new Generator(0);
  const batch = 8;
  const model = extend(
    new Sequential(
      new Linear(16, 12, { backend, dtype, generator: g }),
      new ReLU(),
      new Linear(12, 12, { backend, dtype, generator: g }),
      new Sigmoid(),
      new Linear(12, 8, { backend, dtype, generator: g }),
      new Tanh(),
      new Linear(8, 10, { backend, dtype, generator: g }),
    ),
  );
  const lossFunction = extend(new CrossEntropyLoss());
  const x = g.normal([batch, 16], { backend, dtype });
  const y = tensor(Array.from({ length: batch }, (_, i) => i % 10), [batch], { backend, dtype: 'int32' });
  const step = () => {
    const loss = lossFunction.forward(model.forward(x), y);
    backpack(allExtensions(), () => loss.backward());
  };
  return { model, batch, step };
}

/**
 * Runs `pass` `passes` times and checks that, after the warm-up, the live
 * handles and buffers are the same after every pass and the process does not
 * grow; returns the milliseconds per pass.
 */
function expectFlat(backend: OrtBackend, label: string, passes: number, pass: () => void): number {
  const warmUp = Math.min(100, Math.floor(passes / 5));
  for (let i = 0; i < warmUp; i++) pass();
  const live = backend.liveCount();
  const buffers = backend.stats().liveBuffers;
  const start = memory();
  const samples = [start];
  const every = Math.max(1, Math.floor((passes - warmUp) / SAMPLES));
  const started = performance.now();
  for (let i = warmUp; i < passes; i++) {
    pass();
    // Exactly flat: nothing but the parameters, data and stored quantities stays alive.
    if (backend.liveCount() !== live || backend.stats().liveBuffers !== buffers) {
      throw new Error(`${label}, pass ${i}: ${backend.liveCount()} live handles (${backend.stats().liveBuffers} buffers), ${live} (${buffers}) after warm-up`);
    }
    if ((i - warmUp + 1) % every === 0) samples.push(memory());
  }
  const msPerPass = (performance.now() - started) / (passes - warmUp);
  const end = memory();
  const stats = backend.stats();
  const table = samples.map((s) => `${(s.rss / MB).toFixed(1)}/${(s.heapUsed / MB).toFixed(1)}/${(s.arrayBuffers / MB).toFixed(1)}`).join(' ');
  console.log(
    `${label}: memory over ${passes} passes (${warmUp} warm-up, ${msPerPass.toFixed(1)} ms/pass): ${live} live handles, ${buffers} buffers throughout; ` +
      `pool ${stats.pooledBuffers} buffers / ${(stats.pooledBytes / MB).toFixed(2)} MB; ${stats.sessions.sessions} sessions; ` +
      `rss/heap/arrayBuffers MB after warm-up and every ${every} passes: ${table}`,
  );
  // Flat after warm-up: allow for allocator noise, not for growth with the number of passes.
  const rssGrowth = (end.rss - start.rss) / MB;
  const heapGrowth = (end.heapUsed - start.heapUsed) / MB;
  const bufferGrowth = (end.arrayBuffers - start.arrayBuffers) / MB;
  expect(heapGrowth, `heap grew by ${heapGrowth.toFixed(1)} MB`).toBeLessThan(8);
  expect(bufferGrowth, `ArrayBuffers grew by ${bufferGrowth.toFixed(1)} MB`).toBeLessThan(4);
  expect(rssGrowth, `RSS grew by ${rssGrowth.toFixed(1)} MB`).toBeLessThan(40);
  // And no upward trend in the second half.
  const half = samples.slice(Math.floor(samples.length / 2));
  const trend = (half[half.length - 1]!.rss - half[0]!.rss) / MB;
  expect(trend, `RSS grew by ${trend.toFixed(1)} MB over the second half`).toBeLessThan(20);
  return msPerPass;
}

it(`keeps memory and live buffers flat over ${PASSES} extended backward passes`, () => {
  const backend = new OrtBackend({ minElements: 0, minMatmulMacs: 0 });
  const { model, batch, step } = problem(backend);
  expectFlat(backend, 'eager', PASSES, () => tidy(step));
  // The parameters' quantities are all there (a pass that silently did nothing would be flat too).
  for (const parameter of model.parameters()) {
    expect(parameter.gradBatch?.shape[0]).toBe(batch);
    expect(parameter.kflr).toBeDefined();
    expect(parameter.diagH).toBeDefined();
  }
  backend.release();
});

it(`keeps memory and live buffers flat over ${PASSES} compiled passes`, () => {
  const backend = new OrtBackend();
  const { model, batch, step } = problem(backend);
  const compiled = compileStep(backend, step);
  expectFlat(backend, 'compiled', PASSES, () => compiled.run());
  // Two sequences: the first pass, and the later ones that add to .grad.
  expect(compiled.stats).toMatchObject({ eager: 2, compiled: 2 });
  for (const parameter of model.parameters()) {
    expect(parameter.gradBatch?.shape[0]).toBe(batch);
    expect(parameter.kflr).toBeDefined();
    expect(parameter.diagH).toBeDefined();
  }
  compiled.dispose();
  backend.release();
});

/**
 * The ownership rule of backward passes: a pass frees what it created except
 * what it stores (and a retained graph is the caller's, freed by the
 * caller's scope); with createGraph it creates into the caller's scope,
 * since the stored gradients' graphs refer to it. Each step runs in tidy
 * and ends with zeroGrad(): a second pass through a retained graph; a
 * gradient penalty by grad() with createGraph; a backward with createGraph
 * whose .grad is differentiated again. Handles and buffers stay exactly flat.
 */
it(`keeps live handles flat over ${PASSES} steps with retainGraph and createGraph`, () => {
  const backend = new OrtBackend({ minElements: 0, minMatmulMacs: 0 });
  const dtype = 'float32';
  const g = new Generator(1);
  const model = new Sequential(
    new Linear(8, 6, { backend, dtype, generator: g }),
    new Tanh(),
    new Linear(6, 4, { backend, dtype, generator: g }),
  );
  const lossFunction = new CrossEntropyLoss();
  const parameters = model.parameters();
  const x = g.normal([5, 8], { backend, dtype });
  const y = tensor([0, 1, 2, 3, 0], [5], { backend, dtype: 'int32' });
  const step = doubleBackwardStep(model, lossFunction, x, y);

  for (let i = 0; i < 12; i++) step(i);
  const live = backend.liveCount();
  const buffers = backend.stats().liveBuffers;
  const started = performance.now();
  for (let i = 0; i < PASSES; i++) {
    step(i);
    if (backend.liveCount() !== live || backend.stats().liveBuffers !== buffers) {
      throw new Error(`step ${i}: ${backend.liveCount()} live handles (${backend.stats().liveBuffers} buffers), ${live} (${buffers}) after warm-up`);
    }
  }
  console.log(`${PASSES} steps with retainGraph/createGraph: ${((performance.now() - started) / PASSES).toFixed(1)} ms/step, ${live} live handles throughout`);
  expect(backend.liveCount()).toBe(parameters.length + 2); // the parameters, x and y
  backend.release();
});
