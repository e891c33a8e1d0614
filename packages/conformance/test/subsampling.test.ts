/**
 * BackPACK's `subsampling` (BatchGrad, SqrtGGNExact, SqrtGGNMC, as BackPACK
 * 1.6): the quantities of the chosen samples, in their order, equal to the
 * rows of the full computation (Monte-Carlo: to a run on those samples
 * alone, same seed, rescaled to the whole batch's mean), computed for those
 * samples only.
 */
import { cpu } from '@backpack-ts/backend-cpu';
import { EXTENSIONS } from '@backpack-ts/catalog';
import { Linear, backpack, manualSeed, selectIndices, type Extension, type Tensor } from '@backpack-ts/core';
import { SqrtGGNExact, SqrtGGNMC } from '@backpack-ts/diag-ggn';
import { BatchGrad } from '@backpack-ts/first-order';
import { describe, expect, it } from 'vitest';
import { buildSupportedGoldenModel, syntheticGoldenCase, type GoldenCase } from '../src/index.js';

const S = [4, 0, 4, 2];

const golden = syntheticGoldenCase(
  {
    name: 'subsampling',
    layers: [
      { type: 'Conv2d', in: 1, out: 2, kernel: 2 },
      { type: 'BatchNorm2d', features: 2 },
      { type: 'Tanh' },
      { type: 'Dropout', p: 0.3 },
      { type: 'Flatten' },
      { type: 'Linear', in: 8, out: 3 },
    ],
    loss: { type: 'CrossEntropyLoss' },
    batch: 5,
    inputShape: [1, 3, 3],
  },
  6,
  cpu,
);

/** Runs `extension` (Dropout in training mode, its mask drawn from a reseeded default generator); returns the quantities by parameter. */
function run(extension: Extension, rows?: readonly number[], source: GoldenCase = golden): Map<string, Tensor> {
  const built = buildSupportedGoldenModel(source, { backend: cpu, dtype: 'float64' });
  built.model.layers[3]!.train();
  manualSeed(11);
  const [input, target] = rows === undefined ? [built.input, built.target] : [selectIndices(built.input, 0, rows), selectIndices(built.target, 0, rows)];
  const loss = built.loss.forward(built.model.forward(input), target);
  backpack([extension], () => loss.backward());
  return new Map(built.model.namedParameters().map(([name, p]) => [name, (p as unknown as Record<string, Tensor>)[extension.savefield]!]));
}

const values = (t: Tensor) => Array.from(t.toArray());

describe('subsampling', () => {
  it('BatchGrad: the rows of the full individual gradients, in the given order', () => {
    const full = run(new BatchGrad());
    for (const [name, sub] of run(new BatchGrad({ subsampling: S }))) {
      expect(sub.shape[0]).toBe(S.length);
      values(sub).forEach((v, i) => expect(v).toBeCloseTo(values(selectIndices(full.get(name)!, 0, S))[i]!, 13));
    }
  });

  it('SqrtGGNExact: the columns of the full square root of those samples', () => {
    const full = run(new SqrtGGNExact());
    for (const [name, sub] of run(new SqrtGGNExact({ subsampling: S }))) {
      expect(sub.shape[1]).toBe(S.length);
      values(sub).forEach((v, i) => expect(v).toBeCloseTo(values(selectIndices(full.get(name)!, 1, S))[i]!, 13));
    }
  });

  it('SqrtGGNMC: draws for the chosen samples only, scaled to the whole batch', () => {
    // Without Dropout, so that a run on the chosen samples alone sees the same network.
    const deterministic: GoldenCase = { ...golden, case: { ...golden.case, layers: golden.case.layers.map((l) => (l.type === 'Dropout' ? { type: 'Identity' } : l)) } };
    const chosen = [3, 1];
    const sub = run(new SqrtGGNMC({ subsampling: chosen, seed: 5, mcSamples: 3 }), undefined, deterministic);
    const alone = run(new SqrtGGNMC({ seed: 5, mcSamples: 3 }), chosen, deterministic);
    // The same draws; the mean over 2 samples alone is rescaled to the mean over the batch of 5.
    const scale = Math.sqrt(chosen.length / golden.case.batch);
    for (const [name, t] of sub) {
      expect(t.shape.slice(0, 2)).toEqual([3, 2]);
      values(t).forEach((v, i) => expect(v).toBeCloseTo(values(alone.get(name)!)[i]! * scale, 13));
    }
  });

  it('computes for the chosen samples only', () => {
    const widths: number[] = [];
    const original = Linear.prototype.paramJacTMatProd;
    Linear.prototype.paramJacTMatProd = function (this: Linear, ...args: Parameters<Linear['paramJacTMatProd']>) {
      widths.push(args[2].shape[1]!);
      return original.apply(this, args);
    };
    try {
      run(new BatchGrad({ subsampling: [1, 2] }));
    } finally {
      Linear.prototype.paramJacTMatProd = original;
    }
    // .grad for the whole batch (5), the individual gradients for the 2 chosen samples.
    expect(widths.sort()).toEqual([2, 2, 5, 5]);
  });

  it('refuses indices beyond the batch, malformed lists, and extensions BackPACK gives no subsampling', () => {
    expect(() => run(new BatchGrad({ subsampling: [5] }))).toThrow('BatchGrad: subsampling index 5 is out of range for a batch of 5 samples');
    expect(() => new SqrtGGNExact({ subsampling: [] })).toThrow('SqrtGGNExact: subsampling must be a non-empty list of sample indices (non-negative integers), got []');
    expect(() => new SqrtGGNMC({ subsampling: [0.5] })).toThrow(/SqrtGGNMC: subsampling must be a non-empty list/);
    for (const name of ['Variance', 'SumGradSquared', 'BatchL2Grad', 'DiagGGNExact', 'BatchDiagGGNExact', 'BatchDiagGGNMC', 'BatchDiagHessian', 'KFLR']) {
      const make = EXTENSIONS.get(name)!.create().constructor as new (options: object) => unknown;
      expect(() => new make({ subsampling: [0] }), name).toThrow(`${name}: unknown option 'subsampling'`);
    }
  });
});
