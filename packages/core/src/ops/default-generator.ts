import { Generator } from './random.js';

/** The generator used when none is passed (parameter initialisation, dropout masks). */
export const defaultGenerator = new Generator(0);

/** Reseeds the default generator, as `torch.manual_seed`. */
export function manualSeed(seed: number): void {
  defaultGenerator.manualSeed(seed);
}
