import {
  abs,
  add,
  einsum,
  formatShape,
  mul,
  noGrad,
  relu,
  reshape,
  shapesEqual,
  tidy,
  type GraphNode,
  type LossModule,
  type ProductQuantity,
  type Tensor,
} from '@backpack-ts/core';

/*
 * The backpropagated curvature products of BackPACK's curvmatprod: the
 * curvature of the loss w.r.t. a tensor of the graph is known as a function
 * that multiplies it by a batch of matrices. The loss starts it (its
 * Hessian w.r.t. the prediction); each module maps the function at its
 * output to the one at its input, `M -> Jᵀ H_out(J M) + R M`, and gives
 * each of its parameters the block `V -> J_θᵀ H_out(J_θ V) + R_θ V`. The
 * residual terms R (second derivatives of the module, weighted by the
 * gradient at its output) are what tell the Hessian (HMP), its
 * positive-curvature variants (PCHMP) and the GGN (GGNMP, none) apart.
 */

/**
 * How a module's residual terms `R = Σ_k g_k ∇²y_k` enter the curvature:
 * as they are (the Hessian), left out (the GGN), or with their eigenvalues
 * clipped at zero or replaced by their absolute values (the
 * positive-curvature Hessian, for diagonal residuals).
 */
export type ResidualTerms = 'exact' | 'none' | 'clip' | 'abs';

/**
 * The curvature w.r.t. one tensor of the graph as a product: `[V, ...tensor]`
 * to `[V, ...tensor]` (the tensor has the batch first; the curvature is the
 * loss's, so it is block diagonal over the samples). Evaluated lazily, from
 * the recorded forward pass and the gradients it holds.
 */
export interface CurvatureProduct {
  /** The product with `mat` `[V, ...tensor]`. */
  (mat: Tensor): Tensor;
  /** The tensors of the pass it reads, the gradients and the loss's Hessian square root (kept alive with the stored products). */
  readonly tensors: readonly Tensor[];
  /** The recorded calls it goes through, from the loss on (to refuse a model changed since). */
  readonly nodes: readonly GraphNode[];
}

function curvatureProduct(product: (mat: Tensor) => Tensor, tensors: readonly Tensor[], nodes: readonly GraphNode[]): CurvatureProduct {
  return Object.assign(product, { tensors, nodes });
}

/**
 * The loss's Hessian w.r.t. its prediction as a product, from the loss's
 * square root S (`[C, N, ...pred]`, `Σ_c S_c S_cᵀ` per sample):
 * `M -> Σ_c S_c <S_c, M>`, sample by sample. S is computed once, in the
 * pass, and kept with the stored products.
 */
export function lossHessianProduct(node: GraphNode, loss: LossModule): CurvatureProduct {
  const sqrt = noGrad(() => loss.sqrtHessian(node));
  const s = reshape(sqrt, [sqrt.shape[0]!, node.batchSize, -1]);
  return curvatureProduct(
    (mat) => {
      const m = reshape(mat, [mat.shape[0]!, node.batchSize, -1]);
      return reshape(einsum('vcn,cnd->vnd', einsum('cnd,vnd->vcn', s, m), s), mat.shape);
    },
    [s],
    [node],
  );
}

/** The diagonal residual `g ⊙ f''` as PCHMP treats it: eigenvalues (the diagonal's entries) clipped at 0 or made absolute. */
function modifiedDiagonal(diagonal: Tensor, residual: 'clip' | 'abs'): Tensor {
  return residual === 'clip' ? relu(diagonal) : abs(diagonal);
}

/** The residual term of input `inputIndex` of the call times `mat`, as `residual` says; undefined when there is none. */
function inputResidual(node: GraphNode, gradOutput: Tensor, mat: Tensor, inputIndex: number, residual: ResidualTerms): Tensor | undefined {
  const module = node.module;
  if (residual === 'none') return undefined;
  if (residual === 'exact') return module.residualHessianMatProd(node, gradOutput, mat, inputIndex);
  const diagonal = module.residualHessianDiagonal(node, gradOutput);
  return diagonal === undefined ? undefined : mul(mat, modifiedDiagonal(diagonal, residual));
}

/** The curvature product at input `inputIndex` of the call, from the one at its output: `M -> Jᵀ H_out(J M) + R M`. */
export function inputCurvatureProduct(
  node: GraphNode,
  atOutput: CurvatureProduct,
  inputIndex: number,
  gradOutput: Tensor,
  residual: ResidualTerms,
): CurvatureProduct {
  const module = node.module;
  return curvatureProduct(
    (mat) => {
      const curvature = module.jacTMatProd(node, atOutput(module.jacMatProd(node, mat, inputIndex)), inputIndex);
      const extra = inputResidual(node, gradOutput, mat, inputIndex, residual);
      return extra === undefined ? curvature : add(curvature, extra);
    },
    residual === 'none' ? atOutput.tensors : [...atOutput.tensors, gradOutput],
    [...atOutput.nodes, node],
  );
}

/**
 * The block of the parameter `name` of the call, as the function stored on
 * the parameter: `V -> J_θᵀ H_out(J_θ V) + R_θ V` for `V` `[V, ...param]`,
 * summed over the batch. `extension` names the caller in messages. PCHMP's
 * parameters are affine in the module (its `check` refuses others), so
 * only the exact residual is ever added.
 */
export function parameterCurvatureProduct(
  extension: string,
  node: GraphNode,
  name: string,
  atOutput: CurvatureProduct,
  gradOutput: Tensor,
  residual: ResidualTerms,
): ProductQuantity {
  const module = node.module;
  const parameter = module.parameter(name);
  const nodes = [...atOutput.nodes, node];
  const tensors = residual === 'exact' ? [...atOutput.tensors, gradOutput] : atOutput.tensors;
  const product = (mat: Tensor): Tensor => {
    const shape = parameter.data.shape;
    if (mat.rank !== shape.length + 1 || !shapesEqual(mat.shape.slice(1), shape)) {
      throw new RangeError(
        `${extension}: the product of parameter '${name}' of ${module.describe()} takes a matrix of shape [V, ${formatShape(shape).slice(1)}, got ${formatShape(mat.shape)}`,
      );
    }
    checkUnchanged(extension, nodes, tensors);
    return noGrad(() =>
      tidy(() => {
        const curvature = module.paramJacTMatProd(node, name, atOutput(module.paramJacMatProd(node, name, mat)), { sumBatch: true });
        const extra = residual === 'exact' ? module.paramResidualHessianMatProd(node, gradOutput, name, mat) : undefined;
        return extra === undefined ? curvature : add(curvature, extra);
      }),
    );
  };
  return Object.assign(product, { tensors });
}

/** Refuses a product whose recording no longer matches the model: a parameter replaced or a tensor disposed since the pass. */
function checkUnchanged(extension: string, nodes: readonly GraphNode[], tensors: readonly Tensor[]): void {
  for (const node of nodes) {
    for (const [name, version] of node.parameterVersions) {
      if (node.module.parameter(name).version !== version) {
        throw new Error(
          `${extension}: parameter '${name}' of ${node.module.describe()} was replaced after the backward pass that stored this product ` +
            `(version ${version} then, ${node.module.parameter(name).version} now); run the forward and backward passes again`,
        );
      }
    }
    for (const tensor of [...node.inputs, node.output, ...Object.values(node.saved)]) tensor.assertAlive(`${extension} (${node.module.describe()})`);
  }
  for (const tensor of tensors) tensor.assertAlive(extension);
}
