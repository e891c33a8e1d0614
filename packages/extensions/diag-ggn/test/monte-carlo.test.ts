/**
 * Monte-Carlo extensions: with many samples they approach the exact ones,
 * within a bound derived from the samples themselves; and they are
 * reproducible from a seed.
 *
 * With M samples, SqrtGGNMC's P is `[M, N, ...param]` and each estimate is a
 * mean of M independent terms, e.g. DiagGGNMC_j = (1/M) Σ_m X_mj with
 * X_mj = M Σ_n P[m, n, j]². Its standard error is estimated as
 * `SE_j = std_m(X_mj) / √M`, and every entry must satisfy
 * `|MC_j - exact_j| <= 5 SE_j` (plus float64 rounding of the exact value, for
 * entries where the estimator has no variance). The extensions are run with
 * one seed, so they draw the same samples and the terms X_mj can be read off
 * SqrtGGNMC's result.
 */
import { cpu } from '@backpack-ts/backend-cpu';
import {
  BCEWithLogitsLoss,
  CrossEntropyLoss,
  Generator,
  Linear,
  MSELoss,
  Sequential,
  Tanh,
  backpack,
  extend,
  manualSeed,
  tensor,
  tidy,
  type LossModule,
  type Parameter,
  type Tensor,
} from '@backpack-ts/core';
import { describe, expect, it } from 'vitest';
import {
  BatchDiagGGNMC,
  DiagGGNExact,
  DiagGGNMC,
  SqrtGGNExact,
  SqrtGGNMC,
  type MonteCarloOptions,
} from '../src/index.js';
import { outerProducts } from './helpers/ggn.js';
import { buildSupportedGoldenModel, syntheticGoldenCase } from '@backpack-ts/conformance';

const dtype = 'float64';
const MC_SAMPLES = 20000;
/** Standard errors allowed between estimate and exact value. */
const STANDARD_ERRORS = 5;
/** Float64 rounding of the exact value relative to its largest entry (for zero-variance entries). */
const ROUNDING = 1e-12;
/** Set BACKPACK_MC_VERBOSE=1 to print, per quantity, the largest |error| / SE and the relative SE of the largest entry. */
const verbose = process.env['BACKPACK_MC_VERBOSE'] === '1';

interface Tiny {
  readonly name: string;
  readonly model: Sequential;
  readonly loss: LossModule;
  readonly input: Tensor;
  readonly target: Tensor;
}

/** Linear(3, 4) - Tanh - Linear(4, 3) on 3 samples with the given loss. */
function tiny(kind: 'CrossEntropyLoss' | 'MSELoss' | 'BCEWithLogitsLoss'): Tiny {
  const generator = new Generator(21);
  const options = { backend: cpu, dtype, generator } as const;
  const model = extend(new Sequential(new Linear(3, 4, options), new Tanh(), new Linear(4, 3, options)));
  const input = generator.uniform([3, 3], { low: -1, high: 1, backend: cpu, dtype });
  if (kind === 'CrossEntropyLoss') {
    const target = tensor([0, 2, 1], [3], { backend: cpu, dtype: 'int32' });
    return { name: kind, model, loss: extend(new CrossEntropyLoss()), input, target };
  }
  const target = generator.uniform([3, 3], { low: 0, high: 1, backend: cpu, dtype });
  const loss = kind === 'MSELoss' ? new MSELoss() : new BCEWithLogitsLoss();
  return { name: kind, model, loss: extend(loss), input, target };
}

/** Runs one backward pass of `problem` with `extensions`; returns the parameters by name. */
function run(problem: Tiny, extensions: Parameters<typeof backpack>[0]): Map<string, Parameter> {
  const loss = problem.loss.forward(problem.model.forward(problem.input), problem.target);
  backpack(extensions, () => loss.backward());
  return new Map(problem.model.namedParameters());
}

/**
 * Mean and standard error of `(1/M) Σ_m term(m)`, the terms given as a
 * `[M, K]` row-major array of M independent draws of K entries.
 */
function meanAndStandardError(terms: Float64Array, m: number): { mean: Float64Array; standardError: Float64Array } {
  const k = terms.length / m;
  const mean = new Float64Array(k);
  for (let s = 0; s < m; s++) for (let j = 0; j < k; j++) mean[j]! += terms[s * k + j]! / m;
  const variance = new Float64Array(k);
  for (let s = 0; s < m; s++) {
    for (let j = 0; j < k; j++) variance[j]! += (terms[s * k + j]! - mean[j]!) ** 2 / (m - 1);
  }
  return { mean, standardError: variance.map((v) => Math.sqrt(v / m)) };
}

/** Per-draw terms of DiagGGNMC: `X[m, j] = M Σ_n P[m, n, j]²`, from SqrtGGNMC's P `[M, N, K]`. */
function diagonalTerms(p: ArrayLike<number>, m: number, n: number, k: number): Float64Array {
  const terms = new Float64Array(m * k);
  for (let s = 0; s < m; s++) {
    for (let i = 0; i < n; i++) for (let j = 0; j < k; j++) terms[s * k + j]! += m * p[(s * n + i) * k + j]! ** 2;
  }
  return terms;
}

/** Per-draw terms of BatchDiagGGNMC: `X[m, (n, j)] = M P[m, n, j]²`. */
function batchDiagonalTerms(p: ArrayLike<number>, m: number): Float64Array {
  return Float64Array.from(p, (v) => m * v * v);
}

/** Per-draw terms of the outer product: `Y[m, (i, j)] = M Σ_n P[m, n, i] P[m, n, j]`. */
function outerProductTerms(p: ArrayLike<number>, m: number, n: number, k: number): Float64Array {
  const terms = new Float64Array(m * k * k);
  for (let s = 0; s < m; s++) {
    for (let b = 0; b < n; b++) {
      const base = (s * n + b) * k;
      for (let i = 0; i < k; i++) {
        const pi = m * p[base + i]!;
        for (let j = 0; j < k; j++) terms[(s * k + i) * k + j]! += pi * p[base + j]!;
      }
    }
  }
  return terms;
}

/**
 * Asserts `|estimate - exact| <= 5 SE` entrywise (plus rounding), and that
 * the bound has power: it is below 5% of the largest exact entry there, so
 * a 5% bias of the estimator would be caught.
 */
function expectWithinStandardErrors(
  estimate: ArrayLike<number>,
  standardError: ArrayLike<number>,
  exact: ArrayLike<number>,
  label: string,
): void {
  expect(estimate.length, label).toBe(exact.length);
  let scale = 0;
  let largest = 0;
  for (let j = 0; j < exact.length; j++) {
    if (Math.abs(exact[j]!) > scale) [scale, largest] = [Math.abs(exact[j]!), j];
  }
  let worstRatio = 0;
  for (let j = 0; j < exact.length; j++) {
    if (standardError[j]! > 0) worstRatio = Math.max(worstRatio, Math.abs(estimate[j]! - exact[j]!) / standardError[j]!);
    const bound = STANDARD_ERRORS * standardError[j]! + ROUNDING * scale;
    const error = Math.abs(estimate[j]! - exact[j]!);
    if (!(error <= bound)) {
      expect.fail(
        `${label}: entry ${j} is ${estimate[j]}, exact ${exact[j]}: error ${error.toExponential(3)} > ` +
          `${STANDARD_ERRORS} x standard error ${standardError[j]!.toExponential(3)}`,
      );
    }
  }
  if (verbose) {
    console.log(
      `${label}: largest |error| / SE ${worstRatio.toFixed(2)}, SE / |exact| at the largest entry ${(standardError[largest]! / scale).toExponential(2)}`,
    );
  }
  expect(STANDARD_ERRORS * standardError[largest]!, `${label}: power of the test`).toBeLessThan(0.05 * scale);
}

/** The three Monte-Carlo extensions with many samples approach the exact GGN of `problem`, entry by entry. */
function expectMonteCarloApproachesExact(problem: Tiny): void {
  tidy(() => {
    const exact = run(problem, [new DiagGGNExact(), new SqrtGGNExact()]);
    const exactValues = new Map(
      [...exact].map(([name, p]) => [name, { diag: p.diagGgnExact!.toArray(), sqrt: p.sqrtGgnExact!.toArray(), classes: p.sqrtGgnExact!.shape[0]! }]),
    );
    const seed = 7;
    const options: MonteCarloOptions = { mcSamples: MC_SAMPLES, seed };
    const mc = run(problem, [new DiagGGNMC(options), new BatchDiagGGNMC(options), new SqrtGGNMC(options)]);
    const n = problem.input.shape[0]!;

    for (const [name, parameter] of mc) {
      const k = parameter.data.size;
      const shape = parameter.data.shape;
      const p = parameter.sqrtGgnMc!.toArray();
      expect(parameter.sqrtGgnMc!.shape).toEqual([MC_SAMPLES, n, ...shape]);
      const { diag, sqrt, classes } = exactValues.get(name)!;

      // DiagGGNMC: mean of X[m, j] = M Σ_n P[m, n, j]² (the same draws: one seed).
      const diagonal = meanAndStandardError(diagonalTerms(p, MC_SAMPLES, n, k), MC_SAMPLES);
      const diagGgnMc = parameter.diagGgnMc!.toArray();
      for (let j = 0; j < k; j++) expect(diagGgnMc[j]).toBeCloseTo(diagonal.mean[j]!, 12);
      expectWithinStandardErrors(diagGgnMc, diagonal.standardError, diag, `${name} DiagGGNMC`);

      // BatchDiagGGNMC: mean of M P[m, n, j]².
      const batch = meanAndStandardError(batchDiagonalTerms(p, MC_SAMPLES), MC_SAMPLES);
      const exactBatch = outerProducts(sqrt, classes, n, k).flatMap((m) => Array.from({ length: k }, (_, j) => m.data[j * k + j]!));
      expectWithinStandardErrors(parameter.diagGgnMcBatch!.toArray(), batch.standardError, exactBatch, `${name} BatchDiagGGNMC`);
      const batchValues = parameter.diagGgnMcBatch!.toArray();
      for (let j = 0; j < n * k; j++) expect(batchValues[j]).toBeCloseTo(batch.mean[j]!, 12);

      // SqrtGGNMC: Σ_m Σ_n P Pᵀ is the mean of M Σ_n P[m, n] P[m, n]ᵀ; the exact GGN block from SqrtGGNExact.
      const outer = meanAndStandardError(outerProductTerms(p, MC_SAMPLES, n, k), MC_SAMPLES);
      const exactBlock = outerProducts(sqrt, classes, n, k).reduce((total, m) => total.map((v, j) => v + m.data[j]!), new Float64Array(k * k));
      expectWithinStandardErrors(outer.mean, outer.standardError, exactBlock, `${name} SqrtGGNMC outer product`);
    }
  });
}

describe.each(['CrossEntropyLoss', 'MSELoss', 'BCEWithLogitsLoss'] as const)('Monte-Carlo with %s', (kind) => {
  it(`DiagGGNMC, BatchDiagGGNMC and SqrtGGNMC approach the exact GGN with ${MC_SAMPLES} samples`, () => {
    expectMonteCarloApproachesExact(tiny(kind));
  });

  it('the same seed gives the same numbers; another seed other numbers', () => {
    tidy(() => {
      const problem = tiny(kind);
      const draw = (options: MonteCarloOptions) => {
        const parameters = run(problem, [new DiagGGNMC(options), new BatchDiagGGNMC(options), new SqrtGGNMC(options)]);
        return [...parameters.values()].flatMap((p) => [p.diagGgnMc!, p.diagGgnMcBatch!, p.sqrtGgnMc!].map((t) => Array.from(t.toArray())));
      };
      const first = draw({ mcSamples: 3, seed: 1 });
      expect(draw({ mcSamples: 3, seed: 1 })).toEqual(first);
      const other = draw({ mcSamples: 3, seed: 2 });
      expect(other.map((values, i) => values.some((v, j) => v !== first[i]![j]))).toEqual(first.map(() => true));
    });
  });
});

describe('Monte-Carlo generators', () => {
  const problem = tiny('CrossEntropyLoss');
  const diagonalOf = (options: MonteCarloOptions): number[] =>
    tidy(() => Array.from(run(problem, [new DiagGGNMC({ mcSamples: 2, ...options })]).get('0.weight')!.diagGgnMc!.toArray()));

  it('a shared generator advances between draws and reproduces after reseeding', () => {
    const generator = new Generator(5);
    const first = diagonalOf({ generator });
    const second = diagonalOf({ generator });
    expect(second).not.toEqual(first);
    generator.manualSeed(5);
    expect(diagonalOf({ generator })).toEqual(first);
    expect(diagonalOf({ seed: 5 })).toEqual(first);
  });

  it("defaults to core's default generator, reseeded by manualSeed", () => {
    manualSeed(9);
    const first = diagonalOf({});
    manualSeed(9);
    expect(diagonalOf({})).toEqual(first);
    expect(diagonalOf({ seed: 9 })).toEqual(first);
  });

  it('one extension instance keeps drawing from its generator in later passes', () => {
    const extension = new DiagGGNMC({ seed: 3 });
    const pass = () => tidy(() => Array.from(run(problem, [extension]).get('2.bias')!.diagGgnMc!.toArray()));
    const first = pass();
    expect(pass()).not.toEqual(first);
  });

  it('rejects invalid options', () => {
    expect(() => new DiagGGNMC({ mcSamples: 0 })).toThrow(/mcSamples must be a positive integer/);
    expect(() => new SqrtGGNMC({ mcSamples: 1.5 })).toThrow(/mcSamples/);
    expect(() => new BatchDiagGGNMC({ seed: 1, generator: new Generator(1) })).toThrow(/either a generator or a seed/);
  });
});

describe('Monte-Carlo on a convolutional network', () => {
  it(`Conv2d, Tanh, MaxPool2d, grouped Conv2d, Flatten, Linear with CrossEntropyLoss: approaches the exact GGN with ${MC_SAMPLES} samples`, () => {
    const golden = syntheticGoldenCase(
      {
        name: 'tiny cnn',
        layers: [
          { type: 'Conv2d', in: 1, out: 2, kernel: 3 },
          { type: 'Tanh' },
          { type: 'MaxPool2d', kernel: 2, stride: 1 },
          { type: 'Conv2d', in: 2, out: 2, kernel: 2, groups: 2 },
          { type: 'Flatten' },
          { type: 'Linear', in: 2, out: 3 },
        ],
        loss: { type: 'CrossEntropyLoss' },
        batch: 3,
        inputShape: [1, 5, 5],
      },
      41,
      cpu,
    );
    const built = buildSupportedGoldenModel(golden, { backend: cpu, dtype });
    expectMonteCarloApproachesExact({ name: golden.name, ...built });
  });
});
