/**
 * Time per kernel of one extended backward pass (development aid):
 *   pnpm exec tsx bench/profile.ts
 */
import { CrossEntropyLoss, Flatten, Linear, Sequential, Tensor, backpack, extend, tidy } from '@backpack-ts/core';
import { BatchGrad, Variance } from '@backpack-ts/first-order';
import { loadTfjsBackend } from '../src/index.js';

const backend = await loadTfjsBackend();
const times: Record<string, [number, number]> = {};
const kernels = ['fromData', 'full', 'reshape', 'permute', 'slice', 'concat', 'pad', 'cast', 'unary', 'binary', 'binaryScalar', 'reduce', 'matmul', 'unfold', 'fold', 'argmax', 'softmax', 'logSoftmax', 'oneHot', 'read'] as const;
for (const k of kernels) {
  const original = (backend[k] as (...args: unknown[]) => unknown).bind(backend);
  (backend as unknown as Record<string, unknown>)[k] = (...args: unknown[]) => {
    const started = performance.now();
    const result = original(...args);
    const key = typeof args[0] === 'string' ? `${k}:${args[0]} ${JSON.stringify(args[2])}` : `${k} ${JSON.stringify(args[1])}`;
    const entry = (times[key] ??= [0, 0]);
    entry[0] += 1;
    entry[1] += performance.now() - started;
    return result;
  };
}
const options = { backend, dtype: 'float32' as const };
const model = extend(new Sequential(new Flatten(), new Linear(784, 10, options)));
const lossFunction = extend(new CrossEntropyLoss());
const x = new Tensor(backend, backend.fromData(Float32Array.from({ length: 512 * 784 }, Math.random), [512, 784], 'float32'), [512, 784], 'float32');
const y = new Tensor(backend, backend.fromData(Array.from({ length: 512 }, (_, i) => i % 10), [512], 'int32'), [512], 'int32');
const pass = () => tidy(() => {
  const loss = lossFunction.forward(model.forward(x), y);
  backpack([new BatchGrad(), new Variance()], () => loss.backward());
});
pass();
for (const key of Object.keys(times)) delete times[key];
pass();
for (const [key, [n, ms]] of Object.entries(times).sort((a, b) => b[1][1] - a[1][1]).slice(0, 15)) console.log(ms.toFixed(2).padStart(8), 'ms', String(n).padStart(3), key);
