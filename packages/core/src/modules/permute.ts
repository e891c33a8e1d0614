import type { GraphNode } from './leaf-module.js';
import { permute } from '../ops/layout.js';
import { formatShape, normalizeAxis } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { expectFloatInput, expectInputCount } from './input-checks.js';
import { LeafModule } from './leaf-module.js';
import { rejectUnknownOptions } from '../ops/options.js';
import { sameJacobianJacTMatJac } from './same-jacobian.js';

/** Options of {@link Permute}. */
export interface PermuteOptions {
  /**
   * BackPACK's transpose form: `dims` is a pair `[a, b]` of axes (neither the
   * batch axis 0) to swap, as `input.transpose(a, b)`. Default false.
   */
  readonly initTranspose?: boolean;
}

/**
 * Reorders the dimensions of its input, as BackPACK's `Permute`
 * (`input.permute(dims)`): `dims` lists every dimension, the batch axis 0
 * first and staying there; negative entries count from the end. With
 * `{ initTranspose: true }`, `dims = [a, b]` swaps two axes.
 *
 * Its Jacobian relabels each sample's entries, the same for every sample;
 * the transposed product applies the inverse permutation.
 */
export class Permute extends LeafModule {
  readonly typeName = 'Permute';
  /** Output axis i is input axis `dims[i]`; with `initTranspose`, the two axes swapped. */
  readonly dims: readonly number[];
  /** Whether `dims` is BackPACK's pair of axes to swap rather than a full permutation. */
  readonly initTranspose: boolean;

  constructor(dims: readonly number[], options: PermuteOptions = {}) {
    super();
    rejectUnknownOptions('Permute', options, ['initTranspose']);
    this.dims = [...dims];
    this.initTranspose = options.initTranspose === true;
    if (dims.some((d) => !Number.isInteger(d))) {
      throw new RangeError(`Permute: dims must be integers, got [${dims.join(', ')}]`);
    }
    if (this.initTranspose) {
      if (dims.length !== 2 || dims.includes(0)) {
        throw new RangeError(`Permute: with initTranspose, dims must be two axes to swap, neither the batch axis 0, got [${dims.join(', ')}]`);
      }
    } else if (dims[0] !== 0) {
      throw new RangeError(`Permute: the batch axis must stay first (dims[0] = 0), got [${dims.join(', ')}]`);
    }
  }

  /** Output dimension i is input dimension `perm[i]`, for an input of rank `rank`. */
  permutation(rank: number): number[] {
    const where = this.describe();
    if (!this.initTranspose) return this.dims.map((d) => normalizeAxis(d, rank, where));
    const [a, b] = this.dims.map((d) => normalizeAxis(d, rank, where)) as [number, number];
    return Array.from({ length: rank }, (_, i) => (i === a ? b : i === b ? a : i));
  }

  protected checkInputs(inputs: readonly Tensor[]): void {
    expectInputCount(this, inputs, 1);
    const x = inputs[0]!;
    expectFloatInput(this, x, 1);
    if (!this.initTranspose && this.dims.length !== x.rank) {
      throw new RangeError(`${this.describe()}: dims [${this.dims.join(', ')}] do not list the ${x.rank} dimensions of input ${formatShape(x.shape)}`);
    }
    const perm = this.permutation(x.rank);
    if (new Set(perm).size !== x.rank || perm[0] !== 0) {
      throw new RangeError(
        `${this.describe()}: dims [${this.dims.join(', ')}] are not a permutation of the ${x.rank} dimensions of input ${formatShape(x.shape)} that keeps the batch axis first`,
      );
    }
  }

  protected compute(inputs: readonly Tensor[]): Tensor {
    return permute(inputs[0]!, this.permutation(inputs[0]!.rank));
  }

  /** `[V, N, ...out] -> [V, N, ...in]`: the inverse permutation, behind the leading V. */
  jacTMatProd(_node: GraphNode, mat: Tensor): Tensor {
    const perm = this.permutation(mat.rank - 1);
    const inverse = new Array<number>(perm.length);
    perm.forEach((p, i) => (inverse[p] = i));
    return permute(mat, [0, ...inverse.map((p) => p + 1)]);
  }

  /** `[V, N, ...in] -> [V, N, ...out]`: the permutation, behind the leading V. */
  override jacMatProd(_node: GraphNode, mat: Tensor): Tensor {
    return permute(mat, [0, ...this.permutation(mat.rank - 1).map((p) => p + 1)]);
  }

  /** `Pᵀ M P` with the per-sample permutation P. */
  override eaJacTMatJacProd(node: GraphNode, mat: Tensor): Tensor {
    return sameJacobianJacTMatJac(this, node, mat);
  }
}
