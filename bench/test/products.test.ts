/**
 * The product configurations compute what they claim, on the seed workload
 * (Flatten and Linear with CrossEntropyLoss 'mean') in float64, against the
 * product written out by hand: output `f_n = W x_n + b`, loss Hessian
 * `H_n = (diag p_n − p_n p_nᵀ) / N`, and for vectors `(V, v)` the product
 * `Σ_n H_n u_n x_nᵀ` (weight) and `Σ_n H_n u_n` (bias) with
 * `u_n = V x_n + v`. The model is linear in its parameters, so the GGN and
 * the Hessian are this same matrix.
 */
import { cpu } from '@backpack-ts/backend-cpu';
import { Generator, softmax } from '@backpack-ts/core';
import { describe, expect, it } from 'vitest';
import { runStep } from '../src/measure.js';
import { makeProduct } from '../src/products.js';
import { buildWorkload } from '../src/workloads.js';

describe('Hessian-free product configurations', () => {
  const workload = buildWorkload('seed', { backend: cpu, dtype: 'float64', batchSize: 3 });

  /** The product by hand, with the vectors drawn as `makeProduct` draws them (seed 0, in parameter order). */
  function byHand(): number[][] {
    const [weight, bias] = workload.model.parameters();
    const generator = new Generator(0);
    const [vw, vb] = [weight!, bias!].map((p) => Array.from(generator.normal(p.data.shape, { backend: cpu, dtype: 'float64' }).toArray()));
    const [classes, features] = weight!.data.shape as [number, number];
    const n = workload.batchSize;
    const x = Array.from(workload.inputs.toArray());
    const p = Array.from(softmax(workload.model.forward(workload.inputs), 1).toArray());
    const productW = new Array<number>(classes * features).fill(0);
    const productB = new Array<number>(classes).fill(0);
    for (let s = 0; s < n; s++) {
      const xs = x.slice(s * features, (s + 1) * features);
      const ps = p.slice(s * classes, (s + 1) * classes);
      const u = Array.from({ length: classes }, (_, c) => vb![c]! + xs.reduce((acc, xi, i) => acc + vw![c * features + i]! * xi, 0));
      const pu = ps.reduce((acc, pc, c) => acc + pc * u[c]!, 0);
      const hu = ps.map((pc, c) => (pc * u[c]! - pc * pu) / n);
      hu.forEach((h, c) => {
        productB[c]! += h;
        xs.forEach((xi, i) => (productW[c * features + i]! += h * xi));
      });
    }
    return [productW, productB];
  }

  it.each(['GGNVP', 'HVP'] as const)('%s equals the product written out by hand', (name) => {
    const expected = byHand();
    const results = makeProduct(name, workload)().map((t) => Array.from(t.toArray()));
    expect(results.length).toBe(2);
    results.forEach((values, i) => {
      const scale = Math.max(...expected[i]!.map(Math.abs));
      expect(scale).toBeGreaterThan(0);
      values.forEach((value, j) => expect(Math.abs(value - expected[i]![j]!)).toBeLessThanOrEqual(1e-10 * scale));
    });
  });

  it('a step runs the product and reads every result back', () => {
    const product = makeProduct('HVP', workload);
    const entries = workload.model.parameters().reduce((s, p) => s + p.data.size, 0);
    expect(runStep(workload, () => product().reduce((s, t) => s + t.toArray().length, 0))).toBe(entries);
  });
});
