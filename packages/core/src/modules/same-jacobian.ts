import type { GraphNode, LeafModule } from './leaf-module.js';
import { reshape, transpose } from '../ops/layout.js';
import { tidy } from '../tensor/scope.js';
import { sizeOf } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';

/**
 * KFRA's `(1/N) Σ_n J_nᵀ M J_n` for a module whose input Jacobian is the same
 * for every sample (a relabelling, selection or scaling of each sample's
 * entries: Permute, Slicing, Pad) and whose `jacTMatProd` reads the batch
 * size off `mat`: the average is `Jᵀ M J`, computed by applying `jacTMatProd`
 * to the rows of M taken as a batch, twice (M is symmetric). Costs
 * `D_out · D_in` memory rather than the generic default's `N · D_out · D_in`.
 */
export function sameJacobianJacTMatJac(module: LeafModule, node: GraphNode, mat: Tensor, inputIndex = 0): Tensor {
  return tidy(() => {
    const outShape = node.output.shape.slice(1);
    const dIn = sizeOf(node.inputs[inputIndex]!.shape.slice(1));
    const rowsTimesJ = (rows: Tensor): Tensor => {
      const count = rows.shape[0]!;
      return reshape(module.jacTMatProd(node, reshape(rows, [1, count, ...outShape]), inputIndex), [count, dIn]);
    };
    // (M J)ᵀ = Jᵀ M, whose rows go through J again: Jᵀ M J.
    return rowsTimesJ(transpose(rowsTimesJ(mat), 0, 1));
  });
}
