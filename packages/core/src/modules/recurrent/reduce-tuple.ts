import type { Tensor } from '../../tensor/tensor.js';
import { formatShape } from '../../tensor/shape.js';
import { Identity } from '../identity.js';
import { isRecurrentOutput } from './rnn-base.js';

/**
 * BackPACK's `ReduceTuple(index)`, which picks one element of a recurrent
 * layer's `(output, h_n)` so that the layer fits a `Sequential`. Here RNN
 * and LSTM already return `output` (the tensor extensions differentiate;
 * the final states come from `finalState(output)`), so `ReduceTuple(0)` is
 * the identity on it: it keeps PyTorch's layer indices (in
 * `Sequential(RNN, ReduceTuple(0), Linear)` the Linear is `'2'`) and checks
 * that its input is a recurrent layer's output.
 *
 * Other indices are refused when constructed: the final states are not
 * tensors of the recorded graph (for one layer, `h_n` is the output's last
 * time step, which a slice of the output gives with derivatives).
 */
export class ReduceTuple extends Identity {
  override readonly typeName = 'ReduceTuple';

  constructor(
    /** The element of BackPACK's tuple it picks: 0, the output. */
    readonly index = 0,
  ) {
    super();
    if (index !== 0) {
      throw new RangeError(
        `ReduceTuple(${index}): only index 0 (the output) is supported; RNN and LSTM return the output, and their final states ` +
          '(index 1: h_n, or (h_n, c_n) for LSTM) come from rnn.finalState(output) without derivatives; ' +
          "for a one-layer RNN's h_n with derivatives, take the output's last time step",
      );
    }
  }

  protected override checkInputs(inputs: readonly Tensor[]): void {
    super.checkInputs(inputs);
    if (!isRecurrentOutput(inputs[0]!)) {
      throw new TypeError(
        `${this.describe()}: expects the output of a recurrent layer (RNN, LSTM) right before it, got a tensor of shape ${formatShape(inputs[0]!.shape)} that is not one`,
      );
    }
  }
}
