import { add, mul, neg, sigmoid, square, sub, tanh } from '../../ops/elementwise.js';
import { concat, slice } from '../../ops/layout.js';
import type { Tensor } from '../../tensor/tensor.js';
import type { GraphNode } from '../leaf-module.js';
import type { CellDerivatives, CellStep } from './cell.js';
import { rejectUnknownOptions } from '../../ops/options.js';
import { RECURRENT_OPTIONS, RNNBase, type RecurrentOptions, type RecurrentState } from './rnn-base.js';
import { previousSteps, timeStep } from './sequence.js';

/** Options of {@link LSTM}. */
export type LSTMOptions = RecurrentOptions;

/** The final states of an LSTM call: h_n and c_n, `[numLayers, N, H]` each. */
export interface LSTMState extends RecurrentState {
  readonly c: Tensor;
}

/** `1 - x`. */
function oneMinus(x: Tensor): Tensor {
  return add(neg(x), 1);
}

/** `a + b` where b may be absent (zero). */
function plus(a: Tensor, b: Tensor | undefined): Tensor {
  return b === undefined ? a : add(a, b);
}

/**
 * Long short-term memory, as `nn.LSTM`: per layer and time step, with
 * `z_t = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh` split into the gate blocks
 * in PyTorch's order (input, forget, cell, output),
 *
 *     i = σ(z_i), f = σ(z_f), g = tanh(z_g), o = σ(z_o),
 *     c_t = f ⊙ c_{t-1} + i ⊙ g,   h_t = o ⊙ tanh(c_t),
 *
 * from `h_0 = c_0 = 0`. Parameters `weight_ih_l{k}` `[4H, in]`,
 * `weight_hh_l{k}` `[4H, H]`, `bias_ih_l{k}` and `bias_hh_l{k}` `[4H]`.
 * Input `[T, N, inputSize]`, or `[N, T, inputSize]` with `batchFirst`;
 * output the last layer's h_t; final states (h_n, c_n) with
 * `finalState(output)` (see {@link RNNBase}).
 */
export class LSTM extends RNNBase {
  readonly typeName = 'LSTM';

  constructor(inputSize: number, hiddenSize: number, options: LSTMOptions = {}) {
    rejectUnknownOptions('LSTM', options, RECURRENT_OPTIONS);
    super(inputSize, hiddenSize, 4, options);
  }

  /** h_n and c_n of the call that returned `output`. */
  override finalState(output: Tensor): LSTMState {
    return super.finalState(output) as LSTMState;
  }

  /** Gate block `k` (0 input, 1 forget, 2 cell, 3 output) of `[..., 4H]`. */
  private gate(x: Tensor, k: number): Tensor {
    const h = this.hiddenSize;
    return slice(x, x.shape.map((_, i) => (i === x.rank - 1 ? k * h : 0)), x.shape.map((_, i) => (i === x.rank - 1 ? h : -1)));
  }

  /** The four gate blocks of `[..., 4H]` joined back, after `f` was applied to each (by index). */
  private perGate(x: Tensor, f: (block: Tensor, k: number) => Tensor): Tensor {
    return concat([0, 1, 2, 3].map((k) => f(this.gate(x, k), k)), -1);
  }

  protected cellStep(z: Tensor, cellPrev: Tensor | undefined): CellStep {
    const gates = this.perGate(z, (block, k) => (k === 2 ? tanh(block) : sigmoid(block)));
    const [i, f, g, o] = [0, 1, 2, 3].map((k) => this.gate(gates, k)) as [Tensor, Tensor, Tensor, Tensor];
    const c = plus(mul(i, g), cellPrev === undefined ? undefined : mul(f, cellPrev));
    return { h: mul(o, tanh(c)), state: c, saved: { gates, c } };
  }

  /**
   * From the recorded gates (activated), c_t and c_{t-1}. With k = tanh(c),
   * `∂h/∂c = o (1 - k²)`; the gates' derivatives w.r.t. z are
   * `D = [i(1-i), f(1-f), 1-g², o(1-o)]` and D's w.r.t. the gates
   * `E = [1-2i, 1-2f, -2g, 1-2o]`.
   */
  protected cellDerivatives(node: GraphNode, layer: number): CellDerivatives {
    const gates = this.recorded(node, 'gates', layer);
    const c = this.recorded(node, 'c', layer);
    const k = tanh(c);
    const cellPrev = previousSteps(c);
    const dTanhK = oneMinus(square(k));
    const hByC = mul(this.gate(gates, 3), dTanhK);
    const dGates = this.perGate(gates, (a, j) => (j === 2 ? oneMinus(square(a)) : mul(a, oneMinus(a))));
    const ddGates = this.perGate(gates, (a, j) => (j === 2 ? mul(a, -2) : oneMinus(mul(a, 2))));
    const at = (t: number) => {
      const gatesT = timeStep(gates, t);
      return {
        i: this.gate(gatesT, 0),
        f: this.gate(gatesT, 1),
        g: this.gate(gatesT, 2),
        o: this.gate(gatesT, 3),
        k: timeStep(k, t),
        dTanhK: timeStep(dTanhK, t),
        hByC: timeStep(hByC, t),
        cellPrev: timeStep(cellPrev, t),
        dGates: timeStep(dGates, t),
        ddGates: timeStep(ddGates, t),
      };
    };
    /** The forward tangent of step t: the gates', c's and tanh(c)'s. */
    const tangentOf = (t: number, dz: Tensor, dCellPrev: Tensor | undefined) => {
      const s = at(t);
      const gatesTangent = mul(dz, s.dGates);
      const [di, df, dg, dO] = [0, 1, 2, 3].map((j) => this.gate(gatesTangent, j)) as [Tensor, Tensor, Tensor, Tensor];
      const dc = plus(add(add(mul(df, s.cellPrev), mul(di, s.g)), mul(s.i, dg)), dCellPrev === undefined ? undefined : mul(s.f, dCellPrev));
      return { s, gatesTangent, di, df, dg, dO, dc, dk: mul(s.dTanhK, dc) };
    };
    return {
      adjoint: (t, hBar, stateBar) => {
        const s = at(t);
        const cBar = plus(mul(hBar, s.hByC), stateBar);
        const gatesBar = concat([mul(cBar, s.g), mul(cBar, s.cellPrev), mul(cBar, s.i), mul(hBar, s.k)], -1);
        return { zBar: mul(gatesBar, s.dGates), stateBar: mul(cBar, s.f) };
      },
      tangent: (t, dz, dCellPrev) => {
        const { s, dO, dc, dk } = tangentOf(t, dz, dCellPrev);
        return { h: add(mul(dO, s.k), mul(s.o, dk)), state: dc };
      },
      adjointCurvature: (t, hBar, stateBar, dz, dCellPrev) => {
        const { s, gatesTangent, di, df, dg, dO, dk } = tangentOf(t, dz, dCellPrev);
        const cBar = plus(mul(hBar, s.hByC), stateBar);
        // δ[o (1 - k²)] applied to h̄: the change of ∂h/∂c.
        const cBarTangent = mul(hBar, sub(mul(dO, s.dTanhK), mul(mul(s.o, s.k), mul(dk, 2))));
        const gatesBar = concat([mul(cBar, s.g), mul(cBar, s.cellPrev), mul(cBar, s.i), mul(hBar, s.k)], -1);
        const gatesBarTangent = concat(
          [
            add(mul(cBarTangent, s.g), mul(cBar, dg)),
            plus(mul(cBarTangent, s.cellPrev), dCellPrev === undefined ? undefined : mul(cBar, dCellPrev)),
            add(mul(cBarTangent, s.i), mul(cBar, di)),
            mul(hBar, dk),
          ],
          -1,
        );
        return {
          zBar: add(mul(gatesBarTangent, s.dGates), mul(gatesBar, mul(s.ddGates, gatesTangent))),
          stateBar: add(mul(cBarTangent, s.f), mul(cBar, df)),
        };
      },
    };
  }
}
