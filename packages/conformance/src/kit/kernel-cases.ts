/**
 * The kernel cases of the conformance kit: every kernel of the `Backend`
 * contract on random and awkward inputs (rank 0, size-1 dimensions,
 * broadcasting, inputs that are permuted / sliced / reshaped
 * views, large and tiny magnitudes, ties, NaN where the contract says what
 * NaN does), plus a few inputs above 10,000 elements, where accelerated
 * backends typically switch to their fast path.
 *
 * Value ranges keep every exact result inside float32's normal range, so the
 * float64 reference is a fair target for float32 backends too.
 */
import { emptyCases } from './empty-cases.js';
import type { KernelCase } from './kernel-check.js';
import { binaryCases, binaryScalarCases, unaryCases } from './kernel-cases/elementwise.js';
import { Draw } from './kernel-cases/inputs.js';
import { layoutCases } from './kernel-cases/layout.js';
import { matmulCases } from './kernel-cases/matmul.js';
import { nanCases } from './kernel-cases/nan.js';
import { nnCases } from './kernel-cases/nn.js';
import { reduceCases } from './kernel-cases/reductions.js';
import { windowCases } from './kernel-cases/windows.js';

/** Every kernel case, in a fixed order, values drawn from `seed`. */
export function kernelCases(seed: number): KernelCase[] {
  const draw = new Draw(seed);
  return [
    ...layoutCases(draw),
    ...unaryCases(draw),
    ...binaryCases(draw),
    ...binaryScalarCases(draw),
    ...reduceCases(draw),
    ...matmulCases(draw),
    ...windowCases(draw),
    ...nnCases(draw),
    ...nanCases(draw),
    ...emptyCases(draw.normal.bind(draw)),
  ];
}
