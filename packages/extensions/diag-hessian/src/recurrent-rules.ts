/**
 * DiagHessian and BatchDiagHessian for recurrent layers (core's `RNNBase`:
 * RNN, LSTM), exactly. Beyond the backpropagated square roots, a recurrent
 * layer's Hessian has residual terms `Σ_k g_k ∇²y_k` (g: the gradient w.r.t.
 * the output y) that are not diagonal: the time steps are coupled, and the
 * output is not affine in the parameters. Both come from the module's
 * products with that residual (`residualHessianProduct`, forward-over-reverse):
 *
 * - at the input, per sample the whole `[D, D]` residual R (D = T·inputSize,
 *   one product per input entry), added as a signed square-root factor with
 *   2D columns (`R = S₊S₊ᵀ - S₋S₋ᵀ`, `S± = a I ± R/(4a)`);
 * - for each parameter, the diagonal of its residual block, one product per
 *   entry of the parameter, {@link DIRECTIONS_PER_PASS} at a time.
 *
 * The backpropagated factors' part of a parameter diagonal,
 * `Σ_k Σ_v sign (J_θᵀ S_k)²`, comes from the module's
 * `paramJacTMatProdSquares` (Gram matrices over time), without building the
 * `[V, N, ...param]` products.
 *
 * Cost: about `T·inputSize + Σ_params size` products, each about a backward
 * pass through the layer: exact, and feasible for small layers (the golden
 * cases: a few dozen parameters per weight), slow for large ones.
 */
import {
  abs,
  add,
  concat,
  eye,
  max,
  maximum,
  mul,
  neg,
  ones,
  permute,
  reciprocal,
  reshape,
  slice,
  sqrt,
  sum,
  type GraphNode,
  type ParameterJacobianOptions,
  type Quantity,
  type RNNBase,
  type Tensor,
} from '@backpack-ts/core';
import type { HessianRule } from './rules.js';
import { backpropFactor, parameterDiagonal, toDense, type DenseFactor, type SqrtFactors } from './sqrt-factors.js';

/** Parameter directions per call of `residualHessianProduct`: bounds the memory of a pass to this many times a backward pass's. */
export const DIRECTIONS_PER_PASS = 64;

/**
 * The smallest scale of a sample's residual (a normal float32 number, with a
 * finite reciprocal square root), so that an all-zero residual gives finite
 * factors, whose columns then cancel exactly.
 */
const TINY = 1e-30;

/**
 * The residual w.r.t. the layer's input as a signed dense factor
 * `[2D, ...input]` (columns `S₊` with sign +1, then `S₋` with sign -1):
 * with R_n the residual of sample n and `a_n = √max|R_n| / 2`,
 * `S± = a_n I ± R_n / (4 a_n)`, so `S₊S₊ᵀ - S₋S₋ᵀ = R_n` and both terms
 * have the size of R_n (no cancellation beyond rounding).
 */
function inputResidualFactor(node: GraphNode, gradOutput: Tensor): DenseFactor {
  const module = node.module as RNNBase;
  const x = node.input;
  const batchAxis = module.batchFirst ? 0 : 1;
  const n = x.shape[batchAxis]!;
  const perSample = x.shape.filter((_, i) => i !== batchAxis);
  const d = perSample[0]! * perSample[1]!;
  const like = { backend: x.backend, dtype: x.dtype };
  // Direction d is the unit vector of per-sample entry d, in every sample.
  const unitShape = module.batchFirst ? [d, 1, ...perSample] : [d, perSample[0]!, 1, perSample[1]!];
  const units = mul(reshape(eye(d, like), unitShape), ones([1, ...x.shape], like));
  const residual = module.residualHessianProduct(node, gradOutput, { input: units }, []).input;
  const otherAxes = [0, 1, 2, 3].filter((axis) => axis !== batchAxis + 1);
  const scale = sqrt(maximum(max(abs(residual), otherAxes, true), TINY));
  const a = mul(scale, 0.5);
  const b = mul(reciprocal(scale), 0.5);
  const scaledUnits = mul(units, a);
  const scaledResidual = mul(residual, b);
  const signs = concat([ones([d, n], like), mul(ones([d, n], like), -1)], 0);
  return {
    kind: 'dense',
    origin: node,
    sqrt: concat([add(scaledUnits, scaledResidual), add(scaledUnits, mul(scaledResidual, -1))], 0),
    signs,
  };
}

/**
 * The diagonal of the residual block of parameter `name`, per sample
 * (`[N, ...param]`) or summed: one product per parameter entry, with the
 * unit directions {@link DIRECTIONS_PER_PASS} at a time.
 */
function parameterResidualDiagonal(node: GraphNode, gradOutput: Tensor, name: string, sumBatch: boolean): Tensor {
  const module = node.module as RNNBase;
  const parameter = module.parameter(name).data;
  const size = parameter.size;
  const identity = eye(size, { backend: parameter.backend, dtype: parameter.dtype });
  const chunks: Tensor[] = [];
  for (let begin = 0; begin < size; begin += DIRECTIONS_PER_PASS) {
    const count = Math.min(DIRECTIONS_PER_PASS, size - begin);
    const units = slice(identity, [begin, 0], [count, size]);
    const directions = new Map([[name, reshape(units, [count, ...parameter.shape])]]);
    const products = module.residualHessianProduct(node, gradOutput, { parameters: directions }, [name]).parameters.get(name)!;
    // Product j's own entry (begin + j), per sample: [count, N].
    chunks.push(sum(mul(reshape(products, [count, products.shape[1]!, size]), reshape(units, [count, 1, size])), 2));
  }
  const diagonal = permute(concat(chunks, 0), [1, 0]);
  const perSample = reshape(diagonal, [diagonal.shape[0]!, ...parameter.shape]);
  return sumBatch ? sum(perSample, 0) : perSample;
}

/** A factor's columns of one sign: `mat` `[V, ...output]`, zero in the other columns. */
interface SignedColumns {
  readonly mat: Tensor;
  readonly sign: 1 | -1;
}

/**
 * A factor at the layer's output split by the signs of its columns (±1, or
 * 0): without signs, all of it with sign +1; else `S ⊙ [sign > 0]` with +1
 * and `S ⊙ [sign < 0]` with -1, since `Σ_v sign (J_θᵀ S)²` is linear in the
 * squares of the columns, each column's product depending on that column only.
 */
function signedColumns(module: RNNBase, factor: DenseFactor): SignedColumns[] {
  const { sqrt: mat, signs } = factor;
  if (signs === undefined) return [{ mat, sign: 1 }];
  const [v, n] = signs.shape as [number, number];
  // Signs [V, N] broadcast over the layout [V, N, T, H] (batch-first) or [V, T, N, H].
  const maskShape = module.batchFirst ? [v, n, 1, 1] : [v, 1, n, 1];
  const masked = (sign: Tensor) => mul(mat, reshape(maximum(sign, 0), maskShape));
  return [
    { mat: masked(signs), sign: 1 },
    { mat: masked(neg(signs)), sign: -1 },
  ];
}

/**
 * `Σ_k Σ_v sign (J_θᵀ S_k)²` for each trainable parameter of the layer,
 * summed over the batch (`[...param]`) or per sample (`[N, ...param]`): the
 * backpropagated factors' part of the parameter diagonals, by the module's
 * `paramJacTMatProdSquares`. Each factor's columns of one sign share one
 * backpropagation through time and one Gram matrix per layer across the parameters.
 */
export function recurrentParameterSquares(node: GraphNode, factors: SqrtFactors, options: ParameterJacobianOptions): Map<string, Tensor> {
  const module = node.module as RNNBase;
  const columns = factors.flatMap((factor) => signedColumns(module, toDense(factor)));
  const results = new Map<string, Tensor>();
  for (const [name] of module.ownTrainableParameters()) {
    const terms = columns.map(({ mat, sign }) => {
      const squares = module.paramJacTMatProdSquares(node, name, mat, options);
      return sign === 1 ? squares : neg(squares);
    });
    results.set(name, terms.length === 0 ? parameterDiagonal(node, name, [], options) : terms.reduce((total, term) => add(total, term)));
  }
  return results;
}

/** The rule of RNNBase (RNN, LSTM) for DiagHessian and BatchDiagHessian. */
export const recurrentHessianRule: HessianRule = {
  backpropagate: (node, factors, inputIndex, { gradOutput }) => [
    ...factors.map((factor) => backpropFactor(node, factor, inputIndex)),
    inputResidualFactor(node, gradOutput),
  ],
  parameters: (node, factors, { extension, gradOutput }) => {
    const { sumBatch } = extension;
    const results = new Map<string, Quantity>();
    for (const [name, squares] of recurrentParameterSquares(node, factors, { sumBatch })) {
      results.set(name, add(squares, parameterResidualDiagonal(node, gradOutput, name, sumBatch)));
    }
    return results;
  },
};
