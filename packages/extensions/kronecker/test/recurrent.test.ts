/**
 * The Kronecker extensions have no factorisation for recurrent layers (nor
 * does BackPACK): KFAC, KFLR and KFRA refuse RNN and LSTM before the
 * backward pass changes anything, with the reason, unless a rule was set
 * for them with setModuleRule.
 */
import { cpu } from '@backpack-ts/backend-cpu';
import {
  CrossEntropyLoss,
  Flatten,
  Generator,
  LSTM,
  Linear,
  RNN,
  RNNBase,
  ReduceTuple,
  Sequential,
  UnsupportedModuleError,
  backpack,
  extend,
  tensor,
  type Extension,
} from '@backpack-ts/core';
import { describe, expect, it } from 'vitest';
import { KFAC, KFLR, KFRA, NoKroneckerFactorsError, type KroneckerRule } from '../src/index.js';

const like = { backend: cpu, dtype: 'float64' as const };

/** A recurrent layer → ReduceTuple → Flatten → Linear, CrossEntropyLoss, on a batch of 2 sequences of 3 steps. */
function problem(recurrent: RNNBase) {
  const generator = new Generator(5);
  const model = extend(new Sequential(recurrent, new ReduceTuple(0), new Flatten(), new Linear(3 * recurrent.hiddenSize, 2, { ...like, generator })));
  const loss = extend(new CrossEntropyLoss());
  const x = generator.normal([2, 3, 2], like);
  const y = tensor([0, 1], [2], { backend: cpu, dtype: 'int32' });
  return { model, run: (extensions: Extension[]) => backpack(extensions, () => loss.forward(model.forward(x), y).backward()) };
}

const layers = [
  ['RNN', () => new RNN(2, 3, { ...like, batchFirst: true, generator: new Generator(1) })],
  ['LSTM', () => new LSTM(2, 3, { ...like, batchFirst: true, generator: new Generator(1) })],
] as const;

const extensions = [
  ['KFAC', () => new KFAC()],
  ['KFLR', () => new KFLR()],
  ['KFRA', () => new KFRA()],
] as const;

describe.each(layers)('%s', (type, makeLayer) => {
  it.each(extensions)('%s refuses it with the reason, before anything is modified', (name, makeExtension) => {
    const { model, run } = problem(makeLayer());
    let error: unknown;
    try {
      run([makeExtension()]);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(NoKroneckerFactorsError);
    expect(error).toBeInstanceOf(UnsupportedModuleError);
    expect((error as Error).message).toMatch(
      new RegExp(`^${name} has no rule for ${type} '0' \\(module type ${type}\\): a recurrent layer uses each weight at every time step.*setModuleRule\\(${type}, rule\\)$`),
    );
    for (const [, parameter] of model.namedParameters()) expect(parameter.grad).toBeUndefined();
  });

  it('a rule set with setModuleRule is used instead', () => {
    const { model, run } = problem(makeLayer());
    // Passes the quantity on through the layer and stores nothing for its parameters.
    const passOn: KroneckerRule = { backpropagate: (node, q, i, { extension, gradOutput }) => extension.backpropagateThrough(node, q, gradOutput, i) };
    run([new KFLR().setModuleRule(RNNBase, passOn)]);
    const named = new Map(model.namedParameters());
    expect(named.get('3.weight')!.kflr).toHaveLength(2);
    expect(named.get('0.weight_ih_l0')!.kflr).toBeUndefined();
    expect(named.get('0.weight_ih_l0')!.grad).toBeDefined();
  });
});
