import { rejectUnknownOptions, type GraphNode, type LossModule, type NoOptions, type Tensor } from '@backpack-ts/core';
import { SqrtKroneckerExtension } from './sqrt-extension.js';

/**
 * KFLR (Botev et al., 2017): Kronecker factors of the generalized Gauss-Newton
 * matrix from the exact square root of the loss Hessian, stored as
 * `param.kflr`.
 *
 * For a Linear layer with input X (`[N, in]`) and output sqrt columns
 * `S[c, n]` (the loss Hessian's square root backpropagated to the layer's
 * output, with the loss's reduction factor): weight `[G, A]` with
 * `G = Σ_{c,n} S[c,n] S[c,n]ᵀ = Σ_n J_nᵀ H_n J_n` (`[out, out]`) and
 * `A = XᵀX / N` (`[in, in]`); bias `[G]`. For CrossEntropyLoss with mean
 * reduction at the last layer, `G = (1/N) Σ_n (diag(p_n) - p_n p_nᵀ)`.
 */
export class KFLR extends SqrtKroneckerExtension {
  constructor(options: NoOptions = {}) {
    rejectUnknownOptions('KFLR', options, []);
    super('KFLR', 'kflr');
  }

  protected atLoss(node: GraphNode, loss: LossModule): Tensor {
    return loss.sqrtHessian(node);
  }
}
