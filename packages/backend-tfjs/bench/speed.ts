/**
 * Speeds of the tfjs backend on the engine that loads here, next to
 * backend-cpu (float32): matrix products, windows, read-back and whole
 * extended backward passes. Best of several runs per item.
 *
 *   pnpm --filter @backpack-ts/backend-tfjs run bench
 */
import { cpu } from '@backpack-ts/backend-cpu';
import { CrossEntropyLoss, Flatten, Linear, Sequential, Tensor, backpack, extend, sizeOf, tidy, type Backend } from '@backpack-ts/core';
import { BatchGrad, Variance } from '@backpack-ts/first-order';
import { KFAC } from '@backpack-ts/kronecker';
import { loadTfjsBackend } from '../src/index.js';

const tfjs = await loadTfjsBackend();
console.log(`engine: ${tfjs.name}${tfjs.skipped.map((s) => `; ${s.engine} skipped: ${s.reason.slice(0, 80)}`).join('')}`);

function best(run: () => void, repeats: number): number {
  run();
  let min = Infinity;
  for (let r = 0; r < repeats; r++) {
    const started = performance.now();
    run();
    min = Math.min(min, performance.now() - started);
  }
  return min;
}

function random(n: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.random() - 0.5;
  return out;
}

function matmulRow(backend: Backend, label: string, aShape: number[], bShape: number[], transA: boolean, transB: boolean, repeats = 5): string {
  const a = backend.fromData(random(sizeOf(aShape)), aShape, 'float32');
  const b = backend.fromData(random(sizeOf(bShape)), bShape, 'float32');
  const batch = Math.max(aShape[0]!, bShape[0]!);
  const m = transA ? aShape[2]! : aShape[1]!;
  const k = transA ? aShape[1]! : aShape[2]!;
  const n = transB ? bShape[1]! : bShape[2]!;
  const ms = best(() => backend.dispose(backend.matmul(a, aShape, b, bShape, transA, transB, 'float32')), repeats);
  backend.dispose(a);
  backend.dispose(b);
  return `${label.padEnd(44)} ${ms.toFixed(1).padStart(8)} ms ${((2 * batch * m * n * k) / ms / 1e6).toFixed(1).padStart(6)} GFLOP/s`;
}

console.log('\nmatmul (float32)');
for (const backend of [tfjs, cpu] as Backend[]) {
  const name = backend.name;
  console.log(matmulRow(backend, `${name}: 1024^3`, [1, 1024, 1024], [1, 1024, 1024], false, false));
  console.log(matmulRow(backend, `${name}: 1024^3, transA`, [1, 1024, 1024], [1, 1024, 1024], true, false));
  console.log(matmulRow(backend, `${name}: 1024^3, transB`, [1, 1024, 1024], [1, 1024, 1024], false, true));
  console.log(matmulRow(backend, `${name}: [64] x 64^3 (real batch)`, [64, 64, 64], [64, 64, 64], false, false));
  console.log(matmulRow(backend, `${name}: [512, 10, 784] @ [1, 784, 10]`, [512, 10, 784], [1, 784, 10], false, false));
  console.log(matmulRow(backend, `${name}: [512, 10, 1] @ [512, 1, 784] (k = 1)`, [512, 10, 1], [512, 1, 784], false, false));
}

console.log('\nunfold / fold, [64, 16, 32, 32], 3x3, padding 1 (9.4 M column entries)');
const window = { kernel: [3, 3], stride: [1, 1], padding: [1, 1], dilation: [1, 1] };
for (const backend of [tfjs, cpu] as Backend[]) {
  const shape = [64, 16, 32, 32];
  const x = backend.fromData(random(64 * 16 * 32 * 32), shape, 'float32');
  const unfoldMs = best(() => backend.dispose(backend.unfold(x, shape, window, 'float32')), 3);
  const cols = backend.unfold(x, shape, window, 'float32');
  const foldMs = best(() => backend.dispose(backend.fold(cols, [64, 144, 1024], [32, 32], window, 'float32')), 3);
  console.log(`${backend.name.padEnd(14)} unfold ${unfoldMs.toFixed(1).padStart(7)} ms, fold ${foldMs.toFixed(1).padStart(7)} ms`);
  backend.dispose(x);
  backend.dispose(cols);
}

console.log('\nread back 16 MB (4 M float32)');
{
  const h = tfjs.fromData(random(4 * 1024 * 1024), [4 * 1024 * 1024], 'float32');
  console.log(`${tfjs.name}: ${best(() => void tfjs.read(h, [4 * 1024 * 1024], 'float32'), 5).toFixed(1)} ms`);
  tfjs.dispose(h);
}

console.log('\none extended backward pass: Linear(784, 10), batch 512, CrossEntropyLoss (the seed example)');
for (const backend of [tfjs, cpu] as Backend[]) {
  const options = { backend, dtype: 'float32' as const };
  const model = extend(new Sequential(new Flatten(), new Linear(784, 10, options)));
  const lossFunction = extend(new CrossEntropyLoss());
  const xHandle = backend.fromData(random(512 * 784), [512, 784], 'float32');
  const x = new Tensor(backend, xHandle, [512, 784], 'float32');
  const y = new Tensor(backend, backend.fromData(Array.from({ length: 512 }, (_, i) => i % 10), [512], 'int32'), [512], 'int32');
  for (const [label, extensions] of [
    ['gradient only', () => []],
    ['BatchGrad + Variance', () => [new BatchGrad(), new Variance()]],
    ['KFAC', () => [new KFAC({ seed: 0 })]],
  ] as const) {
    const ms = best(() => tidy(() => {
      const loss = lossFunction.forward(model.forward(x), y);
      backpack(extensions(), () => loss.backward());
      loss.item();
    }), 5);
    console.log(`${backend.name.padEnd(14)} ${label.padEnd(24)} ${ms.toFixed(1).padStart(7)} ms`);
  }
}
