/**
 * @backpack-ts/optim: optimisers that step on `.grad` and on the curvature the extensions store.
 *
 * - {@link SGD} and {@link Adam}: `torch.optim`'s update rules;
 * - {@link DiagonalPreconditioner}: steps divided by a damped curvature
 *   diagonal (`diagGgnExact`, `diagGgnMc`, `diagH`);
 * - {@link KFACPreconditioner}: steps preconditioned by damped Kronecker
 *   factors (`kfac`, `kflr`, `kfra`).
 *
 * @module \@backpack-ts/optim
 */
export { Optimizer, type ParameterUpdate } from './optimizer.js';
export type { NamedParameter, ParameterSource } from './parameters.js';
export { SGD, type SGDOptions, type SGDState } from './sgd.js';
export { Adam, type AdamOptions, type AdamState } from './adam.js';
export { DiagonalPreconditioner, type DiagonalCurvature, type DiagonalPreconditionerOptions } from './diagonal-preconditioner.js';
export { PreconditionedOptimizer, type PreconditionedStepOptions, type PreconditionedState } from './preconditioned-optimizer.js';
export { KFACPreconditioner, type KroneckerCurvature, type KFACPreconditionerOptions } from './kfac-preconditioner.js';
export type { KroneckerDampingRule } from './damped-kronecker-solve.js';
