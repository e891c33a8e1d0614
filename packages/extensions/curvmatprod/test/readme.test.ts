/**
 * The README's examples are test/readme-*.ts verbatim; they run, print what
 * the README says, and their numbers are checked against dense matrices
 * rebuilt here from the examples' seeds (test/helpers): Hessians row by row
 * from double backward, Jacobians row by row from backward passes, the loss
 * Hessian written out by hand, per-sample gradients for the empirical Fisher,
 * KFLR's factors of the whole data set for KFAC, the dense recursion of the
 * positive-curvature Hessian for PCHMP's blocks.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, vi } from 'vitest';
import { cpu } from '@backpack-ts/backend-cpu';
import {
  Conv2d,
  CrossEntropyLoss,
  Flatten,
  Generator,
  Linear,
  MSELoss,
  ReLU,
  Sequential,
  Sigmoid,
  Tanh,
  backpack,
  concat,
  extend,
  grad,
  mul,
  slice,
  tensor,
  type Tensor,
} from '@backpack-ts/core';
import { KFLR } from '@backpack-ts/kronecker';
import {
  addMatrices,
  blockDiagonal,
  expectMatrixClose,
  flatValues,
  hessianByRows,
  jacobianByRows,
  kron,
  matMul,
  matVec,
  toMatrix,
  transposeMatrix,
  zerosMatrix,
  type Matrix,
} from './helpers/dense.js';
import { densePositiveCurvature } from './helpers/dense-curvature.js';
import { lossHessian } from './helpers/loss-hessian.js';

const EXACT = 1e-10;
const float64 = { backend: cpu, dtype: 'float64' as const };
const read = (relative: string) => readFileSync(fileURLToPath(new URL(relative, import.meta.url)), 'utf8');

/** Checks that the README section's block is `file` verbatim, runs it, checks the `// ` lines it promises, and returns the logged arguments. */
async function runSection(heading: string, file: string): Promise<unknown[][]> {
  const section = read('../README.md').split('\n## ').find((part) => part.startsWith(heading));
  const block = section === undefined ? undefined : /```ts\n([\s\S]*?)```/.exec(section)?.[1];
  expect(block, `README section '${heading}'`).toBe(read(`./${file}.ts`));
  const calls: unknown[][] = [];
  const log = vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => void calls.push(args));
  try {
    await import(`./${file}.js`);
  } finally {
    log.mockRestore();
  }
  // The comments that show output: a printed label and shapes.
  const promised = block!.split('\n').filter((line) => /^\/\/ \w+ \[/.test(line)).map((line) => line.slice(3));
  const printed = calls.map((args) => args.filter((a) => typeof a === 'string').join(' '));
  for (const line of promised) expect(printed).toContain(line);
  return calls;
}

/** The logged arguments after the label `name`. */
function logged(calls: unknown[][], name: string): unknown[] {
  const call = calls.find((args) => args[0] === name);
  expect(call, `printed '${name}'`).toBeDefined();
  return call!.slice(1);
}

describe('## Hessian-free products', () => {
  it('runs, and every product equals the dense matrix times the vectors', async () => {
    const calls = await runSection('Hessian-free products', 'readme-hessianfree');
    const [hv, gv, lastLayer, [jv], jtw] = logged(calls, 'values')[0] as number[][][];
    // The example's model, data and vectors, from its seed.
    const generator = new Generator(0);
    const model = extend(new Sequential(new Linear(3, 4, { ...float64, generator }), new Tanh(), new Linear(4, 2, { ...float64, generator })));
    const lossFunction = extend(new CrossEntropyLoss());
    const input = generator.normal([5, 3], float64);
    const labels = tensor([0, 1, 1, 0, 1], [5], { backend: cpu, dtype: 'int32' });
    const parameters = model.parameters();
    const v = flatValues(parameters.map((p) => generator.normal(p.data.shape, float64)));
    const hessian = hessianByRows(() => lossFunction.forward(model.forward(input), labels), parameters);
    const jacobian = jacobianByRows(() => model.forward(input), parameters);
    const ggn = matMul(transposeMatrix(jacobian), matMul(lossHessian(lossFunction, model.forward(input)), jacobian));
    expectMatrixClose(hv!.flat(), matVec(hessian, v), EXACT);
    expectMatrixClose(gv!.flat(), matVec(ggn, v), EXACT);
    const last = hessianByRows(() => lossFunction.forward(model.forward(input), labels), parameters.slice(2));
    expectMatrixClose(lastLayer!.flat(), matVec(last, v.slice(16)), EXACT);
    expectMatrixClose(jv!, matVec(jacobian, v), EXACT);
    expectMatrixClose(jtw!.flat(), matVec(transposeMatrix(jacobian), matVec(jacobian, v)), EXACT);
  });
});

/** The operators example's model, data set and generator (after drawing them), from its seed. */
function operatorsProblem() {
  const generator = new Generator(1);
  const model = extend(
    new Sequential(new Conv2d(1, 2, 2, { ...float64, generator }), new ReLU(), new Flatten(), new Linear(8, 2, { ...float64, generator })),
  );
  const data = [3, 2].map((n) => [generator.normal([n, 1, 3, 3], float64), generator.normal([n, 2], float64)] as const);
  return { model, lossFunction: extend(new MSELoss()), data, generator };
}

/** `matrix + δI`. */
function damp(matrix: Matrix, damping: number): Matrix {
  return matrix.map((row, i) => row.map((value, j) => value + (i === j ? damping : 0)));
}

describe('## Curvature linear operators', () => {
  it('runs, and each operator equals the dense matrix of the whole data set', async () => {
    const calls = await runSection('Curvature linear operators', 'readme-operators');
    const { model, lossFunction, data, generator } = operatorsProblem();
    const vectors = toMatrix(generator.normal([28, 3], float64));
    const parameters = model.parameters();
    const x = concat(data.map(([input]) => input), 0);
    const y = concat(data.map(([, target]) => target), 0);
    const hessian = hessianByRows(() => lossFunction.forward(model.forward(x), y), parameters);
    const jacobian = jacobianByRows(() => model.forward(x), parameters);
    const ggn = matMul(transposeMatrix(jacobian), matMul(lossHessian(lossFunction, model.forward(x)), jacobian));
    // Empirical Fisher of MSELoss 'mean' over 5 samples of 2 outputs: c = 1/10.
    let empirical = zerosMatrix(28, 28);
    for (let n = 0; n < 5; n++) {
      const sample = (t: Tensor) => slice(t, [n, ...t.shape.slice(1).map(() => 0)], [1, ...t.shape.slice(1)]);
      const g = flatValues(grad(new MSELoss('sum').forward(model.forward(sample(x)), sample(y)), parameters.map((p) => p.data)) as Tensor[]);
      empirical = addMatrices(empirical, g.map((a) => g.map((b) => (a * b) / 10)));
    }
    backpack([new KFLR()], () => lossFunction.forward(model.forward(x), y).backward());
    const kfac = blockDiagonal(
      parameters.map((p) => {
        const [first, second] = p.kflr!.map((f) => damp(toMatrix(f), 1e-2));
        return second === undefined ? first! : kron(first!, second);
      }),
    );
    model.zeroGrad();
    for (const [name, dense] of Object.entries({ hessian, ggn, empirical, kfac })) {
      expectMatrixClose(logged(calls, name)[0] as number[], matMul(dense, vectors).flat(), EXACT);
    }
    // The Monte-Carlo Fisher is positive semi-definite: vᵀ F v >= 0 for each vector.
    const fisher = logged(calls, 'fisher')[0] as number[];
    for (let k = 0; k < 3; k++) expect(vectors.reduce((s, row, i) => s + row[k]! * fisher[i * 3 + k]!, 0)).toBeGreaterThanOrEqual(0);
    // The step solves (KFAC) step = gradient, the gradient being the first batch's.
    const [gradient, step] = logged(calls, 'values') as number[][];
    const [input, target] = data[0]!;
    expectMatrixClose(gradient!, flatValues(grad(lossFunction.forward(model.forward(input), target), parameters.map((p) => p.data)) as Tensor[]), EXACT);
    expectMatrixClose(matVec(kfac, step!), gradient!, EXACT);
  });
});

describe('## CG-Newton and trace estimation', () => {
  it('runs; each step solves its damped system, the exact traces equal the dense ones, the estimates are within 4 standard errors', async () => {
    const calls = await runSection('CG-Newton and trace estimation', 'readme-cg-newton');
    // The example's model and batch, from its seed, with the layers at hand for the PCH recursion.
    const generator = new Generator(2);
    const layers = [new Linear(4, 3, { ...float64, generator }), new Sigmoid(), new Linear(3, 3, { ...float64, generator })];
    const model = extend(new Sequential(...layers));
    const lossFunction = extend(new CrossEntropyLoss());
    const x = generator.normal([7, 4], float64);
    const y = tensor([0, 1, 2, 0, 1, 2, 0], [7], { backend: cpu, dtype: 'int32' });
    const parameters = model.parameters();
    const loss = () => lossFunction.forward(model.forward(x), y);
    const gradient = flatValues(grad(loss(), parameters.map((p) => p.data)) as Tensor[]);
    const jacobian = jacobianByRows(() => model.forward(x), parameters);
    const dense = {
      ggn: matMul(transposeMatrix(jacobian), matMul(lossHessian(lossFunction, model.forward(x)), jacobian)),
      hessian: hessianByRows(loss, parameters),
    };
    const z = [x];
    for (const layer of layers) z.push(layer.forward(z.at(-1)!));
    const pchBlocks = densePositiveCurvature(layers, z, lossFunction.forward(z.at(-1)!, y), (lambda) => Math.max(lambda, 0));
    const damping = 0.5;

    // The whole GGN and Hessian: (C + δI) step = -g.
    for (const name of ['ggn', 'hessian'] as const) {
      const [, step] = logged(calls, name) as [string, number[]];
      expectMatrixClose(matVec(damp(dense[name], damping), step), gradient.map((g) => -g), EXACT);
    }
    // The PCH blocks: (P_θ + δI) step_θ = -g_θ for each parameter.
    const [, pchStep] = logged(calls, 'pch') as [string, number[]];
    let offset = 0;
    for (const p of parameters) {
      const size = p.data.size;
      const [block, part] = [pchBlocks.get(p)!, pchStep.slice(offset, offset + size)];
      expectMatrixClose(matVec(damp(block, damping), part), gradient.slice(offset, offset + size).map((g) => -g), EXACT);
      offset += size;
    }

    // Traces: the exact ones against the dense matrices, the estimates within 4 standard errors of them.
    const block = read('../README.md').split('\n## ').find((part) => part.startsWith('CG-Newton and trace estimation'))!;
    for (const name of ['ggn', 'hessian'] as const) {
      const printed = calls.find((args) => args[0] === name && args[1] === 'trace')!.slice(2);
      const [exact, , hutchinson, , hutchinsonError, , hutchPP, , hutchPPError] = printed as number[];
      const denseTrace = dense[name].reduce((trace, row, i) => trace + row[i]!, 0);
      expect(Math.abs(exact! - denseTrace)).toBeLessThanOrEqual(EXACT * Math.abs(denseTrace));
      expect(Math.abs(hutchinson! - exact!)).toBeLessThanOrEqual(4 * hutchinsonError!);
      expect(Math.abs(hutchPP! - exact!)).toBeLessThanOrEqual(4 * hutchPPError!);
      // The README's comment shows these numbers, rounded.
      const comment = block.split('\n').find((line) => line.startsWith(`// ${name} trace `))!;
      const shown = comment.match(/-?\d+\.\d+/g)!;
      expect(shown.map((text, i) => Number([exact, hutchinson, hutchinsonError, hutchPP, hutchPPError][i]!.toFixed(text.split('.')[1]!.length)))).toEqual(shown.map(Number));
    }
  });
});
