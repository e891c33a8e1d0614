import { add, mul, relu, square, step, tanh } from '../../ops/elementwise.js';
import type { Tensor } from '../../tensor/tensor.js';
import type { GraphNode } from '../leaf-module.js';
import type { CellDerivatives, CellStep } from './cell.js';
import { rejectUnknownOptions } from '../../ops/options.js';
import { RECURRENT_OPTIONS, RNNBase, type RecurrentOptions } from './rnn-base.js';
import { timeStep } from './sequence.js';

/** Options of {@link RNN}. */
export interface RNNOptions extends RecurrentOptions {
  /** φ: `'tanh'` (default) or `'relu'`. */
  readonly nonlinearity?: 'tanh' | 'relu';
}

/**
 * Elman RNN, as `nn.RNN`: per layer and time step
 * `h_t = φ(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)` with `h_0 = 0` and
 * φ tanh or ReLU. Parameters `weight_ih_l{k}` `[H, in]` (in = inputSize
 * for layer 0, H above), `weight_hh_l{k}` `[H, H]`, `bias_ih_l{k}` and
 * `bias_hh_l{k}` `[H]`. Input `[T, N, inputSize]`, or `[N, T, inputSize]`
 * with `batchFirst`; output the last layer's h_t, `[T, N, H]` or
 * `[N, T, H]`; final states with `finalState(output)` (see {@link RNNBase}).
 */
export class RNN extends RNNBase {
  readonly typeName = 'RNN';
  /** φ, applied to the pre-activations of every step. */
  readonly nonlinearity: 'tanh' | 'relu';

  constructor(inputSize: number, hiddenSize: number, options: RNNOptions = {}) {
    rejectUnknownOptions('RNN', options, [...RECURRENT_OPTIONS, 'nonlinearity']);
    const nonlinearity = options.nonlinearity ?? 'tanh';
    if (nonlinearity !== 'tanh' && nonlinearity !== 'relu') {
      throw new RangeError(`RNN: nonlinearity must be 'tanh' or 'relu', got '${String(nonlinearity)}'`);
    }
    super(inputSize, hiddenSize, 1, options);
    this.nonlinearity = nonlinearity;
  }

  protected cellStep(z: Tensor): CellStep {
    return { h: this.nonlinearity === 'tanh' ? tanh(z) : relu(z) };
  }

  /** With φ' and φ'' from h = φ(z): tanh' = 1 - h², tanh'' = -2h(1 - h²); ReLU' = step(h), ReLU'' = 0. */
  protected cellDerivatives(node: GraphNode, layer: number): CellDerivatives {
    const h = this.recorded(node, 'h', layer);
    const tanhCell = this.nonlinearity === 'tanh';
    const firstDerivative = tanhCell ? add(mul(square(h), -1), 1) : step(h);
    const secondDerivative = tanhCell ? mul(mul(firstDerivative, h), -2) : undefined;
    return {
      adjoint: (t, hBar) => ({ zBar: mul(hBar, timeStep(firstDerivative, t)), stateBar: undefined }),
      tangent: (t, dz) => ({ h: mul(dz, timeStep(firstDerivative, t)), state: undefined }),
      adjointCurvature: (t, hBar, _stateBar, dz) => ({
        zBar: secondDerivative === undefined ? undefined : mul(mul(hBar, timeStep(secondDerivative, t)), dz),
        stateBar: undefined,
      }),
    };
  }
}
