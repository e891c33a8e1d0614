/**
 * Small float64 networks with recurrent layers for the brute-force checks
 * (batch-first: the loss reads the batch from dimension 0).
 */
import { CrossEntropyLoss, Flatten, Generator, LSTM, MSELoss, RNN, ReduceTuple, Sequential, Sigmoid, Tanh } from '@backpack-ts/core';
import { cpu } from '@backpack-ts/backend-cpu';
import { classTargets, linear, makeProblem, randomTensor, type Problem } from './models.js';

const options = (seed: number) => ({ batchFirst: true, backend: cpu, dtype: 'float64' as const, generator: new Generator(seed) });

/**
 * Linear on `[N, T, 2]` → Tanh → LSTM(3, 5) → ReduceTuple → Flatten → Linear,
 * CrossEntropyLoss (mean): the LSTM's input residual reaches the first
 * Linear, and `weight_hh_l0` (100 entries) takes two passes of directions.
 */
export function lstmNet(): Problem {
  const model = new Sequential(linear(2, 3, 41), new Tanh(), new LSTM(3, 5, options(42)), new ReduceTuple(0), new Flatten(), linear(10, 2, 43));
  return makeProblem('Linear, Tanh, LSTM, Flatten, Linear, CrossEntropyLoss', model, new CrossEntropyLoss(), randomTensor([2, 2, 2], 44, 1.5), classTargets([1, 0]));
}

/**
 * Linear → RNN(tanh, 2 layers, no bias) → ReduceTuple → Sigmoid → Linear on
 * `[N, T, 3]`, MSELoss (sum): residuals of two recurrent layers and of an
 * activation after them.
 */
export function stackedRnnNet(): Problem {
  const model = new Sequential(linear(2, 3, 51), new RNN(3, 3, { ...options(52), numLayers: 2, bias: false }), new ReduceTuple(0), new Sigmoid(), linear(3, 2, 53));
  return makeProblem('Linear, 2-layer tanh RNN, Sigmoid, Linear, MSELoss (sum)', model, new MSELoss('sum'), randomTensor([2, 4, 2], 54, 1.5), randomTensor([2, 4, 2], 55));
}

/** RNN(relu) on the data → ReduceTuple → Flatten → Linear, CrossEntropyLoss (mean): piecewise linear in its input, curved in its parameters. */
export function reluRnnNet(): Problem {
  const model = new Sequential(new RNN(2, 3, { ...options(61), nonlinearity: 'relu' }), new ReduceTuple(0), new Flatten(), linear(9, 3, 62));
  return makeProblem('ReLU RNN, Flatten, Linear, CrossEntropyLoss', model, new CrossEntropyLoss(), randomTensor([3, 3, 2], 63, 1.5), classTargets([2, 1, 0]));
}
