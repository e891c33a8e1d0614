/**
 * Batched Jacobians (BackPACK's `use_cases/example_batched_jacobians.py`):
 * the Jacobian of a batched vector output `fs` `[N, C]` w.r.t. each
 * parameter, `[N, C, ...param]`, three ways:
 *
 * - autograd: one `grad` per entry `fs[n, c]`, N·C passes through one graph;
 * - BatchGrad: the per-sample gradients of `Σ_n fs[n, c]` are the rows
 *   `[:, c]`, C backward passes through one graph (`retainGraph`);
 * - SqrtGGNExact: for a summed square loss the loss Hessian is 2·I, so the
 *   GGN's square root is √2 times the Jacobian (transposed): one pass.
 *
 *   pnpm example batched-jacobians [--batch-size 15] [--backend cpu]
 */
import {
  Flatten,
  Generator,
  Linear,
  MSELoss,
  ReLU,
  Sequential,
  backpack,
  clone,
  formatShape,
  extend,
  grad,
  mul,
  reshape,
  slice,
  stack,
  sum,
  transpose,
  zerosLike,
  type Backend,
  type FloatDType,
  type Tensor,
} from '@backpack-ts/core';
import { SqrtGGNExact } from '@backpack-ts/diag-ggn';
import { BatchGrad } from '@backpack-ts/first-order';
import { exampleDType, maxAbsDifference, mnistBatch, parseArgs, runIfMain } from '../shared/report.js';

/** Outputs per sample (BackPACK's C) and hidden units. */
export const [OUTPUTS, HIDDEN] = [5, 7];

/** The MLP: MNIST digits to C = 5 outputs. */
export function mlp(backend: Backend, dtype: FloatDType): Sequential {
  const options = { backend, dtype, generator: new Generator(0) };
  return new Sequential(new Flatten(), new Linear(784, HIDDEN, options), new ReLU(), new Linear(HIDDEN, OUTPUTS, options));
}

/** The Jacobian of each entry of `fs` (`[N, C]`) w.r.t. each parameter, one `grad` per entry: `[N, C, ...param]` each. */
export function autogradJacobians(model: Sequential, fs: Tensor): Tensor[] {
  const [n, c] = fs.shape as [number, number];
  const parameters = model.parameters();
  const rows: Tensor[][] = parameters.map(() => []);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < c; j++) {
      const gradients = grad(slice(fs, [i, j], [1, 1]), parameters.map((p) => p.data), { retainGraph: true });
      gradients.forEach((g, k) => rows[k]!.push(g!));
    }
  }
  // N·C gradients [...param] -> [N·C, ...param] -> [N, C, ...param].
  return parameters.map((p, k) => reshape(stack(rows[k]!, 0), [n, c, ...p.data.shape]));
}

/** The same from C backward passes with BatchGrad through one graph: per-sample gradients of `Σ_n fs[n, c]`. */
export function batchGradJacobians(model: Sequential, fs: Tensor): Tensor[] {
  const [n, c] = fs.shape as [number, number];
  const columns: Tensor[][] = model.parameters().map(() => []);
  for (let j = 0; j < c; j++) {
    const f = sum(slice(fs, [0, j], [n, 1]));
    backpack(new BatchGrad(), () => f.backward({ retainGraph: true }));
    // A copy: the next pass replaces (and frees) gradBatch.
    model.parameters().forEach((p, k) => columns[k]!.push(clone(p.gradBatch!)));
  }
  // C tensors [N, ...param] -> [N, C, ...param].
  return columns.map((column) => stack(column, 1));
}

/** The same from one backward pass with SqrtGGNExact on `Σ (fs - 0)²`: `sqrtGgnExact` `[C, N, ...]` transposed, over √2. */
export function sqrtGgnJacobians(model: Sequential, fs: Tensor): Tensor[] {
  const loss = extend(new MSELoss('sum')).forward(fs, zerosLike(fs));
  backpack(new SqrtGGNExact(), () => loss.backward());
  return model.parameters().map((p) => mul(transpose(p.sqrtGgnExact!, 0, 1), Math.SQRT1_2));
}

/** What the example computed: per parameter, the Jacobian three ways. */
export interface BatchedJacobiansResult {
  readonly model: Sequential;
  readonly images: Tensor;
  readonly autograd: readonly Tensor[];
  readonly batchGrad: readonly Tensor[];
  readonly sqrtGgn: readonly Tensor[];
}

/** Runs the example: its report goes line by line to `print`; returns what it computed (for the tests). */
export function main(args: readonly string[] = [], print: (line: string) => void = console.log): BatchedJacobiansResult {
  const { backend, backendNote, batchSize } = parseArgs(args, { name: 'batched-jacobians', batchSize: 15 });
  const dtype = exampleDType(backend);
  print(`backend: ${backend.name}${backendNote}, batch size: ${batchSize}`);
  const { images } = mnistBatch(batchSize, backend, dtype);
  const model = extend(mlp(backend, dtype));

  const autograd = autogradJacobians(model, model.forward(images));
  const batchGrad = batchGradJacobians(model, model.forward(images));
  const sqrtGgn = sqrtGgnJacobians(model, model.forward(images));
  const compare = (what: string, jacobians: readonly Tensor[]) => {
    const worst = Math.max(...jacobians.map((j, k) => maxAbsDifference(j, autograd[k]!)));
    print(`Jacobians from autograd and BackPACK (via ${what}): largest difference ${worst.toExponential(2)}`);
  };
  for (const [k, [name]] of model.namedParameters().entries()) print(`${name}: Jacobian ${formatShape(autograd[k]!.shape)}`);
  compare('BatchGrad', batchGrad);
  compare('SqrtGGNExact', sqrtGgn);
  return { model, images, autograd, batchGrad, sqrtGgn };
}

runIfMain(import.meta.url, main);
