import { cpu } from '@backpack-ts/backend-cpu';
import { Conv2d, Flatten, Generator, Linear, MSELoss, ReLU, Sequential, extend } from '@backpack-ts/core';
import {
  EmpiricalFisherOperator,
  GGNOperator,
  HessianOperator,
  KFACOperator,
  MonteCarloFisherOperator,
  flattenTensors,
  unflattenVector,
} from '@backpack-ts/curvmatprod';

const options = { backend: cpu, dtype: 'float64' as const };
const generator = new Generator(1);
const model = extend(
  new Sequential(new Conv2d(1, 2, 2, { ...options, generator }), new ReLU(), new Flatten(), new Linear(8, 2, { ...options, generator })),
);
const lossFunction = extend(new MSELoss());
// A data set: batches [input, target], here of 3 and 2 samples.
const data = [3, 2].map((n) => [generator.normal([n, 1, 3, 3], options), generator.normal([n, 2], options)] as const);

const hessian = new HessianOperator(model, lossFunction, data);
const ggn = new GGNOperator(model, lossFunction, data);
const fisher = new MonteCarloFisherOperator(model, lossFunction, data, { mcSamples: 10, seed: 0 });
const empirical = new EmpiricalFisherOperator(model, lossFunction, data);
const kfac = new KFACOperator(model, lossFunction, data, { fisherType: 'exact', damping: 1e-2 });
console.log('shape', `[${hessian.shape.join(', ')}]`);
// shape [28, 28]

// Each applies to a batch of vectors [P, K] (or one vector [P]).
const vectors = generator.normal([hessian.shape[1], 3], options);
for (const [name, operator] of Object.entries({ hessian, ggn, fisher, empirical, kfac })) {
  console.log(name, Array.from(operator.matmat(vectors).toArray()));
}

// A KFAC-preconditioned step from the gradient of the first batch, shaped like the parameters.
const [input, target] = data[0]!;
lossFunction.forward(model.forward(input), target).backward();
const gradient = flattenTensors(model.parameters().map((p) => p.grad!));
const step = unflattenVector(kfac.inverse().matmat(gradient), model.parameters());
console.log('step', step.map((t) => `[${t.shape.join(', ')}]`).join(' '));
// step [2, 1, 2, 2] [2] [2, 8] [2]
console.log('values', Array.from(gradient.toArray()), Array.from(flattenTensors(step).toArray()));
