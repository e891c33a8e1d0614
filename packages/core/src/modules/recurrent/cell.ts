/**
 * The contract between {@link RNNBase} and its cells (RNN's `h = φ(z)`,
 * LSTM's gates). Every layer computes the pre-activations
 * `z_t = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh` (`[N, G·H]`, G gates); the
 * cell maps `(z_t, s_{t-1})` to `(h_t, s_t)`, where s is the cell's own
 * state (LSTM's cell state c; RNN has none). The base class does the linear
 * parts (the projections, the recurrence through W_hh, layers and layout);
 * a cell gives one time step of its forward pass and of the derivatives:
 *
 * - `adjoint`: the reverse-mode step (linear in the adjoints), which
 *   backpropagation through time applies to V columns at once;
 * - `tangent`: the forward-mode step (linear in the tangents);
 * - `adjointCurvature`: how the adjoint step's coefficients change along a
 *   forward tangent, for second derivatives (forward-over-reverse products
 *   with the Hessian of `gᵀy`, see `RNNBase.residualHessianProduct`).
 *
 * Adjoints and tangents carry leading dimensions (`[..., N, ...]`, e.g. V
 * columns); the cell's recorded values (`[N, ...]`) broadcast over them.
 * An undefined tensor stands for zeros.
 */
import type { Tensor } from '../../tensor/tensor.js';

/** What one forward step of a cell produces. */
export interface CellStep {
  /** The hidden state h_t `[N, H]` (the layer's output at step t). */
  readonly h: Tensor;
  /** The cell's own state s_t `[N, H]` (LSTM's c_t); undefined for cells without one. */
  readonly state?: Tensor;
  /** Tensors `[N, k]` kept for the derivatives, by name; the layer stacks them over time (`[N, T, k]`). */
  readonly saved?: Readonly<Record<string, Tensor>>;
}

/** The result of a cell's adjoint step. */
export interface CellAdjoint {
  /** ∂/∂z_t, `[..., N, G·H]`. */
  readonly zBar: Tensor;
  /** ∂/∂s_{t-1}, `[..., N, H]`; undefined for zero (and for cells without a state). */
  readonly stateBar: Tensor | undefined;
}

/** The curvature part of the tangent of a cell's adjoint step (see `CellDerivatives.adjointCurvature`). */
export interface CellCurvature {
  /** Its part of δ(∂/∂z_t), `[..., N, G·H]`; undefined for zero (a piecewise-linear cell). */
  readonly zBar: Tensor | undefined;
  /** Its part of δ(∂/∂s_{t-1}), `[..., N, H]`; undefined for zero. */
  readonly stateBar: Tensor | undefined;
}

/** The result of a cell's tangent step. */
export interface CellTangent {
  /** δh_t, `[..., N, H]`. */
  readonly h: Tensor;
  /** δs_t, `[..., N, H]`; undefined for cells without a state. */
  readonly state: Tensor | undefined;
}

/** One recorded layer's cell derivatives, step by step (t counts from 0). */
export interface CellDerivatives {
  /**
   * From `hBar` = ∂/∂h_t (everything h_t feeds: the output and the next
   * step) and `stateBar` = ∂/∂s_t to ∂/∂z_t and ∂/∂s_{t-1}.
   */
  adjoint(t: number, hBar: Tensor, stateBar: Tensor | undefined): CellAdjoint;
  /** From δz_t and δs_{t-1} to δh_t and δs_t. */
  tangent(t: number, dz: Tensor, dStatePrev: Tensor | undefined): CellTangent;
  /**
   * The derivative of `adjoint`'s coefficients along the forward tangent
   * (δz_t, δs_{t-1}), applied to the primal adjoints (`hBar`, `stateBar`):
   * with it, the tangent of the adjoint step is
   * `adjoint(t, δhBar, δstateBar) + adjointCurvature(t, hBar, stateBar, δz, δs)`.
   */
  adjointCurvature(t: number, hBar: Tensor, stateBar: Tensor | undefined, dz: Tensor, dStatePrev: Tensor | undefined): CellCurvature;
}
