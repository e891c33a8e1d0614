import { describe, expect, it } from 'vitest';
import { main, runs } from '../../use-cases/all-in-one.js';
import { expectClose, numbers, softmax } from './brute-force.js';

/**
 * Every quantity of a linear classifier z = W x + b with a mean cross-entropy
 * has a closed form in p = softmax(z), r = p - e_y, H = diag(p) - p pᵀ:
 * the per-sample gradient is r ⊗ x / N, the GGN (here the Hessian) is
 * (1/N) Σ_n H_n ⊗ x_n x_nᵀ, a Monte-Carlo square-root column is
 * (p - e_k) ⊗ x / √N for a drawn class k.
 */
describe('use case: all-in-one', () => {
  it("gives every extension's quantity of the linear classifier, equal to its closed form in plain JavaScript", () => {
    const [n, classes, pixels] = [3, 10, 784];
    const lines: string[] = [];
    const { model, images, labels, blockProducts } = main(['--backend', 'cpu', '--batch-size', String(n)], (l) => lines.push(l), { isTTY: false, write: () => undefined });
    expect(lines.filter((l) => l.startsWith('Extension'))).toHaveLength(runs.length + 1);
    const [weight, bias] = model.parameters();
    const [w, b] = [numbers(weight!.data), numbers(bias!.data)];
    const xs = Array.from({ length: n }, (_, s) => numbers(images).slice(s * pixels, (s + 1) * pixels));
    const ys = numbers(labels);
    const ps = xs.map((x) => softmax(Array.from({ length: classes }, (_, o) => x.reduce((a, xi, i) => a + w[o * pixels + i]! * xi, b[o]!))));
    const rs = ps.map((p, s) => p.map((po, o) => po - (o === ys[s] ? 1 : 0)));
    const hessian = (s: number, o: number, q: number) => (o === q ? ps[s]![o]! : 0) - ps[s]![o]! * ps[s]![q]!;
    const outer = (u: readonly number[], x: readonly number[]) => u.flatMap((uo) => x.map((xi) => uo * xi));
    const sumOver = (f: (s: number) => number[]) => Array.from({ length: n }, (_, s) => f(s)).reduce((a, v) => a.map((e, k) => e + v[k]!));

    // First order: per-sample gradients and their statistics.
    const perSample = [xs.map((x, s) => outer(rs[s]!, x).map((g) => g / n)), rs.map((r) => r.map((g) => g / n))];
    [weight!, bias!].forEach((parameter, k) => {
      const g = perSample[k]!;
      const mean = sumOver((s) => g[s]!).map((v) => v / n);
      expectClose(numbers(parameter.gradBatch!), g.flat(), 1e-10, `gradBatch ${k}`);
      expectClose(numbers(parameter.variance!), sumOver((s) => g[s]!.map((v, e) => (v - mean[e]!) ** 2 / n)), 1e-10, `variance ${k}`);
      expectClose(numbers(parameter.sumGradSquared!), sumOver((s) => g[s]!.map((v) => v * v)), 1e-10, `sumGradSquared ${k}`);
      expectClose(numbers(parameter.batchL2!), g.map((row) => row.reduce((a, v) => a + v * v, 0)), 1e-10, `batchL2 ${k}`);
    });

    // The GGN diagonal, per sample and summed; for a linear model the Hessian's is the same.
    const diagonal = (s: number) => [outer(ps[s]!.map((_, o) => hessian(s, o, o) / n), xs[s]!.map((xi) => xi * xi)), ps[s]!.map((_, o) => hessian(s, o, o) / n)];
    [weight!, bias!].forEach((parameter, k) => {
      const perSampleDiagonal = Array.from({ length: n }, (_, s) => diagonal(s)[k]!);
      for (const [field, value] of [['diagGgnExactBatch', parameter.diagGgnExactBatch], ['diagHBatch', parameter.diagHBatch]] as const) {
        expectClose(numbers(value!), perSampleDiagonal.flat(), 1e-10, `${field} ${k}`);
      }
      for (const [field, value] of [['diagGgnExact', parameter.diagGgnExact], ['diagH', parameter.diagH]] as const) {
        expectClose(numbers(value!), sumOver((s) => perSampleDiagonal[s]!), 1e-10, `${field} ${k}`);
      }
    });

    // SqrtGGNExact [C, N, ...]: per sample, Σ_c P Pᵀ contracted over the pixels is H_n ‖x_n‖² / N (bias: H_n / N).
    const sqrtWeight = numbers(weight!.sqrtGgnExact!);
    const sqrtBias = numbers(bias!.sqrtGgnExact!);
    for (let s = 0; s < n; s++) {
      const squaredNorm = xs[s]!.reduce((a, xi) => a + xi * xi, 0);
      const [gramWeight, gramBias, expectedWeight, expectedBias] = [[], [], [], []] as number[][];
      for (let o = 0; o < classes; o++) {
        for (let q = 0; q < classes; q++) {
          let [sw, sb] = [0, 0];
          for (let c = 0; c < classes; c++) {
            const row = (c * n + s) * classes;
            sb += sqrtBias[row + o]! * sqrtBias[row + q]!;
            for (let i = 0; i < pixels; i++) sw += sqrtWeight[(row + o) * pixels + i]! * sqrtWeight[(row + q) * pixels + i]!;
          }
          gramWeight.push(sw);
          gramBias.push(sb);
          expectedWeight.push((hessian(s, o, q) * squaredNorm) / n);
          expectedBias.push(hessian(s, o, q) / n);
        }
      }
      expectClose(gramWeight, expectedWeight, 1e-10, `sqrtGgnExact weight, sample ${s}`);
      expectClose(gramBias, expectedBias, 1e-10, `sqrtGgnExact bias, sample ${s}`);
    }

    // Monte-Carlo: each sample's column is (p - e_k) ⊗ x / √N for the drawn class k.
    const candidates = (s: number) => Array.from({ length: classes }, (_, k) => ps[s]!.map((po, o) => (po - (o === k ? 1 : 0)) / Math.sqrt(n)));
    const drawnColumn = (actual: readonly number[], s: number, square: boolean) => {
      const fits = candidates(s).filter((q) => {
        const expected = outer(square ? q.map((v) => v * v) : q, square ? xs[s]!.map((xi) => xi * xi) : xs[s]!);
        return expected.every((e, k) => Math.abs(e - actual[k]!) <= 1e-10 * Math.max(1, Math.abs(e)));
      });
      return fits.length;
    };
    // DiagGGNMC sums one drawn column per sample: some draw k_n per sample gives Σ_n q_n² ⊗ x_n².
    const diagonalMc = numbers(weight!.diagGgnMc!);
    const squaredCandidates = Array.from({ length: n }, (_, s) => candidates(s).map((q) => q.map((v) => v * v)));
    const everyDraw = Array.from({ length: classes ** n }, (_, d) => Array.from({ length: n }, (_, s) => Math.floor(d / classes ** s) % classes));
    const fitsMc = everyDraw.filter((draw) =>
      diagonalMc.every((v, e) => {
        const [o, i] = [Math.floor(e / pixels), e % pixels];
        const expected = draw.reduce((a, k, s) => a + squaredCandidates[s]![k]![o]! * xs[s]![i]! ** 2, 0);
        return Math.abs(v - expected) <= 1e-10 * Math.max(1, expected);
      }),
    );
    expect(fitsMc.length, 'diagGgnMc from one draw per sample').toBeGreaterThanOrEqual(1);
    const sqrtMc = numbers(weight!.sqrtGgnMc!);
    const batchMc = numbers(weight!.diagGgnMcBatch!);
    for (let s = 0; s < n; s++) {
      expect(drawnColumn(sqrtMc.slice(s * classes * pixels, (s + 1) * classes * pixels), s, false), `sqrtGgnMc sample ${s}`).toBe(1);
      expect(drawnColumn(batchMc.slice(s * classes * pixels, (s + 1) * classes * pixels), s, true), `diagGgnMcBatch sample ${s}`).toBe(1);
    }

    // Kronecker factors of a single linear layer: KFLR and KFRA are [(1/N) Σ_n H_n, (1/N) Σ_n x_n x_nᵀ];
    // KFAC's first factor is (1/N) Σ_n q_n q_nᵀ for drawn columns q_n = p_n - e_k.
    const meanHessian = Array.from({ length: classes * classes }, (_, e) => sumOver((s) => [hessian(s, Math.floor(e / classes), e % classes)])[0]! / n);
    const inputFactor = Array.from({ length: pixels * pixels }, (_, e) => xs.reduce((a, x) => a + x[Math.floor(e / pixels)]! * x[e % pixels]!, 0) / n);
    for (const field of ['kflr', 'kfra'] as const) {
      const [g, a] = weight![field]!;
      expectClose(numbers(g!), meanHessian, 1e-10, `${field} weight, output factor`);
      expectClose(numbers(a!), inputFactor, 1e-10, `${field} weight, input factor`);
      expectClose(numbers(bias![field]![0]!), meanHessian, 1e-10, `${field} bias`);
    }
    const [kfacG, kfacA] = weight!.kfac!;
    expectClose(numbers(kfacA!), inputFactor, 1e-10, 'kfac weight, input factor');
    const g = numbers(kfacG!);
    const fitting = everyDraw.filter((d) => {
      const q = d.map((k, s) => ps[s]!.map((po, o) => po - (o === k ? 1 : 0)));
      return g.every((v, e) => Math.abs(v - q.reduce((a, qs) => a + qs[Math.floor(e / classes)]! * qs[e % classes]!, 0) / n) <= 1e-10);
    });
    expect(fitting.length, 'KFAC output factor from one draw per sample').toBeGreaterThanOrEqual(1);

    // Block products: a linear classifier has no residual terms, so its Hessian, GGN and PCH blocks
    // are all (1/N) Σ_n H_n ⊗ x_n x_nᵀ (weight) and (1/N) Σ_n H_n (bias); times each of V matrices.
    const [weightProducts, biasProducts] = blockProducts;
    expect([weightProducts!.parameter, biasProducts!.parameter]).toEqual(['1.weight', '1.bias']);
    const v = weightProducts!.vectors.shape[0]!;
    expect(v).toBe(3);
    const vw = numbers(weightProducts!.vectors);
    const vb = numbers(biasProducts!.vectors);
    const expectedWeight: number[] = [];
    const expectedBias: number[] = [];
    for (let k = 0; k < v; k++) {
      // (V x_n)[q] for each sample, then Σ_n Σ_q H_n[o, q] (V x_n)[q] x_n[i] / N.
      const vx = xs.map((x) => Array.from({ length: classes }, (_, q) => x.reduce((a, xi, i) => a + vw[(k * classes + q) * pixels + i]! * xi, 0)));
      for (let o = 0; o < classes; o++) {
        const weights = xs.map((_, s) => Array.from({ length: classes }, (_, q) => hessian(s, o, q)).reduce((a, h, q) => a + h * vx[s]![q]!, 0) / n);
        for (let i = 0; i < pixels; i++) expectedWeight.push(weights.reduce((a, w, s) => a + w * xs[s]![i]!, 0));
        expectedBias.push(sumOver((s) => [Array.from({ length: classes }, (_, q) => hessian(s, o, q) * vb[k * classes + q]!).reduce((a, b) => a + b, 0)])[0]! / n);
      }
    }
    for (const field of ['hmp', 'ggnmp', 'pchmpClip', 'pchmpAbs'] as const) {
      expectClose(numbers(weightProducts![field]), expectedWeight, 1e-10, `${field} weight`);
      expectClose(numbers(biasProducts![field]), expectedBias, 1e-10, `${field} bias`);
    }
  });
});
