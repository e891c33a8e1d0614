/**
 * @backpack-ts/kronecker: Kronecker-factored curvature (KFAC, KFLR, KFRA) in
 * the same backward pass as the gradient.
 *
 * Importing this package adds the typed fields `kfac`, `kflr` and `kfra` to
 * core's `Parameter`: lists of Kronecker factors in the reference's order
 * (Linear weight `[out x out, in x in]`, bias `[out x out]`).
 *
 * The parameter owns these fields: the next backward pass that computes one
 * replaces it and disposes the previous tensors, so a value read from a field
 * is valid until then (a later use throws, naming that pass). Keep a copy
 * with `clone()` to hold it across passes (see core's `Parameter`).
 *
 * @module \@backpack-ts/kronecker
 */
import type { Tensor } from '@backpack-ts/core';

declare module '@backpack-ts/core' {
  interface Parameter {
    /** KFAC: Kronecker factors from a Monte-Carlo square root of the loss Hessian. */
    kfac?: Tensor[];
    /** KFLR: Kronecker factors from the exact square root of the loss Hessian. */
    kflr?: Tensor[];
    /** KFRA: Kronecker factors from the recursion of batch-averaged matrices. */
    kfra?: Tensor[];
  }
}

export { KFAC, type KFACOptions } from './kfac.js';
export { KFLR } from './kflr.js';
export { KFRA, backpropagateBatchAverage, type KFRAOptions, type KFRACurvature } from './kfra.js';
export {
  KroneckerExtension,
  WeightSharingError,
  linearKroneckerRule,
  convKroneckerRule,
  batchNormKroneckerRule,
  embeddingKroneckerRule,
  parameterBlockKroneckerRule,
  type KroneckerRule,
} from './kronecker-extension.js';
export { SqrtKroneckerExtension } from './sqrt-extension.js';
export { NoKroneckerFactorsError, kroneckerRefusal } from './refusals.js';
export {
  linearInputFactor,
  sqrtOutputFactor,
  batchAverageOutputFactor,
  sqrtChannelFactor,
  batchAverageChannelFactor,
  sqrtParameterFactor,
  batchAverageParameterFactor,
  groupBlocks,
  unfoldedInputFactor,
  convInputFactor,
  convTransposeUnfoldedInput,
  convTransposeInputFactor,
  embeddingInputFactor,
} from './factors.js';
