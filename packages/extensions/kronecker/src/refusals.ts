/**
 * Module classes with parameters for which the Kronecker extensions have no
 * definition (nor does BackPACK), with the reason: such a module is refused
 * before the backward pass changes anything, with that reason in the error,
 * unless a rule was set for its class with `setModuleRule`.
 */
import { RNNBase, RuleRegistry, UnsupportedModuleError, type LeafModule } from '@backpack-ts/core';

/** Why there are no Kronecker factors, by module class (subclasses included). */
const reasons = new RuleRegistry<string>([
  [
    RNNBase,
    'a recurrent layer uses each weight at every time step, so the curvature block of a weight is a sum of ' +
      'Kronecker products over pairs of time steps, which is not one Kronecker product; BackPACK defines no Kronecker factors ' +
      'for recurrent layers either (Kronecker factors for recurrent networks need assumptions on the correlations across time, Martens et al. 2018). ' +
      'DiagGGNExact, SqrtGGNExact and DiagHessian support recurrent layers',
  ],
]);

/** Why `module` has no Kronecker factors, or undefined when nothing is known against it. */
export function kroneckerRefusal(module: LeafModule): string | undefined {
  return reasons.find(module);
}

/** An {@link UnsupportedModuleError} for a module the Kronecker extensions know to have no factorisation, with the reason. */
export class NoKroneckerFactorsError extends UnsupportedModuleError {
  constructor(
    extensionName: string,
    module: LeafModule,
    /** Why the module has no Kronecker factors. */
    readonly reason: string,
  ) {
    super(extensionName, module);
    this.message =
      `${extensionName} has no rule for ${module.describe()} (module type ${module.typeName}): ${reason}. ` +
      `To use a factorisation of your own, set it with ${extensionName}'s setModuleRule(${module.typeName}, rule)`;
  }
}
