/**
 * Explicit per-sample Jacobians of a model's output w.r.t. its parameters,
 * for any model core can run: row c of sample n's Jacobian is `J_nᵀ e_c`,
 * the gradient of output entry c, obtained from an ordinary backward pass on
 * sample n alone through `MSELoss('sum')` with the target `y - e_c / 2`
 * (whose gradient w.r.t. y is exactly `e_c`). This uses only core's `.grad`
 * (checked against finite differences in core's tests), none of the GGN
 * machinery under test.
 */
import { MSELoss, extend, slice, sub, tensor, type Module, type Tensor } from '@backpack-ts/core';
import type { Matrix } from './ggn.js';

/** `jacobians[n]` is `[D, P]` row-major (D outputs per sample, P = all parameter entries in `namedParameters` order). */
export function perSampleJacobians(model: Module, input: Tensor): { jacobians: Float64Array[]; outputs: number[][]; offsets: Map<string, number>; total: number } {
  const parameters = model.namedParameters();
  const offsets = new Map<string, number>();
  let total = 0;
  for (const [name, p] of parameters) {
    offsets.set(name, total);
    total += p.data.size;
  }
  const probe = extend(new MSELoss('sum'));
  const n = input.shape[0]!;
  const jacobians: Float64Array[] = [];
  const outputs: number[][] = [];
  for (let i = 0; i < n; i++) {
    const sample = slice(input, [i, ...input.shape.slice(1).map(() => 0)], [1, ...input.shape.slice(1)]);
    const y = model.forward(sample);
    const values = Array.from(y.toArray());
    outputs.push(values);
    const d = values.length;
    const jac = new Float64Array(d * total);
    for (let c = 0; c < d; c++) {
      const unit = new Float64Array(d);
      unit[c] = 0.5;
      model.zeroGrad();
      const output = model.forward(sample);
      probe.forward(output, sub(output, tensor(unit, output.shape, { backend: output.backend, dtype: output.dtype }))).backward();
      for (const [name, p] of parameters) jac.set(p.grad!.toArray(), c * total + offsets.get(name)!);
    }
    jacobians.push(jac);
  }
  model.zeroGrad();
  return { jacobians, outputs, offsets, total };
}

/** `J_nᵀ H_n J_n` restricted to the columns `[offset, offset + k)`, as a `k x k` matrix. */
export function ggnBlockOf(jac: Float64Array, d: number, total: number, h: Matrix, offset: number, k: number): Matrix {
  const block = { size: k, data: new Float64Array(k * k) };
  for (let a = 0; a < d; a++) {
    for (let b = 0; b < d; b++) {
      const hab = h.data[a * d + b]!;
      if (hab === 0) continue;
      for (let i = 0; i < k; i++) {
        const left = jac[a * total + offset + i]! * hab;
        if (left === 0) continue;
        for (let j = 0; j < k; j++) block.data[i * k + j] += left * jac[b * total + offset + j]!;
      }
    }
  }
  return block;
}
