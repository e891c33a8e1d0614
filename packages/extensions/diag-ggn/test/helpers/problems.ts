/**
 * Small test problems: each a core model and loss, a batch, and the same
 * network written by hand with forward-mode AD (helpers/forward-ad.ts) plus
 * the per-sample loss Hessians, so the GGN can be computed by its definition.
 */
import { cpu } from '@backpack-ts/backend-cpu';
import {
  Add,
  BCEWithLogitsLoss,
  CrossEntropyLoss,
  Generator,
  LeafModule,
  Linear,
  MSELoss,
  Module,
  ReLU,
  Sequential,
  Sigmoid,
  Tanh,
  extend,
  mul,
  sum,
  tensor,
  type GraphNode,
  type LossModule,
  type Parameter,
  type Reduction,
  type ModuleTraits,
  type ParameterJacobianOptions,
  type Tensor,
} from '@backpack-ts/core';
import { constants, linear, mul as dualMul, ParameterIndex, relu, sigmoid, tanh, add as dualAdd, type Dual } from './forward-ad.js';
import { binaryCrossEntropyHessian, crossEntropyHessian, squaredErrorHessian, type Matrix } from './ggn.js';

export const dtype = 'float64';

export interface Problem {
  readonly name: string;
  readonly model: Module;
  readonly loss: LossModule;
  readonly input: Tensor;
  readonly target: Tensor;
  /** Where each parameter sits in the forward-mode tangents. */
  readonly index: ParameterIndex;
  /** The network by hand: per-sample flattened outputs with their parameter derivatives. */
  readonly outputs: () => Dual[][];
  /** Per-sample loss Hessians w.r.t. the flattened output, with the reduction's factor. */
  readonly hessians: (outputs: readonly number[][]) => Matrix[];
}

function uniform(generator: Generator, shape: number[], low = -1, high = 1): Tensor {
  return generator.uniform(shape, { low, high, backend: cpu, dtype });
}

function layer(generator: Generator, inFeatures: number, outFeatures: number, bias = true): Linear {
  return new Linear(inFeatures, outFeatures, { bias, backend: cpu, dtype, generator });
}

/** Per-sample rows of a `[N, ...]` tensor. */
function rows(x: Tensor): number[][] {
  const n = x.shape[0]!;
  const data = x.toArray();
  const per = data.length / n;
  return Array.from({ length: n }, (_, i) => Array.from(data.slice(i * per, (i + 1) * per) as ArrayLike<number>));
}

function classTargets(generator: Generator, n: number, classes: number): Tensor {
  return tensor(
    Array.from({ length: n }, () => Math.floor(generator.nextUniform() * classes)),
    [n],
    { backend: cpu, dtype: 'int32' },
  );
}

function lossScale(reduction: Reduction, denominator: number): number {
  return reduction === 'mean' ? 1 / denominator : 1;
}

/**
 * A CrossEntropyLoss problem on `model` and `input`, with class targets drawn
 * from `generator` (after the model and input, as every problem here draws);
 * `network` is the model by hand on one sample's input.
 */
function crossEntropyProblem(
  name: string,
  generator: Generator,
  model: Module,
  input: Tensor,
  classes: number,
  reduction: Reduction,
  network: (index: ParameterIndex, x: Dual[]) => Dual[],
): Problem {
  const n = input.shape[0]!;
  const index = new ParameterIndex(model);
  return {
    name,
    model,
    loss: extend(new CrossEntropyLoss(reduction)),
    input,
    index,
    target: classTargets(generator, n, classes),
    outputs: () => rows(input).map((x) => network(index, constants(index, x))),
    hessians: (outputs) => outputs.map((logits) => crossEntropyHessian(logits, lossScale(reduction, n))),
  };
}

/** A tensor feeding two modules whose outputs `Add` merges: out(σ(relu(a(h)) + b(h))), h = tanh(l1(x)). */
class Branching extends Module {
  readonly typeName = 'Branching';
  readonly l1: Linear;
  readonly act = this.registerModule('act', new Tanh());
  readonly a: Linear;
  readonly relu = this.registerModule('relu', new ReLU());
  readonly b: Linear;
  readonly add = this.registerModule('add', new Add());
  readonly sigmoid = this.registerModule('sigmoid', new Sigmoid());
  readonly out: Linear;

  constructor(generator: Generator, inFeatures: number, hidden: number, classes: number) {
    super();
    this.l1 = this.registerModule('l1', layer(generator, inFeatures, hidden));
    this.a = this.registerModule('a', layer(generator, hidden, hidden));
    this.b = this.registerModule('b', layer(generator, hidden, hidden, false));
    this.out = this.registerModule('out', layer(generator, hidden, classes));
  }

  forward(x: Tensor): Tensor {
    const h = this.act.forward(this.l1.forward(x));
    const merged = this.add.forward(this.relu.forward(this.a.forward(h)), this.b.forward(h));
    return this.out.forward(this.sigmoid.forward(merged));
  }
}

export function branchingCrossEntropy(): Problem {
  const generator = new Generator(11);
  const [n, inFeatures, hidden, classes] = [4, 5, 4, 3];
  const model = extend(new Branching(generator, inFeatures, hidden, classes));
  const input = uniform(generator, [n, inFeatures]);
  return crossEntropyProblem('MLP with a branch merged by Add, CrossEntropyLoss', generator, model, input, classes, 'mean', (index, x) => {
    const h = linear(index, 'l1', x).map(tanh);
    const a = linear(index, 'a', h).map(relu);
    const b = linear(index, 'b', h, false);
    return linear(index, 'out', a.map((ai, i) => sigmoid(dualAdd(ai, b[i]!))));
  });
}

/** MSELoss on outputs `[N, 2, 3]`: Linear layers on inputs `[N, 2, 4]` (extra dimension). */
export function squaredErrorRank3(reduction: Reduction): Problem {
  const generator = new Generator(12);
  const [n, tokens, inFeatures, hidden, outFeatures] = [3, 2, 4, 5, 3];
  const model = extend(new Sequential(layer(generator, inFeatures, hidden), new Tanh(), layer(generator, hidden, outFeatures)));
  const input = uniform(generator, [n, tokens, inFeatures]);
  const index = new ParameterIndex(model);
  return {
    name: `MSELoss (${reduction}) on outputs [N, 2, 3]`,
    model,
    loss: extend(new MSELoss(reduction)),
    input,
    index,
    target: uniform(generator, [n, tokens, outFeatures]),
    outputs: () =>
      rows(input).map((x) =>
        Array.from({ length: tokens }, (_, t) => {
          const row = constants(index, x.slice(t * inFeatures, (t + 1) * inFeatures));
          return linear(index, '2', linear(index, '0', row).map(tanh));
        }).flat(),
      ),
    hessians: (outputs) =>
      outputs.map((o) => squaredErrorHessian(o.length, lossScale(reduction, n * tokens * outFeatures))),
  };
}

/** BCEWithLogitsLoss with 3 outputs per sample. */
export function binaryCrossEntropy3(): Problem {
  const generator = new Generator(13);
  const [n, inFeatures, hidden, outFeatures] = [4, 4, 5, 3];
  const model = extend(new Sequential(layer(generator, inFeatures, hidden), new Sigmoid(), layer(generator, hidden, outFeatures)));
  const input = uniform(generator, [n, inFeatures], -2, 2);
  const index = new ParameterIndex(model);
  return {
    name: 'BCEWithLogitsLoss with 3 outputs',
    model,
    loss: extend(new BCEWithLogitsLoss()),
    input,
    index,
    target: uniform(generator, [n, outFeatures], 0, 1),
    outputs: () => rows(input).map((x) => linear(index, '2', linear(index, '0', constants(index, x)).map(sigmoid))),
    hessians: (outputs) => outputs.map((logits) => binaryCrossEntropyHessian(logits, 1 / (n * outFeatures))),
  };
}

/** One Linear applied twice (weight sharing): head(tanh(shared(tanh(shared(x))))). */
class SharedTwice extends Module {
  readonly typeName = 'SharedTwice';
  readonly shared: Linear;
  readonly act = this.registerModule('act', new Tanh());
  readonly head: Linear;

  constructor(generator: Generator, features: number, classes: number) {
    super();
    this.shared = this.registerModule('shared', layer(generator, features, features));
    this.head = this.registerModule('head', layer(generator, features, classes));
  }

  forward(x: Tensor): Tensor {
    const once = this.act.forward(this.shared.forward(x));
    return this.head.forward(this.act.forward(this.shared.forward(once)));
  }
}

export function sharedWeights(): Problem {
  const generator = new Generator(14);
  const [n, features, classes] = [3, 3, 4];
  const model = extend(new SharedTwice(generator, features, classes));
  const input = uniform(generator, [n, features]);
  return crossEntropyProblem('a Linear used twice (weight sharing), CrossEntropyLoss', generator, model, input, classes, 'sum', (index, x) => {
    const once = linear(index, 'shared', x).map(tanh);
    return linear(index, 'head', linear(index, 'shared', once).map(tanh));
  });
}

/**
 * A third-party module with a parameter: `y = x ⊙ w` over the last dimension,
 * with its own derivatives. It declares per-sample parameter Jacobians, which
 * is all the GGN extensions need of it.
 */
class Scale extends LeafModule {
  readonly typeName = 'Scale';
  override readonly traits: ModuleTraits = { perSampleParameterJacobian: true };
  readonly weight: Parameter;

  constructor(features: number, generator: Generator) {
    super();
    this.weight = this.registerParameter('weight', uniform(generator, [features], 0.5, 1.5));
  }

  protected checkInputs(): void {}

  protected compute(inputs: readonly Tensor[]): Tensor {
    return mul(inputs[0]!, this.weight.data);
  }

  jacTMatProd(_node: GraphNode, mat: Tensor): Tensor {
    return mul(mat, this.weight.data);
  }

  override paramJacTMatProd(node: GraphNode, _name: string, mat: Tensor, { sumBatch }: ParameterJacobianOptions): Tensor {
    const perSample = mul(mat, node.input); // [V, N, F]
    return sumBatch ? sum(perSample, 1) : perSample;
  }
}

export function thirdPartyModule(): Problem {
  const generator = new Generator(15);
  const [n, inFeatures, hidden, classes] = [3, 3, 4, 3];
  const model = extend(new Sequential(layer(generator, inFeatures, hidden), new Scale(hidden, generator), new Tanh(), layer(generator, hidden, classes)));
  const input = uniform(generator, [n, inFeatures]);
  return crossEntropyProblem('a third-party module supported through its traits', generator, model, input, classes, 'mean', (index, x) => {
    const h = linear(index, '0', x).map((hi, i) => tanh(dualMul(hi, index.entry('1.weight', i))));
    return linear(index, '3', h);
  });
}
