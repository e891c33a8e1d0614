/**
 * @backpack-ts/optim: optimisers that step on `.grad` and on the curvature the extensions store.
 *
 * @module \@backpack-ts/optim
 */
export {};
