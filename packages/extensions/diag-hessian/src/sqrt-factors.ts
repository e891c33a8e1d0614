/**
 * The quantity DiagHessian and BatchDiagHessian backpropagate: the Hessian of
 * the loss w.r.t. a tensor `x` of shape `[N, ...shape]`, as a signed sum of
 * square-root factors (one block of columns each),
 *
 *     ∇²_{x_n} loss = Σ_k Σ_v sign_k[v, n] · S_k[v, n] S_k[v, n]ᵀ   (per sample n),
 *
 * the representation BackPACK uses (there with one sign per factor).
 *
 * - The loss contributes its exact Hessian square root (`sqrtHessian`), sign +1.
 * - Each module maps every factor to its input with the transposed Jacobian
 *   (`jacTMatProd`): `S ↦ Jᵀ S` keeps `Σ sign S Sᵀ ↦ Jᵀ (Σ sign S Sᵀ) J`.
 * - A module that is curved in its input adds the residual `Σ_k g_k ∇²y_k`,
 *   which for elementwise modules is `diag(r_n)` per sample
 *   (`residualHessianDiagonal`). BackPACK adds it as two factors,
 *   `diag(√max(r, 0))` with sign +1 and `diag(√max(-r, 0))` with sign -1.
 *   Their columns have disjoint support (column d of sample n is non-zero in
 *   at most one of them), so they are one factor `diag(√|r|)` with column
 *   signs `sign(r)`: the same matrix, with half the columns to propagate.
 * - A diagonal factor stays compact (`[N, ...shape]` instead of
 *   `[D, N, ...shape]`) through modules whose Jacobian is diagonal (the
 *   trait `diagonalJacobian`: activations, Identity, Dropout, Flatten, Add)
 *   and is expanded only where a module needs the dense form.
 *
 * Where a tensor feeds several modules, the factors arriving from each are
 * combined by their origin: factors created at the same place are columns of
 * one joint square root `S = Σ_paths Jᵀ S_origin` and are summed; a factor
 * reaching the tensor along one path only is kept as it is.
 */
import {
  abs,
  add,
  diagonalSqrtHessian,
  mul,
  permute,
  reshape,
  sign,
  sqrt,
  square,
  sum,
  zeros,
  type GraphNode,
  type LossModule,
  type OpNode,
  type ParameterJacobianOptions,
  type Tensor,
} from '@backpack-ts/core';

/**
 * Identifies where a factor was created (the loss node, or the node whose
 * residual it is). Factors with the same origin meeting at a tensor are
 * columns of one square root and are summed.
 */
export type FactorOrigin = object;

/** A factor held as a dense matrix: `S` of shape `[V, N, ...shape]`, V columns per sample. */
export interface DenseFactor {
  /** Tells the two factor kinds apart. */
  readonly kind: 'dense';
  /** Where the factor was created; factors of one origin are summed. */
  readonly origin: FactorOrigin;
  /** `[V, N, ...shape]`. */
  readonly sqrt: Tensor;
  /** Column signs `[V, N]` (±1, or 0 for a zero column); undefined means every column is +1. */
  readonly signs: Tensor | undefined;
}

/**
 * A factor that is diagonal per sample: column d of sample n is
 * `values[n, d] · e_d` (d over the flattened `shape`), with sign `signs[n, d]`.
 * Equal to the dense `[D, N, ...shape]` matrix `diagonalSqrtHessian(values)`.
 */
export interface DiagonalFactor {
  /** Tells the two factor kinds apart. */
  readonly kind: 'diagonal';
  /** Where the factor was created; factors of one origin are summed. */
  readonly origin: FactorOrigin;
  /** `[N, ...shape]`. */
  readonly values: Tensor;
  /** `[N, D]`: the sign of each column. */
  readonly signs: Tensor;
}

/** One signed square-root factor of a Hessian: dense, or diagonal per sample. */
export type SqrtFactor = DenseFactor | DiagonalFactor;

/** The Hessian w.r.t. one tensor: a list of factors with distinct origins. */
export type SqrtFactors = readonly SqrtFactor[];

/** The loss's exact Hessian square root w.r.t. its prediction, sign +1. */
export function lossFactor(node: GraphNode, loss: LossModule): DenseFactor {
  return { kind: 'dense', origin: node, sqrt: loss.sqrtHessian(node), signs: undefined };
}

/** The residual `diag(r_n)` per sample (`r` of shape `[N, ...in]`) as one signed diagonal factor. */
export function residualFactor(origin: FactorOrigin, residual: Tensor): DiagonalFactor {
  const n = residual.shape[0]!;
  return { kind: 'diagonal', origin, values: sqrt(abs(residual)), signs: reshape(sign(residual), [n, -1]) };
}

/** The dense form of a factor. */
export function toDense(factor: SqrtFactor): DenseFactor {
  if (factor.kind === 'dense') return factor;
  return {
    kind: 'dense',
    origin: factor.origin,
    sqrt: diagonalSqrtHessian(factor.values),
    signs: permute(factor.signs, [1, 0]),
  };
}

/**
 * `Jᵀ S` for one factor, keeping a diagonal factor compact through modules
 * with the trait `diagonalJacobian` (`jacTMatProd` of the values `[1, N, ...]`
 * gives the values at the input).
 */
export function backpropFactor(node: GraphNode, factor: SqrtFactor, inputIndex: number): SqrtFactor {
  if (factor.kind === 'diagonal' && node.module.traits.diagonalJacobian === true) {
    const { values } = factor;
    const mapped = node.module.jacTMatProd(node, reshape(values, [1, ...values.shape]), inputIndex);
    return { ...factor, values: reshape(mapped, mapped.shape.slice(1)) };
  }
  const dense = toDense(factor);
  return { ...dense, sqrt: node.module.jacTMatProd(node, dense.sqrt, inputIndex) };
}

/**
 * The factors at each input of a piecewise linear op (`undefined` for an input that
 * gets none): every factor, dense (an op's VJP has no diagonal shortcut),
 * mapped by the op's vector-Jacobian product over its leading dimension.
 */
export function backpropFactorsThroughOp(node: OpNode, factors: SqrtFactors): (SqrtFactors | undefined)[] {
  const mapped = factors.map((factor) => {
    const dense = toDense(factor);
    return { dense, atInputs: node.derivatives.vjp(dense.sqrt) };
  });
  return node.inputs.map((_, i) => {
    const atInput = mapped.flatMap(({ dense, atInputs }) => (atInputs[i] === undefined ? [] : [{ ...dense, sqrt: atInputs[i] }]));
    return atInput.length === 0 ? undefined : atInput;
  });
}

/**
 * The factors at input `inputIndex`: each factor at the output mapped by
 * `backpropOne` (default {@link backpropFactor}), plus the module's residual
 * (for input 0) as a new factor originating at this node.
 */
export function backpropFactors(
  node: GraphNode,
  factors: SqrtFactors,
  gradOutput: Tensor,
  inputIndex: number,
  backpropOne: (node: GraphNode, factor: SqrtFactor, inputIndex: number) => SqrtFactor = backpropFactor,
): SqrtFactors {
  const mapped = factors.map((factor) => backpropOne(node, factor, inputIndex));
  if (inputIndex !== 0) return mapped;
  const residual = node.module.residualHessianDiagonal(node, gradOutput);
  return residual === undefined ? mapped : [...mapped, residualFactor(node, residual)];
}

/** Two factors of one origin: the columns of their joint square root, summed. */
function sumFactors(a: SqrtFactor, b: SqrtFactor): SqrtFactor {
  if (a.kind === 'diagonal' && b.kind === 'diagonal') return { ...a, values: add(a.values, b.values) };
  const [denseA, denseB] = [toDense(a), toDense(b)];
  return { ...denseA, sqrt: add(denseA.sqrt, denseB.sqrt) };
}

/**
 * Combines the factors two consumers send to one tensor: factors of the same
 * origin are summed, the others kept (order: `a`'s, then `b`'s new ones).
 */
export function mergeFactors(a: SqrtFactors, b: SqrtFactors): SqrtFactors {
  const byOrigin = new Map<FactorOrigin, SqrtFactor>(a.map((factor) => [factor.origin, factor]));
  for (const factor of b) {
    const previous = byOrigin.get(factor.origin);
    byOrigin.set(factor.origin, previous === undefined ? factor : sumFactors(previous, factor));
  }
  return [...byOrigin.values()];
}

/**
 * `Σ_v sign[v, n] · M[v, n, ...]²` for a product `M = J_θᵀ S` of shape
 * `[V, N, ...param]`: summed over the batch (`[...param]`) or per sample
 * (`[N, ...param]`).
 */
export function signedSquareSum(jS: Tensor, signs: Tensor | undefined, { sumBatch }: ParameterJacobianOptions): Tensor {
  let squared = square(jS);
  if (signs !== undefined) squared = mul(squared, reshape(signs, [...signs.shape, ...jS.shape.slice(2).map(() => 1)]));
  return sum(squared, sumBatch ? [0, 1] : [0]);
}

/**
 * The diagonal of `Σ_k Σ_v sign (J_θᵀ S_k)(J_θᵀ S_k)ᵀ` for parameter `name`,
 * using the module's per-sample `paramJacTMatProd`. Exact for a parameter the
 * module's output depends on affinely (then `∇²_θ y = 0`).
 */
export function parameterDiagonal(node: GraphNode, name: string, factors: SqrtFactors, options: ParameterJacobianOptions): Tensor {
  const parameter = node.module.parameter(name).data;
  const terms = factors.map((factor) => {
    const dense = toDense(factor);
    const jS = node.module.paramJacTMatProd(node, name, dense.sqrt, { sumBatch: false });
    return signedSquareSum(jS, dense.signs, options);
  });
  if (terms.length === 0) {
    const shape = options.sumBatch ? parameter.shape : [node.batchSize, ...parameter.shape];
    return zeros(shape, { backend: parameter.backend, dtype: parameter.dtype });
  }
  return terms.reduce((total, term) => add(total, term));
}
