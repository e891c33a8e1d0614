import { cpu } from '@backpack-ts/backend-cpu';
import { CrossEntropyLoss, Generator, Linear, Sequential, Sigmoid, add, extend, eye, linalg, mul, tensor } from '@backpack-ts/core';
import { GGNOperator, HessianOperator, flattenTensors } from '@backpack-ts/curvmatprod';

const options = { backend: cpu, dtype: 'float64' as const };
const generator = new Generator(2);
const model = extend(new Sequential(new Linear(4, 3, { ...options, generator }), new Sigmoid(), new Linear(3, 3, { ...options, generator })));
const lossFunction = extend(new CrossEntropyLoss());
const data = [4, 3].map((n) => [generator.normal([n, 4], options), tensor(Array.from({ length: n }, (_, i) => i % 3), [n], { backend: cpu, dtype: 'int32' })] as const);

const ggn = new GGNOperator(model, lossFunction, data);
const hessian = new HessianOperator(model, lossFunction, data);
const size = ggn.shape[0];

// The gradient of the mean loss over the data set: each batch's gradient weighted by its share of the samples.
for (const [input, labels] of data) {
  const loss = lossFunction.forward(model.forward(input), labels);
  mul(loss, input.shape[0]! / 7).backward();
}
const gradient = flattenTensors(model.parameters().map((p) => p.grad!));

// Exact references, from the operators applied to the identity (column by column):
// the trace, and a damped Newton step -(C + δI)⁻¹ g by a dense solve.
const damping = 0.1;
for (const [name, operator] of Object.entries({ ggn, hessian })) {
  const dense = operator.matmat(eye(size, options));
  const trace = Array.from(dense.toArray()).reduce((sum, value, i) => (i % (size + 1) === 0 ? sum + value : sum), 0);
  const step = mul(linalg.solve(add(dense, mul(eye(size, options), damping)), gradient), -1);
  console.log(name, 'trace', trace, 'step', Array.from(step.toArray()));
}
