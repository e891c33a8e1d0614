import { add, type GraphNode, type OpNode, type Tensor } from '@backpack-ts/core';
import { sqrtChannelFactor, sqrtOutputFactor, sqrtParameterFactor } from './factors.js';
import { KroneckerExtension } from './kronecker-extension.js';

/**
 * The square-root strategy of KFAC and KFLR: the loss starts a square root
 * `S` of its Hessian (`[V, N, ...prediction]`, exact or sampled), which every
 * module maps to its input with its transposed Jacobian (`jacTMatProd`).
 * Ops between modules map it with their own vector-Jacobian product. Where
 * a tensor feeds several nodes the square roots are summed, which is exact:
 * `Jᵀ S = J₁ᵀ S + J₂ᵀ S` for `J = J₁ + J₂`.
 *
 * A Linear layer's output-side factor is `Σ_{v,n} S[v,n] S[v,n]ᵀ`
 * (see {@link sqrtOutputFactor}).
 */
export abstract class SqrtKroneckerExtension extends KroneckerExtension {
  protected accumulate(a: Tensor, b: Tensor): Tensor {
    return add(a, b);
  }

  backpropagateThrough(node: GraphNode, sqrt: Tensor, _gradOutput: Tensor, inputIndex: number): Tensor {
    return node.module.jacTMatProd(node, sqrt, inputIndex);
  }

  /** Every op passes: the square root needs only first derivatives. */
  protected override opRefusal(): undefined {
    return undefined;
  }

  protected override backpropagateThroughOp(node: OpNode, sqrt: Tensor): readonly (Tensor | undefined)[] {
    return node.derivatives.vjp(sqrt);
  }

  outputFactor(_node: GraphNode, sqrt: Tensor): Tensor {
    return sqrtOutputFactor(sqrt);
  }

  channelFactor(_node: GraphNode, sqrt: Tensor): Tensor {
    return sqrtChannelFactor(sqrt);
  }

  parameterFactor(node: GraphNode, name: string, sqrt: Tensor): Tensor {
    return sqrtParameterFactor(node, name, sqrt);
  }
}
