import { cpu } from '@backpack-ts/backend-cpu';
import { CrossEntropyLoss, Generator, Linear, ReLU, Sequential, backpack, extend, tensor } from '@backpack-ts/core';
import { KFAC, KFLR, KFRA } from '@backpack-ts/kronecker';

const options = { backend: cpu, dtype: 'float64' as const };
const generator = new Generator(0);
const model = extend(
  new Sequential(new Linear(4, 8, { ...options, generator }), new ReLU(), new Linear(8, 3, { ...options, generator })),
);
const lossFunction = extend(new CrossEntropyLoss());

const input = generator.normal([16, 4], options);
const labels = tensor(
  Array.from({ length: 16 }, (_, n) => n % 3),
  [16],
  { ...options, dtype: 'int32' },
);

const loss = lossFunction.forward(model.forward(input), labels);
backpack([new KFAC({ seed: 1 }), new KFLR(), new KFRA()], () => loss.backward());

for (const [name, parameter] of model.namedParameters()) {
  const shapes = (factors: { shape: readonly number[] }[] | undefined) => factors?.map((f) => `[${f.shape.join(', ')}]`).join(' ⊗ ');
  console.log(`${name}: kfac ${shapes(parameter.kfac)}, kflr ${shapes(parameter.kflr)}, kfra ${shapes(parameter.kfra)}`);
}
// 0.weight: kfac [8, 8] ⊗ [4, 4], kflr [8, 8] ⊗ [4, 4], kfra [8, 8] ⊗ [4, 4]
// 0.bias: kfac [8, 8], kflr [8, 8], kfra [8, 8]
// 2.weight: kfac [3, 3] ⊗ [8, 8], kflr [3, 3] ⊗ [8, 8], kfra [3, 3] ⊗ [8, 8]
// 2.bias: kfac [3, 3], kflr [3, 3], kfra [3, 3]
const [g, a] = model.namedParameters()[2]![1].kflr!;
console.log(g!.toArray(), a!.toArray());
