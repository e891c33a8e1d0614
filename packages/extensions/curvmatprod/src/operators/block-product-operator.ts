import { formatShape, noGrad, reshape, tidy, transpose, type Backend, type FloatDType, type ProductQuantity, type Tensor } from '@backpack-ts/core';
import { checkOperand, type LinearOperator } from '../linear-operator.js';

/**
 * One parameter's block of a curvature, from the product function HMP,
 * GGNMP or PCHMP stored on it (`param.hmp`, `param.ggnmp`, `param.pchmp`),
 * seen as a {@link LinearOperator} over the parameter's entries flattened
 * row-major: so that the algorithms (CG, Hutchinson, Lanczos) run on the
 * block diagonal BackPACK's curvmatprod gives, one block at a time.
 *
 * The products are those of the recorded forward pass the function reads:
 * keep its tensors, and do not change the parameter, while using the
 * operator. Products are not recorded for gradients.
 */
export class BlockProductOperator implements LinearOperator {
  /** `[p, p]`, p the parameter's number of entries. */
  readonly shape: readonly [number, number];
  /** The parameter's dtype. */
  readonly dtype: FloatDType;
  /** The parameter's backend. */
  readonly backend: Backend;
  /** The parameter's shape. */
  readonly parameterShape: readonly number[];

  /** `product` multiplies `[V, ...parameter.shape]` by the block; `parameter` is the parameter's tensor (`param.data`), for its shape, dtype and backend. */
  constructor(
    /** The stored product function. */
    readonly product: ProductQuantity,
    parameter: Tensor,
  ) {
    if (typeof product !== 'function') {
      throw new TypeError('BlockProductOperator: no product function given; run backward with HMP, GGNMP or PCHMP and pass param.hmp, param.ggnmp or param.pchmp');
    }
    if (parameter.dtype !== 'float32' && parameter.dtype !== 'float64') {
      throw new TypeError(`BlockProductOperator: the parameter must be float32 or float64, got ${parameter.dtype}`);
    }
    this.dtype = parameter.dtype;
    this.backend = parameter.backend;
    this.parameterShape = [...parameter.shape];
    this.shape = [parameter.size, parameter.size];
  }

  /** The product with `x` of shape `[p, K]` or `[p]`: one call of the product function on `K` matrices shaped like the parameter. */
  matmat(x: Tensor): Tensor {
    const p = this.shape[1];
    if ((x.rank !== 1 && x.rank !== 2) || x.shape[0] !== p) {
      throw new RangeError(`BlockProductOperator.matmat: x must be [${p}, K] or [${p}] for a parameter of shape ${formatShape(this.parameterShape)}, got shape ${formatShape(x.shape)}`);
    }
    checkOperand('BlockProductOperator', this, x, 'the parameter');
    const k = x.rank === 1 ? 1 : x.shape[1]!;
    return noGrad(() =>
      tidy(() => {
        // Columns [p, K] -> K matrices [K, ...shape], and back.
        const matrices = reshape(transpose(reshape(x, [p, k]), 0, 1), [k, ...this.parameterShape]);
        const products = this.product(matrices);
        return reshape(transpose(reshape(products, [k, p]), 0, 1), x.shape);
      }),
    );
  }
}

/** `parameter`'s block of the curvature `product` multiplies by (`param.ggnmp`, ...), as a {@link LinearOperator} (a {@link BlockProductOperator}). */
export function blockProductOperator(product: ProductQuantity, parameter: Tensor): BlockProductOperator {
  return new BlockProductOperator(product, parameter);
}
