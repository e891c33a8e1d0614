import { concat, einsum, formatShape, reshape, slice, tidy, transpose, type Backend, type FloatDType, type Tensor } from '@backpack-ts/core';
import type { LinearOperator } from '../linear-operator.js';

/**
 * A block-diagonal matrix over parameters whose blocks are Kronecker
 * products of symmetric factors: one factor `[p, p]` for a parameter of p
 * entries, or two `[F₁, F₂]` with `F₁ ⊗ F₂` acting on the parameter's
 * row-major entries seen as a `[rows(F₁), rows(F₂)]` matrix V: `F₁ V F₂`.
 */
export class KroneckerProductOperator implements LinearOperator {
  readonly shape: readonly [number, number];
  readonly dtype: FloatDType;
  readonly backend: Backend;

  constructor(
    /** The operator's name in messages. */
    readonly name: string,
    /** Each parameter's factors, in the order of the flat vectors. */
    readonly factors: readonly (readonly Tensor[])[],
  ) {
    const sizes = factors.map((list) => list.reduce((s, f) => s * f.shape[0]!, 1));
    const size = sizes.reduce((a, b) => a + b, 0);
    this.shape = [size, size];
    const first = factors[0]![0]!;
    [this.dtype, this.backend] = [first.dtype as FloatDType, first.backend];
  }

  /** The product with `x` `[P, K]` or `[P]`, block by block. */
  matmat(x: Tensor): Tensor {
    const size = this.shape[0];
    if (x.rank < 1 || x.rank > 2 || x.shape[0] !== size) {
      throw new RangeError(`${this.name}.matmat: expected a matrix [${size}, K] or a vector [${size}], got shape ${formatShape(x.shape)}`);
    }
    if (x.dtype !== this.dtype || x.backend !== this.backend) {
      throw new TypeError(`${this.name}.matmat: x is ${x.dtype} on '${x.backend.name}', the factors ${this.dtype} on '${this.backend.name}'`);
    }
    return tidy(() => {
      const rows = x.rank === 1 ? reshape(x, [1, size]) : transpose(x); // [K, P]
      const k = rows.shape[0]!;
      let offset = 0;
      const blocks = this.factors.map((list) => {
        const dims = list.map((f) => f.shape[0]!);
        const blockSize = dims.reduce((a, b) => a * b, 1);
        const v = slice(rows, [0, offset], [k, blockSize]);
        offset += blockSize;
        if (list.length === 1) return einsum('ij,kj->ki', list[0]!, v);
        const left = einsum('ij,kjl->kil', list[0]!, reshape(v, [k, dims[0]!, dims[1]!]));
        return reshape(einsum('kil,lm->kim', left, list[1]!), [k, blockSize]);
      });
      const product = concat(blocks, 1);
      return x.rank === 1 ? reshape(product, [size]) : transpose(product);
    });
  }
}
