import type { GraphNode } from './leaf-module.js';
import { mul } from '../ops/elementwise.js';
import { einsum } from '../ops/einsum.js';
import { reshape } from '../ops/layout.js';
import { tidy } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';
import { expectFloatInput, expectInputCount } from './input-checks.js';
import { LeafModule, type ModuleTraits } from './leaf-module.js';

/**
 * A module applying a scalar function f elementwise (activations). Its
 * Jacobian is diagonal, so every derivative is a pointwise product with f'
 * (and f'' for Hessian-based extensions).
 */
export abstract class ElementwiseModule extends LeafModule {
  override readonly traits: ModuleTraits = { diagonalJacobian: true };

  protected checkInputs(inputs: readonly Tensor[]): void {
    expectInputCount(this, inputs, 1);
    expectFloatInput(this, inputs[0]!, 1);
  }

  protected compute(inputs: readonly Tensor[]): Tensor {
    return this.f(inputs[0]!);
  }

  /** f(x). */
  protected abstract f(x: Tensor): Tensor;

  /** f'(x), given the input x and the output y = f(x). */
  abstract df(x: Tensor, y: Tensor): Tensor;

  /** f''(x), given the input x and the output y = f(x). */
  abstract d2f(x: Tensor, y: Tensor): Tensor;

  /** True where f'' vanishes everywhere (ReLU, LeakyReLU): no residual term. */
  readonly isPiecewiseLinear: boolean = false;

  jacTMatProd(node: GraphNode, mat: Tensor): Tensor {
    // f' has shape [N, ...]; it broadcasts over the leading V dimension of mat.
    return mul(mat, this.df(node.input, node.output));
  }

  /** The Jacobian is diagonal: `mat ⊙ f'`. */
  override jacMatProd(node: GraphNode, mat: Tensor): Tensor {
    return this.jacTMatProd(node, mat);
  }

  /** J_n = diag(f'_n), so `(1/N) Σ_n J_nᵀ M J_n = M ⊙ (1/N) Σ_n f'_n f'_nᵀ`. */
  override eaJacTMatJacProd(node: GraphNode, mat: Tensor): Tensor {
    // Scoped: the [D, D] average is released as soon as the product exists.
    return tidy(() => {
      const df = reshape(this.df(node.input, node.output), [node.batchSize, -1]);
      return mul(mat, einsum('ni,nj->ij', df, mul(df, 1 / node.batchSize)));
    });
  }

  /** `f''(x) ⊙ g` per sample. */
  override residualHessianDiagonal(node: GraphNode, gradOutput: Tensor): Tensor | undefined {
    if (this.isPiecewiseLinear) return undefined;
    return mul(this.d2f(node.input, node.output), gradOutput);
  }
}
