/** Small float64 networks on the CPU backend, with a full-batch loss and per-sample losses for the brute-force checks. */
import { cpu } from '@backpack-ts/backend-cpu';
import { sampleOf } from '@backpack-ts/conformance';
import {
  Add,
  BCEWithLogitsLoss,
  CrossEntropyLoss,
  Dropout,
  ELU,
  Flatten,
  Generator,
  Identity,
  LeakyReLU,
  Linear,
  LogSigmoid,
  MSELoss,
  Module,
  ReLU,
  SELU,
  Sequential,
  Sigmoid,
  Tanh,
  extend,
  tensor,
  type LossModule,
  type Parameter,
  type Tensor,
} from '@backpack-ts/core';

/** A model, its loss and a batch: everything a backward pass needs. */
export interface Problem {
  readonly name: string;
  readonly model: Module;
  readonly lossFunction: LossModule;
  readonly input: Tensor;
  readonly target: Tensor;
  readonly batch: number;
  /** Parameters with their dotted names. */
  readonly parameters: readonly [string, Parameter][];
  /** A fresh forward pass on the whole batch, returning the loss. */
  loss(): Tensor;
  /** A fresh forward pass on sample n alone, returning its term of the full loss up to {@link sampleScale}. */
  sampleLoss(n: number): Tensor;
  /** The factor between `sampleLoss(n)` and sample n's term of the full loss (1/N for a `mean` reduction). */
  readonly sampleScale: number;
}

const like = { backend: cpu, dtype: 'float64' as const };

export function linear(inFeatures: number, outFeatures: number, seed: number, bias = true): Linear {
  return new Linear(inFeatures, outFeatures, { bias, backend: cpu, dtype: 'float64', generator: new Generator(seed) });
}

/** Uniform values in [-scale, scale], reproducible. */
export function randomTensor(shape: readonly number[], seed: number, scale = 1): Tensor {
  return new Generator(seed).uniform(shape, { ...like, low: -scale, high: scale });
}

export function classTargets(values: readonly number[]): Tensor {
  return tensor(values, [values.length], { backend: cpu, dtype: 'int32' });
}

export function makeProblem(
  name: string,
  model: Module,
  lossFunction: LossModule,
  input: Tensor,
  target: Tensor,
  beforeForward: () => void = () => {},
): Problem {
  extend(model);
  extend(lossFunction);
  const batch = input.shape[0]!;
  return {
    name,
    model,
    lossFunction,
    input,
    target,
    batch,
    parameters: model.namedParameters(),
    loss() {
      beforeForward();
      return lossFunction.forward(model.forward(input), target);
    },
    sampleLoss(n) {
      beforeForward();
      return lossFunction.forward(model.forward(sampleOf(input, n)), sampleOf(target, n));
    },
    sampleScale: lossFunction.reduction === 'mean' ? 1 / batch : 1,
  };
}

/** Linear → Sigmoid → Linear → Tanh → Linear → ELU → Linear, CrossEntropyLoss (mean). */
export function curvedMlp(): Problem {
  const model = new Sequential(
    linear(4, 5, 1),
    new Sigmoid(),
    linear(5, 4, 2),
    new Tanh(),
    linear(4, 4, 3),
    new ELU(0.7),
    linear(4, 3, 4),
  );
  return makeProblem('Sigmoid/Tanh/ELU MLP, CrossEntropyLoss', model, new CrossEntropyLoss(), randomTensor([3, 4], 10, 2), classTargets([0, 2, 1]));
}

/** Linear → SELU → Linear → LogSigmoid → Linear → LeakyReLU → Linear (no bias), BCEWithLogitsLoss (mean). */
export function bceMlp(): Problem {
  const model = new Sequential(
    linear(3, 4, 5),
    new SELU(),
    linear(4, 4, 6),
    new LogSigmoid(),
    linear(4, 3, 7),
    new LeakyReLU(0.2),
    linear(3, 2, 8, false),
  );
  const target = new Generator(12).uniform([4, 2], like);
  return makeProblem('SELU/LogSigmoid/LeakyReLU MLP, BCEWithLogitsLoss', model, new BCEWithLogitsLoss(), randomTensor([4, 3], 11, 1.5), target);
}

/**
 * Inputs with extra dimensions: Linear on `[N, 2, 3]` → Sigmoid → Flatten →
 * Tanh → Identity → Linear, MSELoss (sum). Residual factors pass Flatten in
 * compact form and meet a Linear with extra dimensions (the general path).
 */
export function extraDimsMlp(): Problem {
  const model = new Sequential(linear(3, 4, 13), new Sigmoid(), new Flatten(), new Tanh(), new Identity(), linear(8, 3, 14));
  return makeProblem('Linear on [N, 2, 3] with Sigmoid/Flatten/Tanh, MSELoss (sum)', model, new MSELoss('sum'), randomTensor([3, 2, 3], 15, 2), randomTensor([3, 3], 16));
}

/**
 * A residual network (a DAG):
 *
 *     h  = inp(x)
 *     h1 = h + lin1(tanh(h))                    loss factors reach h along two paths
 *     s  = sigmoid(h1)                          its residual reaches h along two paths
 *     z  = elu(s) + s + lin2(dropout(s))        three-way merge, compact and dense factors
 *     w  = z + z                                one tensor twice into one Add
 *     y  = out(logsigmoid(w))
 *
 * Dropout is in training mode with a mask redrawn from the same seed at every
 * forward pass, so finite differences see the same function.
 */
export class ResidualNet extends Module {
  readonly typeName = 'ResidualNet';
  private readonly generator = new Generator(99);
  readonly inp = this.registerModule('inp', linear(4, 5, 21));
  readonly tanh = this.registerModule('tanh', new Tanh());
  readonly lin1 = this.registerModule('lin1', linear(5, 5, 22));
  readonly add1 = this.registerModule('add1', new Add());
  readonly sigmoid = this.registerModule('sigmoid', new Sigmoid());
  readonly elu = this.registerModule('elu', new ELU());
  readonly dropout = this.registerModule('dropout', new Dropout(0.3, this.generator));
  readonly lin2 = this.registerModule('lin2', linear(5, 5, 23));
  readonly add2 = this.registerModule('add2', new Add());
  readonly add3 = this.registerModule('add3', new Add());
  readonly logSigmoid = this.registerModule('logSigmoid', new LogSigmoid());
  readonly out = this.registerModule('out', linear(5, 3, 24));

  /** Makes every forward pass draw the same dropout mask. */
  reseed(): void {
    this.generator.manualSeed(7);
  }

  forward(x: Tensor): Tensor {
    const h = this.inp.forward(x);
    const h1 = this.add1.forward(h, this.lin1.forward(this.tanh.forward(h)));
    const s = this.sigmoid.forward(h1);
    const z = this.add2.forward(this.elu.forward(s), s, this.lin2.forward(this.dropout.forward(s)));
    const w = this.add3.forward(z, z);
    return this.out.forward(this.logSigmoid.forward(w));
  }
}

/** {@link ResidualNet} with CrossEntropyLoss (mean); `training` selects the dropout mode. */
export function residualNet(training: boolean): Problem {
  const model = new ResidualNet();
  model.train(training);
  return makeProblem(
    `residual network (dropout ${training ? 'training' : 'evaluation'}), CrossEntropyLoss`,
    model,
    new CrossEntropyLoss(),
    randomTensor([4, 4], 25, 1.5),
    classTargets([2, 0, 1, 2]),
    () => model.reseed(),
  );
}

/** A ReLU MLP with MSELoss (mean): the Hessian is the GGN (no residual terms). */
export function reluMlp(): Problem {
  const model = new Sequential(linear(3, 4, 31), new ReLU(), linear(4, 2, 32));
  return makeProblem('ReLU MLP, MSELoss', model, new MSELoss(), randomTensor([3, 3], 33), randomTensor([3, 2], 34));
}
