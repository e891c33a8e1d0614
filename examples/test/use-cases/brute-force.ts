/**
 * Independent computations the use-case tests compare with: gradients one
 * sample at a time (ordinary autograd, no extension), Jacobians row by row,
 * and closed forms written in plain JavaScript.
 */
import { grad, slice, tensor, type FloatDType, type Module, type Parameter, type Tensor } from '@backpack-ts/core';
import { expect } from 'vitest';

/** The elements of `t` as plain numbers, row-major. */
export function numbers(t: Tensor): number[] {
  return Array.from(t.toArray());
}

/** The rows `[start, start + count)` of `t` along axis 0. */
export function rows(t: Tensor, start: number, count = 1): Tensor {
  return slice(t, t.shape.map((_, i) => (i === 0 ? start : 0)), t.shape.map((d, i) => (i === 0 ? count : d)));
}

/**
 * Expects `actual` to equal `expected` elementwise up to `tolerance` times
 * the largest magnitude in `expected` (the scale of the quantity), and the
 * same number of elements.
 */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance = 1e-10, what = 'values'): void {
  expect(actual.length, `${what}: number of elements`).toBe(expected.length);
  let scale = 0;
  for (let i = 0; i < expected.length; i++) scale = Math.max(scale, Math.abs(expected[i]!));
  let worst = 0;
  let at = -1;
  for (let i = 0; i < expected.length; i++) {
    const difference = Math.abs(actual[i]! - expected[i]!);
    if (!(difference <= worst)) [worst, at] = [difference, i];
  }
  expect(worst, `${what}: largest difference at ${at} (${actual[at]} vs ${expected[at]}), scale ${scale}`).toBeLessThanOrEqual(tolerance * Math.max(scale, 1e-300));
}

/**
 * Each sample's gradient of `lossOf(model(x_n), y_n)` w.r.t. each trainable
 * parameter, one forward and one `grad` per sample: `[parameter][sample]`,
 * flattened.
 */
export function oneAtATimeGradients(
  model: Module,
  lossOf: (output: Tensor, target: Tensor) => Tensor,
  input: Tensor,
  target: Tensor,
): number[][][] {
  const parameters = trainable(model);
  const perParameter = parameters.map((): number[][] => []);
  for (let n = 0; n < input.shape[0]!; n++) {
    const loss = lossOf(model.forward(rows(input, n)), rows(target, n));
    const gradients = grad(loss, parameters.map((p) => p.data));
    gradients.forEach((g, i) => perParameter[i]!.push(numbers(g!)));
  }
  return perParameter;
}

/** The model's trainable parameters, in order. */
export function trainable(model: Module): Parameter[] {
  return model.parameters().filter((p) => p.requiresGrad);
}

/**
 * The Jacobian of `output` w.r.t. the trainable parameters of `model`, one
 * row per element of `output` (row-major), each row the parameters
 * flattened and concatenated: one `grad` per row with a one-hot
 * `gradOutputs`.
 */
export function jacobianRows(model: Module, output: Tensor): number[][] {
  const parameters = trainable(model);
  const result: number[][] = [];
  for (let k = 0; k < output.size; k++) {
    const unit = new Float64Array(output.size);
    unit[k] = 1;
    const gradOutputs = tensor(unit, output.shape, { backend: output.backend, dtype: output.dtype as FloatDType });
    const gradients = grad(output, parameters.map((p) => p.data), { gradOutputs, retainGraph: true });
    result.push(gradients.flatMap((g) => numbers(g!)));
  }
  return result;
}

/** Softmax of one row of logits, in plain JavaScript. */
export function softmax(logits: readonly number[]): number[] {
  const top = Math.max(...logits);
  const e = logits.map((z) => Math.exp(z - top));
  const total = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / total);
}

/**
 * The GGN diagonal of a cross-entropy loss from the Jacobian of its logits:
 * `scale · Σ_positions J_posᵀ (diag(p) - p pᵀ) J_pos` on the diagonal,
 * `jacobian[position * classes + c]` the row of logit c at that position,
 * `probabilities[position]` the softmax there (scale: 1/positions for a
 * `mean` loss, 1 for `sum`).
 */
export function crossEntropyGgnDiagonal(jacobian: readonly number[][], probabilities: readonly number[][], scale: number): number[] {
  const classes = probabilities[0]!.length;
  const size = jacobian[0]!.length;
  const diagonal = new Array<number>(size).fill(0);
  probabilities.forEach((p, position) => {
    const block = jacobian.slice(position * classes, (position + 1) * classes);
    for (let j = 0; j < size; j++) {
      // uᵀ (diag(p) - p pᵀ) u with u the column j of this position's Jacobian.
      let weighted = 0;
      let mean = 0;
      for (let c = 0; c < classes; c++) {
        const u = block[c]![j]!;
        weighted += p[c]! * u * u;
        mean += p[c]! * u;
      }
      diagonal[j]! += scale * (weighted - mean * mean);
    }
  });
  return diagonal;
}
