import { recordOp, type OpDerivatives } from '../tensor/autograd.js';
import type { Shape } from '../backend/backend.js';
import type { Tensor } from '../tensor/tensor.js';
import { isFloat } from './check.js';

/**
 * How ops record themselves (see `tensor/autograd.ts` for the contract):
 * the conventions every family's derivative rules share.
 *
 * - Rules are written with core's ops, so under `createGraph` they are
 *   recorded themselves (derivatives of derivatives).
 * - A cotangent or tangent is `[...lead, ...shape]` with any number of extra
 *   leading dimensions (`lead`, see {@link leadingShape}); rules shift the
 *   op's axes by `lead.length` and results keep `lead`.
 * - Integers carry no gradient: an op records nothing when its result is
 *   int32 or no float input requires a gradient (an int32 tensor flagged
 *   with `requiresGrad_()` is ignored), and an int32 input gets `undefined`
 *   from the VJP.
 * - `mixesSamples` reads axis 0 of every input and of the output as the batch
 *   axis; each family's file says when its ops mix samples.
 */
export function record(
  name: string,
  inputs: readonly Tensor[],
  output: Tensor,
  derivatives: () => OpDerivatives,
  mixesSamples = false,
): Tensor {
  if (output.dtype === 'int32' || !inputs.some(wantsGrad)) return output;
  return recordOp(name, inputs, output, derivatives, mixesSamples);
}

/** Whether a VJP should produce a cotangent for `x`: it requires a gradient and holds floats. */
export function wantsGrad(x: Tensor): boolean {
  return x.requiresGrad && isFloat(x.dtype);
}

/** The extra leading dimensions of a cotangent or tangent `t` of an operand of rank `rank`. */
export function leadingShape(t: Tensor, rank: number): number[] {
  return t.shape.slice(0, t.rank - rank);
}

/**
 * Whether an op that keeps or drops axis 0 by its size mixes samples: the
 * output's axis 0 differs in size from the input's (a scalar input has no
 * batch axis).
 */
export function axis0Changes(inShape: Shape, outShape: Shape): boolean {
  return inShape.length > 0 && outShape[0] !== inShape[0];
}
