import { BatchNormNd, Dropout, type Module } from '@backpack-ts/core';

/**
 * Throws, naming `caller` and the module, if the model would not compute one
 * fixed function on every pass over the data set: Dropout in training mode
 * draws new masks each pass, and BatchNorm in training mode normalises with
 * the batch's statistics and updates its running ones. An operator's product
 * runs the model once per batch and must be the same matrix every time.
 */
export function requireFixedModel(caller: string, model: Module): void {
  for (const [, module] of model.namedModules()) {
    if (module.training && (module instanceof Dropout || module instanceof BatchNormNd)) {
      throw new Error(
        `${caller}: ${module.describe()} is in training mode, so the model is not one fixed function of its parameters ` +
          `(${module instanceof Dropout ? 'it draws a new mask on every pass' : 'it uses the batch statistics and updates its running ones on every pass'}); ` +
          'call model.eval() before building the operator',
      );
    }
  }
}
