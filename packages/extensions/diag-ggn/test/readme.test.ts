/**
 * The README's example (the first ```ts block) runs as written, and every
 * value it prints is checked against the GGN by its definition on the same
 * model and data, rebuilt here from the example's seed: per-sample Jacobians
 * from ordinary one-sample backward passes (helpers/jacobians.ts) and the
 * CrossEntropyLoss Hessian written out (helpers/ggn.ts). The Monte-Carlo
 * diagonal is checked as `Σ_m Σ_n (J_nᵀ s_mn)²` with the samples s drawn by
 * the loss from a generator with the example's seed.
 */
import { cpu } from '@backpack-ts/backend-cpu';
import { markdownCodeBlocks, runModuleCapturingLogs } from '@backpack-ts/conformance';
import { CrossEntropyLoss, Generator, Linear, ReLU, Sequential, extend, tensor } from '@backpack-ts/core';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, expect, it } from 'vitest';
import { crossEntropyHessian, diagonal, expectClose, outerProducts, type Matrix } from './helpers/ggn.js';
import { ggnBlockOf, perSampleJacobians } from './helpers/jacobians.js';

const packageDir = join(dirname(fileURLToPath(import.meta.url)), '..');
/** Both sides are float64 computations of the same numbers. */
const TOLERANCE = 1e-12;
const FIELDS = ['grad', 'diagGgnExact', 'diagGgnExactBatch', 'sqrtGgnExact', 'diagGgnMc'] as const;
type Field = (typeof FIELDS)[number];
interface Printed {
  readonly shape: readonly number[];
  readonly values: ArrayLike<number>;
}

/** What the example printed: parameter name → field → shape and values. */
let printed: Map<string, Map<Field, Printed>>;

beforeAll(async () => {
  const example = markdownCodeBlocks(join(packageDir, 'README.md'))[0];
  expect(example).toBeDefined();
  // Inside the package, so that '@backpack-ts/diag-ggn' resolves to this package.
  const calls = await runModuleCapturingLogs(example!, join(packageDir, 'test'));
  printed = new Map();
  let current: Map<Field, Printed> | undefined;
  for (const args of calls) {
    // `name 'grad' shape values` starts a parameter; `'  field' shape values` continues it.
    if (args.length === 4) {
      current = new Map();
      printed.set(String(args[0]), current);
      args.shift();
    }
    const [label, shape, values] = args as [string, number[], Float64Array];
    current!.set(label.trim() as Field, { shape, values });
  }
});

/** The example's model, data and loss node, rebuilt from its seed, with the GGN by its definition. */
function reference() {
  const generator = new Generator(0);
  const options = { backend: cpu, generator };
  const model = extend(new Sequential(new Linear(4, 8, options), new ReLU(), new Linear(8, 3, options)));
  const x = generator.normal([5, 4], { backend: cpu });
  const targets = [0, 2, 1, 1, 0];
  const y = tensor(targets, [5], { backend: cpu, dtype: 'int32' });
  const lossFunction = extend(new CrossEntropyLoss());
  const lossNode = lossFunction.forward(model.forward(x), y).producer!;
  const n = x.shape[0]!;
  const { jacobians, outputs, offsets, total } = perSampleJacobians(model, x);
  const hessians = outputs.map((logits) => crossEntropyHessian(logits, 1 / n));
  const samples = lossFunction.sqrtHessianSampled(lossNode, 100, new Generator(42)).toArray(); // [M, N, C]
  return { model, n, classes: 3, targets, jacobians, outputs, hessians, offsets, total, samples };
}

it('the README example prints every quantity of every parameter, equal to the GGN by its definition', () => {
  const { model, n, classes, targets, jacobians, outputs, hessians, offsets, total, samples } = reference();
  const names = model.namedParameters().map(([name]) => name);
  expect([...printed.keys()]).toEqual(names);
  for (const [name, parameter] of model.namedParameters()) {
    const fields = printed.get(name)!;
    expect([...fields.keys()]).toEqual([...FIELDS]);
    const shape = parameter.data.shape;
    const k = parameter.data.size;
    const offset = offsets.get(name)!;
    const blocks: Matrix[] = jacobians.map((jac, i) => ggnBlockOf(jac, classes, total, hessians[i]!, offset, k));
    const totalBlock: Matrix = { size: k, data: blocks.reduce((sum, b) => sum.map((v, i) => v + b.data[i]!), new Float64Array(k * k)) };

    const check = (field: Field, expectedShape: readonly number[], expected: ArrayLike<number>) => {
      expect(fields.get(field)!.shape, `${name} ${field} shape`).toEqual(expectedShape);
      expectClose(fields.get(field)!.values, expected, TOLERANCE, `${name} ${field}`);
    };
    // The gradient is Σ_n J_nᵀ ∇_y loss_n, with ∇_y = (softmax(y) - onehot) / N.
    const grad = new Float64Array(k);
    jacobians.forEach((jac, i) => {
      const top = Math.max(...outputs[i]!);
      const e = outputs[i]!.map((z) => Math.exp(z - top));
      const sum = e.reduce((a, b) => a + b, 0);
      e.forEach((v, c) => {
        const g = (v / sum - (c === targets[i] ? 1 : 0)) / n;
        for (let j = 0; j < k; j++) grad[j] += g * jac[c * total + offset + j]!;
      });
    });
    check('grad', shape, grad);
    check('diagGgnExact', shape, diagonal(totalBlock));
    check('diagGgnExactBatch', [n, ...shape], blocks.flatMap((b) => [...diagonal(b)]));
    const sqrt = fields.get('sqrtGgnExact')!;
    expect(sqrt.shape, `${name} sqrtGgnExact shape`).toEqual([classes, n, ...shape]);
    outerProducts(sqrt.values, classes, n, k).forEach((m, i) => expectClose(m.data, blocks[i]!.data, TOLERANCE, `${name} sqrtGgnExact sample ${i}`));
    // Monte-Carlo: Σ_m Σ_n (J_nᵀ s_mn)² with the loss's own 100 samples.
    const mc = new Float64Array(k);
    const m = samples.length / (n * classes);
    for (let s = 0; s < m; s++) {
      jacobians.forEach((jac, i) => {
        for (let j = 0; j < k; j++) {
          let p = 0;
          for (let c = 0; c < classes; c++) p += jac[c * total + offset + j]! * samples[(s * n + i) * classes + c]!;
          mc[j] += p * p;
        }
      });
    }
    check('diagGgnMc', shape, mc);
  }
});
