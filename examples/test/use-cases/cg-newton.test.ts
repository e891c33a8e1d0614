import { cpu } from '@backpack-ts/backend-cpu';
import { CrossEntropyLoss, Generator, Linear, Sequential, Sigmoid, backpack, extend, grad, mul, softmax, sum, tensor, type Extension, type Parameter, type Tensor } from '@backpack-ts/core';
import { GGNMP, HMP, PCHMP } from '@backpack-ts/curvmatprod';
import { describe, expect, it } from 'vitest';
import { CGNewton, main, type BlockCurvature } from '../../use-cases/cg-newton.js';
import { expectClose, numbers } from './brute-force.js';

type Matrix = number[][];
/** The dense blocks the test builds. */
type DenseBlock = 'hessian' | 'ggn' | 'pchClip' | 'pchAbs';
const float64 = { backend: cpu, dtype: 'float64' as const };

/** The Jacobian of `output` w.r.t. one parameter, one row per entry of the output (one `grad` each). */
function jacobian(output: Tensor, parameter: Parameter): Matrix {
  return Array.from({ length: output.size }, (_, k) => {
    const unit = tensor(Array.from({ length: output.size }, (_, i) => (i === k ? 1 : 0)), output.shape, float64);
    return numbers(grad(sum(mul(output, unit)), [parameter.data], { retainGraph: true })[0]!);
  });
}

/** `Σ_b J_bᵀ M_b J_b` for square blocks `M_b` on consecutive rows `J_b` of `j` (1 x 1 blocks: `Jᵀ diag(m) J`). */
function sandwich(j: Matrix, blocks: readonly Matrix[]): Matrix {
  const size = j[0]!.length;
  const result = Array.from({ length: size }, () => new Array<number>(size).fill(0));
  let row = 0;
  for (const block of blocks) {
    for (let a = 0; a < block.length; a++) {
      for (let b = 0; b < block.length; b++) {
        const weight = block[a]![b]!;
        if (weight === 0) continue;
        for (let p = 0; p < size; p++) for (let q = 0; q < size; q++) result[p]![q]! += weight * j[row + a]![p]! * j[row + b]![q]!;
      }
    }
    row += block.length;
  }
  return result;
}

const plus = (a: Matrix, b: Matrix): Matrix => a.map((r, i) => r.map((v, k) => v + b[i]![k]!));

/**
 * A small sigmoid network on random data, and each parameter's dense blocks,
 * built column by column: the Hessian by double backward (one column per
 * unit vector), the GGN from Jacobian rows of the logits and the
 * cross-entropy's Hessian written out, and the positive-curvature Hessians
 * as the GGN plus the sigmoid's residual `J_zᵀ diag(δ ⊙ σ''(z)) J_z`
 * (δ = ∂L/∂σ(z)) with its entries clipped at 0 or made absolute. The
 * Hessian equal to GGN + residual checks that decomposition.
 */
function smallProblem() {
  const generator = new Generator(5);
  const [n, inputs, hidden, classes] = [6, 4, 3, 3];
  const first = new Linear(inputs, hidden, { ...float64, generator });
  const second = new Linear(hidden, classes, { ...float64, generator });
  const model = extend(new Sequential(first, new Sigmoid(), second));
  const lossFunction = extend(new CrossEntropyLoss());
  const x = generator.normal([n, inputs], float64);
  const y = tensor([0, 1, 2, 2, 1, 0], [n], { backend: cpu, dtype: 'int32' });

  const z = first.forward(x);
  const activation = new Sigmoid().forward(z);
  const logits = model.forward(x);
  const loss = lossFunction.forward(logits, y);
  const delta = numbers(grad(lossFunction.forward(second.forward(activation), y), [activation])[0]!);
  const s = numbers(activation);
  const residual = delta.map((d, k) => d * s[k]! * (1 - s[k]!) * (1 - 2 * s[k]!));
  const p = numbers(softmax(logits, -1));
  const lossHessians = Array.from({ length: n }, (_, m) =>
    Array.from({ length: classes }, (_, a) => Array.from({ length: classes }, (_, b) => ((a === b ? p[m * classes + a]! : 0) - p[m * classes + a]! * p[m * classes + b]!) / n)),
  );
  const blocks = new Map<Parameter, Record<DenseBlock, Matrix>>();
  for (const parameter of model.parameters()) {
    const g = grad(loss, [parameter.data], { createGraph: true, retainGraph: true })[0]!;
    const hessian = jacobian(g, parameter);
    const ggn = sandwich(jacobian(logits, parameter), lossHessians);
    // Only the first layer's parameters are behind the sigmoid.
    const jz = first.parameters().includes(parameter) ? jacobian(z, parameter) : undefined;
    const withResidual = (f: (r: number) => number) => (jz === undefined ? ggn : plus(ggn, sandwich(jz, residual.map((r) => [[f(r)]]))));
    expectClose(withResidual((r) => r).flat(), hessian.flat(), 1e-10, 'Hessian = GGN + residual');
    blocks.set(parameter, { hessian, ggn, pchClip: withResidual((r) => Math.max(r, 0)), pchAbs: withResidual(Math.abs) });
  }
  return { model, lossFunction, x, y, blocks };
}

describe('use case: cg-newton', () => {
  it.each([
    ['ggn', 'ggnmp', () => new GGNMP()],
    ['hessian', 'hmp', () => new HMP()],
    ['pchClip', 'pchmp', () => new PCHMP({ modify: 'clip' })],
    ['pchAbs', 'pchmp', () => new PCHMP({ modify: 'abs' })],
  ] as [DenseBlock, BlockCurvature, () => Extension][])('steps by d solving (C_θ + λI) d = g for every parameter, C its %s block built column by column', (label, curvature, extension) => {
    const { model, lossFunction, x, y, blocks } = smallProblem();
    const [lr, damping] = [0.5, 0.3];
    const optimizer = new CGNewton(model, { curvature, lr, damping, tolerance: 1e-13, absoluteTolerance: 0, maxIterations: 200 });
    const loss = lossFunction.forward(model.forward(x), y);
    backpack(extension(), () => loss.backward());
    const before = model.parameters().map((p) => ({ theta: numbers(p.data), g: numbers(p.grad!) }));
    optimizer.step();
    model.parameters().forEach((parameter, i) => {
      const { theta, g } = before[i]!;
      const d = numbers(parameter.data).map((v, k) => (theta[k]! - v) / lr);
      const block = blocks.get(parameter)![label];
      const dampedTimesD = block.map((row, r) => row.reduce((acc, v, k) => acc + v * d[k]!, damping * d[r]!));
      expectClose(dampedTimesD, g, 1e-9, `${label}, parameter ${i}`);
    });
  });

  it('trains the sigmoid MLP faster than SGD at its best learning rate, with each curvature', () => {
    const lines: string[] = [];
    const { runs } = main(['--backend', 'cpu', '--batch-size', '32', '--steps', '10', '--hidden', '16'], (l) => lines.push(l));
    expect(runs.map((r) => r.label)).toEqual([
      'CG-Newton, GGN',
      'CG-Newton, Hessian',
      'CG-Newton, PCH-abs',
      'CG-Newton, PCH-clip',
      'SGD, lr=10',
      'SGD, lr=1',
      'SGD, lr=0.1',
      'SGD, lr=0.01',
      'SGD, lr=0.001',
    ]);
    for (const run of runs) expect(run.losses).toHaveLength(10);
    const bestSgd = Math.min(...runs.filter((r) => r.label.startsWith('SGD')).map((r) => r.heldOutLoss));
    // Same initial network, same batches, same number of steps: held-out loss after.
    for (const run of runs.filter((r) => r.label.startsWith('CG-Newton'))) expect(run.heldOutLoss, run.label).toBeLessThan(bestSgd - 0.15);
    expect(runs[0]!.heldOutLoss).toBeLessThan(bestSgd - 0.4);
    expect(lines).toHaveLength(2 + runs.length);
  });
});
