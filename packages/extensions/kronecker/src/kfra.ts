import {
  abs,
  add,
  batchAveragedJacTMatJacProd,
  describeNode,
  eye,
  maximum,
  mul,
  rejectUnknownOptions,
  reshape,
  sum,
  type BackpropContext,
  type GraphNode,
  type LossModule,
  type OpNode,
  type RecordedGraph,
  type Tensor,
} from '@backpack-ts/core';
import { batchAverageChannelFactor, batchAverageOutputFactor, batchAverageParameterFactor } from './factors.js';
import { KroneckerExtension } from './kronecker-extension.js';

/**
 * Which curvature KFRA approximates, i.e. what happens to the residual term
 * `Σ_k g_k ∇²y_k` of modules that are nonlinear in their input (as BackPACK's
 * `Curvature` for Hessian backpropagation):
 * - `'ggn'` (default, KFRA as published and as the reference): dropped;
 * - `'hessian'`: added as it is (may be indefinite);
 * - `'pch-abs'` / `'pch-clip'`: its absolute value / its positive part added
 *   (positive curvature Hessians, Chen et al.).
 */
export type KFRACurvature = 'ggn' | 'hessian' | 'pch-abs' | 'pch-clip';

const CURVATURES: readonly KFRACurvature[] = ['ggn', 'hessian', 'pch-abs', 'pch-clip'];

/** Options of {@link KFRA}. */
export interface KFRAOptions {
  /** Default `'ggn'`. */
  readonly curvature?: KFRACurvature;
}

/**
 * One step of KFRA's recursion through a module: `(1/N) Σ_n J_nᵀ M J_n`
 * (the module's `eaJacTMatJacProd`) for the batch-averaged matrix `M`
 * (`[D_out, D_out]`, flattened per-sample output) at its output, plus, unless
 * `curvature` is `'ggn'`, the (modified) diagonal `Σ_n residual_n` of the
 * module's residual term, where the module defines one
 * (`residualHessianDiagonal`, elementwise activations). Returns `[D_in, D_in]`.
 */
export function backpropagateBatchAverage(
  node: GraphNode,
  mat: Tensor,
  gradOutput: Tensor,
  inputIndex: number,
  curvature: KFRACurvature = 'ggn',
): Tensor {
  const ggn = node.module.eaJacTMatJacProd(node, mat, inputIndex);
  if (curvature === 'ggn') return ggn;
  const residual = node.module.residualHessianDiagonal(node, gradOutput);
  if (residual === undefined) return ggn;
  const dim = ggn.shape[0]!;
  const summed = sum(reshape(residual, [residual.shape[0]!, dim]), 0);
  const modified = curvature === 'pch-abs' ? abs(summed) : curvature === 'pch-clip' ? maximum(summed, 0) : summed;
  const diagonal = mul(eye(dim, { backend: ggn.backend, dtype: ggn.dtype }), reshape(modified, [1, dim]));
  return add(ggn, diagonal);
}

/**
 * KFRA (Botev et al., 2017): Kronecker factors of the generalized
 * Gauss-Newton matrix by a recursion of batch-averaged matrices, stored as
 * `param.kfra`.
 *
 * The loss starts `M = Σ_n ∇²loss_n` (`[D, D]` over the flattened per-sample
 * prediction, with the reduction's factor: `(1/N) Σ_n H_n` for a mean); each
 * module maps it to its input with {@link backpropagateBatchAverage}. A
 * Linear layer's factors are weight `[M, A]`, bias `[M]`, with `M` the matrix
 * at its output and `A = XᵀX / N`. Where a tensor feeds several modules the
 * matrices are summed; unlike KFAC/KFLR this drops the cross terms between
 * the branches (`J₁ᵀ M J₂`), an approximation on top of KFRA's own.
 *
 * Ops between modules pass `M` on as a module without structure would:
 * `(1/N) Σ_n J_nᵀ M J_n` from the op's vector-Jacobian product applied twice
 * (`batchAveragedJacTMatJacProd`). With a curvature other than `'ggn'` an
 * op must be piecewise linear (its residual vanishes), since ops give no
 * second derivatives.
 */
export class KFRA extends KroneckerExtension {
  /** How the activations' curvature (the residual) enters, see {@link KFRACurvature}. */
  readonly curvature: KFRACurvature;

  constructor(options: KFRAOptions = {}) {
    rejectUnknownOptions('KFRA', options, ['curvature']);
    super('KFRA', 'kfra');
    const curvature = options.curvature ?? 'ggn';
    if (!CURVATURES.includes(curvature)) {
      throw new RangeError(`KFRA: curvature must be one of ${CURVATURES.join(', ')}, got '${String(curvature)}'`);
    }
    this.curvature = curvature;
  }

  protected atLoss(node: GraphNode, loss: LossModule): Tensor {
    return loss.sumHessian(node);
  }

  protected accumulate(a: Tensor, b: Tensor): Tensor {
    return add(a, b);
  }

  backpropagateThrough(node: GraphNode, mat: Tensor, gradOutput: Tensor, inputIndex: number): Tensor {
    return backpropagateBatchAverage(node, mat, gradOutput, inputIndex, this.curvature);
  }

  protected override opRefusal(node: OpNode, graph: RecordedGraph): string | undefined {
    if (this.curvature === 'ggn' || graph.isPiecewiseLinear(node)) return undefined;
    return (
      `with curvature '${this.curvature}' it adds every node's residual Hessian term, and ${describeNode(node)} is curved ` +
      "(ops give no second derivatives); compute it with a module there, or use curvature 'ggn'"
    );
  }

  protected override backpropagateThroughOp(node: OpNode, mat: Tensor, { graph }: BackpropContext<KroneckerExtension>): readonly (Tensor | undefined)[] {
    const outputShape = graph.outputOf(node).shape;
    return node.inputs.map((input, i) =>
      graph.needsGradient(input)
        ? batchAveragedJacTMatJacProd((m) => node.derivatives.vjp(m)[i]!, outputShape, input.shape, mat)
        : undefined,
    );
  }

  outputFactor(node: GraphNode, mat: Tensor): Tensor {
    return batchAverageOutputFactor(node, mat);
  }

  channelFactor(node: GraphNode, mat: Tensor): Tensor {
    return batchAverageChannelFactor(node, mat);
  }

  parameterFactor(node: GraphNode, name: string, mat: Tensor): Tensor {
    return batchAverageParameterFactor(node, name, mat);
  }
}
