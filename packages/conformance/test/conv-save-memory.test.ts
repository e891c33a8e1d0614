/**
 * The convolutions' memory mode (`convSaveMemory`, BackPACK's
 * `weight_jac_t_save_memory`): a convolution weight's per-sample products
 * are built a chunk of samples at a time, and the quantities equal those of
 * the default mode. The networks are large enough for several chunks.
 */
import { cpu } from '@backpack-ts/backend-cpu';
import { CHUNK_ENTRIES, backpack, type Extension, type Tensor } from '@backpack-ts/core';
import { BatchDiagGGNExact, BatchDiagGGNMC, DiagGGNExact, DiagGGNMC, SqrtGGNExact, SqrtGGNMC } from '@backpack-ts/diag-ggn';
import { BatchGrad } from '@backpack-ts/first-order';
import { describe, expect, it } from 'vitest';
import { buildSupportedGoldenModel, syntheticGoldenCase } from '../src/index.js';

/** Conv2d(64, 128, 3) on 3x3 inputs, then a Linear to 10 classes. */
function network(batch: number) {
  const layers = [{ type: 'Conv2d', in: 64, out: 128, kernel: 3 }, { type: 'Tanh' }, { type: 'Flatten' }, { type: 'Linear', in: 128, out: 10 }];
  return syntheticGoldenCase({ name: 'conv memory', layers, loss: { type: 'CrossEntropyLoss' }, batch, inputShape: [64, 3, 3] }, 3, cpu);
}
const WEIGHT = 128 * 64 * 9;

function run(golden: ReturnType<typeof network>, extension: Extension): Tensor[] {
  const built = buildSupportedGoldenModel(golden, { backend: cpu, dtype: 'float64' });
  const loss = built.loss.forward(built.model.forward(built.input), built.target);
  backpack([extension], () => loss.backward());
  return built.model.parameters().map((p) => (p as unknown as Record<string, Tensor>)[extension.savefield]!);
}

function expectSame(a: readonly Tensor[], b: readonly Tensor[]): void {
  a.forEach((t, k) => {
    expect(t.shape).toEqual(b[k]!.shape);
    const [x, y] = [t.toArray(), b[k]!.toArray()];
    let [scale, worst] = [0, 0];
    for (let i = 0; i < y.length; i++) scale = Math.max(scale, Math.abs(y[i]!));
    for (let i = 0; i < y.length; i++) worst = Math.max(worst, Math.abs(x[i]! - y[i]!));
    expect(worst).toBeLessThanOrEqual(1e-12 * scale);
  });
}

describe('convSaveMemory', () => {
  const ggn = network(12); // 10 columns x 73728 entries per sample: chunks of 5 samples
  it.each([
    ['DiagGGNExact', () => new DiagGGNExact(), () => new DiagGGNExact({ convSaveMemory: true })],
    ['BatchDiagGGNExact', () => new BatchDiagGGNExact(), () => new BatchDiagGGNExact({ convSaveMemory: true })],
    ['SqrtGGNExact', () => new SqrtGGNExact(), () => new SqrtGGNExact({ convSaveMemory: true })],
    ['DiagGGNMC', () => new DiagGGNMC({ seed: 1, mcSamples: 10 }), () => new DiagGGNMC({ seed: 1, mcSamples: 10, convSaveMemory: true })],
    ['BatchDiagGGNMC', () => new BatchDiagGGNMC({ seed: 1, mcSamples: 10 }), () => new BatchDiagGGNMC({ seed: 1, mcSamples: 10, convSaveMemory: true })],
    ['SqrtGGNMC', () => new SqrtGGNMC({ seed: 1, mcSamples: 10 }), () => new SqrtGGNMC({ seed: 1, mcSamples: 10, convSaveMemory: true })],
  ] as const)('%s equals the default mode, over several chunks', (_, plain, saving) => {
    expect(Math.floor(CHUNK_ENTRIES / (10 * WEIGHT))).toBeLessThan(12 / 2);
    expectSame(run(ggn, saving()), run(ggn, plain()));
  });

  it('BatchGrad equals the default mode, over several chunks', () => {
    const batch = network(120); // 73728 entries per sample: chunks of 56 samples
    expectSame(run(batch, new BatchGrad({ convSaveMemory: true })), run(batch, new BatchGrad()));
  });
});
