import {
  ConvTransposeNd,
  Embedding,
  add,
  backpack,
  enableGrad,
  eye,
  linalg,
  mul,
  rejectUnknownOptions,
  tidy,
  keep,
  type LossModule,
  type Module,
  type Parameter,
  type Tensor,
} from '@backpack-ts/core';
import { KFAC, KFLR } from '@backpack-ts/kronecker';
import type { CurvatureOperatorOptions } from './curvature-operator.js';
import { batchesOf, batchSizes, type DataSet } from './data-set.js';
import { KroneckerProductOperator } from './kronecker-product-operator.js';
import { ParameterSpace } from './parameter-space.js';

/** Options of {@link KFACOperator}. */
export interface KFACOperatorOptions extends CurvatureOperatorOptions {
  /**
   * Where the loss-side factors come from: `'mc'` (default) KFAC's Monte-Carlo
   * square root of the loss Hessian, `'exact'` KFLR's exact one (curvlinops'
   * `'type-2'`).
   */
  readonly fisherType?: 'mc' | 'exact';
  /** Monte-Carlo samples per data point for `'mc'` (default 1). */
  readonly mcSamples?: number;
  /** Seed of the Monte-Carlo draws for `'mc'` (default 0). */
  readonly seed?: number;
  /** Added to the diagonal of every factor (default 0): the operator is `(F₁ + δI) ⊗ (F₂ + δI)` per parameter. */
  readonly damping?: number;
}

/**
 * Which factor of a parameter's list is the input side (averaged over samples
 * whatever the loss's reduction): none for one factor, the first for an
 * Embedding (`[A, G]`), the second otherwise (`[G, A]`).
 */
function inputFactorIndex(module: Module, count: number): number | undefined {
  if (count < 2) return undefined;
  return module instanceof Embedding ? 0 : 1;
}

/** The module that owns each parameter. */
function owners(model: Module): Map<Parameter, Module> {
  return new Map(model.namedModules().flatMap(([, module]) => module.ownNamedParameters().map(([, p]) => [p, module] as [Parameter, Module])));
}

/**
 * One backward pass with `extension` (KFAC or KFLR) on the loss `forward`
 * records: the factors of `parameters`, the caller's to dispose. Every
 * parameter of `model` keeps its `.grad` and its `kfac` and `kflr` fields as
 * they were (the pass runs with them cleared, and what it stores is taken or
 * disposed), so that building an operator never changes the model's state.
 */
function factorsOfBatch(model: Module, extension: KFAC | KFLR, field: 'kfac' | 'kflr', parameters: readonly Parameter[], forward: () => Tensor): Tensor[][] {
  const all = model.parameters();
  const saved = all.map((p) => ({ grad: p.grad, kfac: p.kfac, kflr: p.kflr }));
  for (const p of all) [p.grad, p.kfac, p.kflr] = [undefined, undefined, undefined];
  try {
    enableGrad(() => {
      const loss = forward();
      backpack([extension], () => loss.backward());
    });
    const factors = parameters.map((p) => p[field]!);
    for (const p of parameters) p[field] = undefined;
    return factors;
  } finally {
    all.forEach((p, i) => {
      for (const t of [p.grad, ...(p.kfac ?? []), ...(p.kflr ?? [])]) t?.dispose();
      [p.grad, p.kfac, p.kflr] = [saved[i]!.grad, saved[i]!.kfac, saved[i]!.kflr];
    });
  }
}

/**
 * KFAC over a data set, as curvlinops' `KFACLinearOperator`: per parameter
 * the Kronecker product of the factors of `@backpack-ts/kronecker`'s KFAC
 * (`fisherType: 'mc'`) or KFLR (`'exact'`) extension, averaged exactly over
 * the batches: the input-side factor `A` (a mean over samples) with weights
 * `N_b / N`, the loss-side factor `G` (which holds the loss's reduction) with
 * `N_b / N` for 'mean' and 1 for 'sum', so that on batches of any sizes the
 * factors equal those of the whole data set taken as one batch (for KFLR
 * exactly; for KFAC with other draws).
 *
 * The factors are computed once, when the operator is built (one backward
 * pass per batch; the parameters' `.grad`, `kfac` and `kflr` are left as they were), with
 * `damping` added to each. {@link KFACOperator.inverse} applies the inverse
 * of every damped factor, the exact inverse of this operator.
 *
 * The operator owns its factors, and each inverse its own:
 * {@link KroneckerProductOperator.dispose} frees them, after which products
 * (and `inverse()`) throw an error naming the operator. An inverse stays
 * usable after the operator it came from is disposed, and the other way round.
 */
export class KFACOperator extends KroneckerProductOperator {
  /** The parameters it acts on, in the order of the flat vectors. */
  readonly parameters: readonly Parameter[];
  /** Added to the diagonal of every factor. */
  readonly damping: number;

  constructor(model: Module, lossFunction: LossModule, data: DataSet, options: KFACOperatorOptions = {}) {
    const name = 'KFACOperator';
    rejectUnknownOptions(name, options, ['parameters', 'fisherType', 'mcSamples', 'seed', 'damping']);
    const fisherType = options.fisherType ?? 'mc';
    if (fisherType !== 'mc' && fisherType !== 'exact') throw new RangeError(`${name}: fisherType must be 'mc' or 'exact', got '${String(fisherType)}'`);
    if (fisherType === 'exact' && (options.mcSamples !== undefined || options.seed !== undefined)) {
      throw new TypeError(`${name}: mcSamples and seed are for fisherType 'mc'; 'exact' draws nothing`);
    }
    const damping = options.damping ?? 0;
    if (!Number.isFinite(damping) || damping < 0) throw new RangeError(`${name}: damping must be a finite number >= 0, got ${String(damping)}`);
    lossFunction.requireReduced(name);
    const space = new ParameterSpace(name, model, options.parameters);
    const owner = owners(model);
    for (const [i, parameter] of space.parameters.entries()) {
      const module = owner.get(parameter)!;
      if (module instanceof ConvTransposeNd) {
        throw new RangeError(`${name}: parameter ${i} belongs to ${module.describe()}, whose Kronecker factors describe the weight with its first two axes swapped; KFACOperator does not support transposed convolutions`);
      }
    }
    const sizes = batchSizes(name, data);
    const samples = sizes.reduce((a, b) => a + b, 0);
    const extension = fisherType === 'mc' ? new KFAC({ mcSamples: options.mcSamples ?? 1, seed: options.seed ?? 0 }) : new KFLR();
    const field = fisherType === 'mc' ? 'kfac' : 'kflr';

    let sums: Tensor[][] | undefined;
    for (const { input, target, index } of batchesOf(name, data, sizes)) {
      const inputWeight = sizes[index]! / samples;
      const lossWeight = lossFunction.reduction === 'mean' ? inputWeight : 1;
      const previous = sums;
      sums = tidy(() => {
        const batchFactors = factorsOfBatch(model, extension, field, space.parameters, () => lossFunction.forward(model.forward(input), target));
        try {
          return batchFactors.map((list, i) => {
            if (list.some((f) => f.rank !== 2)) {
              throw new RangeError(`${name}: parameter ${i} (${owner.get(space.parameters[i]!)!.describe()}) has Kronecker factors of rank ${list.map((f) => f.rank).join(', ')}; KFACOperator needs matrices (convolutions with groups > 1 are not supported)`);
            }
            const inputIndex = inputFactorIndex(owner.get(space.parameters[i]!)!, list.length);
            return list.map((factor, j) => {
              const weighted = mul(factor, j === inputIndex ? inputWeight : lossWeight);
              return previous === undefined ? weighted : add(previous[i]![j]!, weighted);
            });
          });
        } finally {
          batchFactors.flat().forEach((factor) => factor.dispose());
        }
      });
      previous?.flat().forEach((f) => f.dispose());
    }
    const damped = tidy(() =>
      sums!.map((list) => list.map((f) => (damping === 0 ? f : add(f, mul(eye(f.shape[0]!, { backend: f.backend, dtype: f.dtype }), damping))))),
    );
    if (damping !== 0) sums!.flat().forEach((f) => f.dispose());
    super(name, damped);
    this.parameters = space.parameters;
    this.damping = damping;
  }

  /**
   * The inverse operator: per parameter the Kronecker product of the damped
   * factors' inverses (computed once, with `linalg.inv`). A singular factor
   * (damping 0 and, say, a unit that never activates) is an error naming the
   * parameter; pass `damping > 0`. The inverse owns its factors: dispose it
   * with its own `dispose()`.
   */
  inverse(): KroneckerProductOperator {
    this.assertNotDisposed('inverse');
    // In a scope of its own, so that a factor that cannot be inverted leaves nothing behind.
    const inverses = tidy(() =>
      this.factors.map((list, i) =>
        list.map((factor, j) => {
          try {
            return linalg.inv(factor);
          } catch (error) {
            throw new Error(`KFACOperator.inverse: factor ${j} of parameter ${i} cannot be inverted (${(error as Error).message}); pass damping > 0`);
          }
        }),
      ),
    );
    inverses.flat().forEach((inverse) => keep(inverse));
    return new KroneckerProductOperator('KFACOperator inverse', inverses);
  }
}
