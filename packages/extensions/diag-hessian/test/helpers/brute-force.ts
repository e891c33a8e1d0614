/**
 * The independent reference: the Hessian diagonal by central finite
 * differences of core's `.grad` (perturb one parameter entry, run forward and
 * backward again, difference the gradient's same entry).
 */
import { tensor, type Parameter, type Tensor } from '@backpack-ts/core';

/** Step on the parameters: truncation error ~h² · f'''' and rounding ~eps · |g| / h, both far below 1e-7. */
export const STEP = 1e-5;

/** Tolerance of a finite-difference reference (relative to the largest entry). */
export const FD_TOLERANCE = 1e-7;

/** Runs `loss()` (a fresh forward pass) and `backward()` with all gradients cleared; returns each parameter's gradient. */
export function gradients(parameters: readonly Parameter[], loss: () => Tensor): Float64Array[] {
  for (const p of parameters) p.grad = undefined;
  loss().backward();
  return parameters.map((p) => Float64Array.from(p.grad!.toArray()));
}

/**
 * `∂²loss / ∂θ_i²` for every entry of every parameter, by central differences
 * of the gradient: `(g_i(θ + h e_i) - g_i(θ - h e_i)) / 2h`. Parameters are
 * restored afterwards (and their gradients cleared).
 */
export function hessianDiagonalByFD(parameters: readonly Parameter[], loss: () => Tensor, h = STEP): Float64Array[] {
  const result = parameters.map((p, k) => {
    const original = p.data;
    const values = Float64Array.from(original.toArray());
    const like = { backend: original.backend, dtype: original.dtype };
    const out = new Float64Array(values.length);
    try {
      for (let i = 0; i < values.length; i++) {
        const at = values[i]!;
        values[i] = at + h;
        p.data = tensor(values, original.shape, like);
        const plus = gradients(parameters, loss)[k]![i]!;
        values[i] = at - h;
        p.data = tensor(values, original.shape, like);
        const minus = gradients(parameters, loss)[k]![i]!;
        values[i] = at;
        out[i] = (plus - minus) / (2 * h);
      }
    } finally {
      p.data = original;
    }
    return out;
  });
  for (const p of parameters) p.grad = undefined;
  return result;
}

/**
 * Per-sample Hessian diagonals `[N, ...param]` (flattened, sample-major):
 * `sampleLoss(n)` must run a forward pass on sample n alone and return its
 * term of the full loss (including a mean's 1/N).
 */
export function perSampleHessianDiagonalByFD(
  parameters: readonly Parameter[],
  batch: number,
  sampleLoss: (n: number) => Tensor,
  h = STEP,
): Float64Array[] {
  const perSample = Array.from({ length: batch }, (_, n) => hessianDiagonalByFD(parameters, () => sampleLoss(n), h));
  return parameters.map((_, k) => {
    const size = perSample[0]![k]!.length;
    const out = new Float64Array(batch * size);
    for (let n = 0; n < batch; n++) out.set(perSample[n]![k]!, n * size);
    return out;
  });
}
