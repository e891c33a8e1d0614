/**
 * Memory stays flat over many extended backward passes: every pass (forward,
 * then one backward with every extension there is) runs in `tidy`, so all it
 * creates is disposed except what the extensions store on the parameters,
 * which the next pass replaces (and disposes).
 *
 * After a warm-up, the backend's live handle and buffer counts must be exactly
 * the same after every pass, and the process's memory (RSS, JavaScript heap,
 * ArrayBuffers) must not grow. Every kernel ORT has a graph for goes to ORT
 * (`minElements: 0`), so ORT's sessions, arenas and output copies are all
 * exercised.
 *
 * Passes: 1,000 (BACKPACK_MEMORY_PASSES overrides), on a small MLP (the cost
 * of a pass is the ~800 kernel calls into ORT, not their size): 5-30 ms a
 * pass on 2 cores, depending on the machine's load, so 5-30 s.
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
import { expect, it } from 'vitest';
import { OrtBackend } from '../src/index.js';

const PASSES = Number(process.env['BACKPACK_MEMORY_PASSES'] ?? 1000);
const WARM_UP = Math.min(100, Math.floor(PASSES / 5));
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

it(`keeps memory and live buffers flat over ${PASSES} extended backward passes`, () => {
  const backend = new OrtBackend({ minElements: 0, minMatmulMacs: 0 });
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

  const pass = () =>
    tidy(() => {
      const loss = lossFunction.forward(model.forward(x), y);
      backpack(allExtensions(), () => loss.backward());
    });

  for (let i = 0; i < WARM_UP; i++) pass();
  const live = backend.liveCount();
  const buffers = backend.stats().liveBuffers;
  const start = memory();
  const samples = [start];
  const every = Math.max(1, Math.floor((PASSES - WARM_UP) / SAMPLES));
  const started = performance.now();
  for (let i = WARM_UP; i < PASSES; i++) {
    pass();
    // Exactly flat: nothing but the parameters, data and stored quantities stays alive.
    if (backend.liveCount() !== live || backend.stats().liveBuffers !== buffers) {
      throw new Error(`pass ${i}: ${backend.liveCount()} live handles (${backend.stats().liveBuffers} buffers), ${live} (${buffers}) after warm-up`);
    }
    if ((i - WARM_UP + 1) % every === 0) samples.push(memory());
  }
  const msPerPass = (performance.now() - started) / (PASSES - WARM_UP);
  const end = memory();
  const stats = backend.stats();
  const table = samples.map((s) => `${(s.rss / MB).toFixed(1)}/${(s.heapUsed / MB).toFixed(1)}/${(s.arrayBuffers / MB).toFixed(1)}`).join(' ');
  console.log(
    `memory over ${PASSES} passes (${WARM_UP} warm-up, ${msPerPass.toFixed(1)} ms/pass): ${live} live handles, ${buffers} buffers throughout; ` +
      `pool ${stats.pooledBuffers} buffers / ${(stats.pooledBytes / MB).toFixed(2)} MB; ${stats.sessions.sessions} sessions; ` +
      `rss/heap/arrayBuffers MB after warm-up and every ${every} passes: ${table}`,
  );

  // The parameters' quantities are all there (a pass that silently did nothing would be flat too).
  for (const parameter of model.parameters()) {
    expect(parameter.gradBatch?.shape[0]).toBe(batch);
    expect(parameter.kflr).toBeDefined();
    expect(parameter.diagH).toBeDefined();
  }
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
  backend.release();
});
