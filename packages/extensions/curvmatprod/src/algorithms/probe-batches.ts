import type { LinearOperator } from '../linear-operator.js';
import { applyOperator } from './operator-products.js';
import type { ResolvedHutchinsonOptions } from './hutchinson-options.js';
import { drawProbes } from './random-probes.js';

/** Probe vectors multiplied by the operator at once when `batchSize` is not given. */
export const DEFAULT_BATCH_SIZE = 16;

/**
 * Draws `matvecs` probes in batches of at most `batchSize` and hands each
 * batch (`[n, count]`, row-major) to `visit` with its product with the
 * operator: the loop shared by the Hutchinson estimators.
 */
export function forEachProbeBatch(
  owner: string,
  operator: LinearOperator,
  probe: ResolvedHutchinsonOptions,
  visit: (probes: Float64Array, products: Float64Array, count: number) => void,
): void {
  const n = operator.shape[1];
  for (let done = 0; done < probe.matvecs; done += probe.batchSize) {
    const count = Math.min(probe.batchSize, probe.matvecs - done);
    const probes = drawProbes(probe.generator, probe.distribution, n, count);
    visit(probes, applyOperator(owner, operator, probes, count), count);
  }
}
