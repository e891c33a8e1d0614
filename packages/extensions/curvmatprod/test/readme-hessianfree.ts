import { cpu } from '@backpack-ts/backend-cpu';
import { CrossEntropyLoss, Generator, Linear, Sequential, Tanh, extend, tensor } from '@backpack-ts/core';
import { ggnVectorProduct, hessianVectorProduct, jacobianVectorProduct, transposedJacobianVectorProduct } from '@backpack-ts/curvmatprod';

const options = { backend: cpu, dtype: 'float64' as const };
const generator = new Generator(0);
const model = extend(new Sequential(new Linear(3, 4, { ...options, generator }), new Tanh(), new Linear(4, 2, { ...options, generator })));
const lossFunction = extend(new CrossEntropyLoss());
const input = generator.normal([5, 3], options);
const labels = tensor([0, 1, 1, 0, 1], [5], { backend: cpu, dtype: 'int32' });

const output = model.forward(input);
const loss = lossFunction.forward(output, labels);
const parameters = model.parameters(); // 0.weight [4, 3], 0.bias [4], 2.weight [2, 4], 2.bias [2]
const vectors = parameters.map((p) => generator.normal(p.data.shape, options)); // one per parameter

const hv = hessianVectorProduct(loss, parameters, vectors); // Hessian w.r.t. all four, times v
const gv = ggnVectorProduct(loss, output, model, vectors); // Jᵀ H_loss J v
// The graph is kept: more products follow, here over the last layer only.
const lastLayer = hessianVectorProduct(loss, parameters.slice(2), vectors.slice(2));
const [jv] = jacobianVectorProduct([output], parameters, vectors); // J v, shaped like the output [5, 2]
const jtw = transposedJacobianVectorProduct([output], parameters, [jv!]); // Jᵀ (J v)

for (const [name, products] of Object.entries({ hv, gv, lastLayer, jtw })) {
  console.log(name, products.map((t) => `[${t.shape.join(', ')}]`).join(' '));
}
// hv [4, 3] [4] [2, 4] [2]
// gv [4, 3] [4] [2, 4] [2]
// lastLayer [2, 4] [2]
// jtw [4, 3] [4] [2, 4] [2]
console.log('values', [hv, gv, lastLayer, [jv!], jtw].map((products) => products.map((t) => Array.from(t.toArray()))));
