import { rejectUnknownOptions } from '@backpack-ts/core';
import type { LinearOperator } from '../linear-operator.js';
import { LanczosProcess } from './lanczos-process.js';
import { checkNonNegative } from './non-convergence.js';
import { dot, squareSize } from './operator-products.js';
import { RANDOM_OPTIONS, checkCount, checkDistribution, drawProbes, generatorFrom, type ProbeDistribution, type RandomOptions } from './random-probes.js';
import { tridiagonalEigen } from './small-dense.js';

/** Options of {@link stochasticLanczosQuadrature}. */
export interface SpectralQuadratureOptions extends RandomOptions {
  /** Random start vectors (default 10); each is one Lanczos run. */
  readonly probes?: number;
  /** Lanczos steps per probe (default `min(n, 50)`): the quadrature has this many nodes and is exact for polynomials of degree `< 2 · steps`. */
  readonly steps?: number;
  /** The start vectors' entries: `'rademacher'` (default) or `'gaussian'`. */
  readonly distribution?: ProbeDistribution;
}

/** The Gauss quadrature rules of the spectral density, one per probe. */
export interface SpectralQuadrature {
  /** `nodes[p]`: the Ritz values of probe `p`'s Lanczos run (ascending). */
  readonly nodes: number[][];
  /** `weights[p]`: their weights (the squared first entries of the tridiagonal's eigenvectors), summing to 1. */
  readonly weights: number[][];
  /** The operator's size `n`. */
  readonly size: number;
}

/**
 * Stochastic Lanczos quadrature (Ubaru, Chen and Saad, 2017; Ghorbani,
 * Krishnan and Xiao, 2019): for each random unit start vector `v`, a Lanczos
 * run with full reorthogonalisation gives a Gauss quadrature rule with
 * `Σ_j w_j f(θ_j) = vᵀ f(A) v`. Averaged over probes this estimates
 * `trace(f(A)) / n`, the integral of `f` against the spectral density (the
 * eigenvalues' empirical distribution); {@link gaussianSpectralDensity}
 * smooths it onto a grid. A run that meets an invariant subspace stops early
 * with fewer, exact nodes.
 */
export function stochasticLanczosQuadrature(operator: LinearOperator, options: SpectralQuadratureOptions = {}): SpectralQuadrature {
  const owner = 'stochasticLanczosQuadrature';
  rejectUnknownOptions(owner, options, ['probes', 'steps', 'distribution', ...RANDOM_OPTIONS]);
  const n = squareSize(owner, operator);
  const probes = checkCount(owner, 'probes', options.probes ?? 10, 1);
  const steps = checkCount(owner, 'steps', options.steps ?? Math.min(n, 50), 1);
  if (steps > n) throw new RangeError(`${owner}: steps = ${steps} exceeds the operator's size ${n}`);
  const distribution = checkDistribution(owner, options.distribution ?? 'rademacher');
  const generator = generatorFrom(owner, options);
  const nodes: number[][] = [];
  const weights: number[][] = [];
  for (let p = 0; p < probes; p++) {
    const v = drawProbes(generator, distribution, n, 1);
    const norm = Math.sqrt(dot(v, v));
    const process = new LanczosProcess(owner, operator, v.map((x) => x / norm), { mode: 'stop', generator });
    while (process.alpha.length < steps && process.canStep) process.step();
    const { values, vectors } = tridiagonalEigen(operator, process.alpha, process.beta);
    const m = values.length;
    nodes.push(Array.from(values));
    weights.push(Array.from({ length: m }, (_, j) => vectors[j]! ** 2));
  }
  return { nodes, weights, size: n };
}

/** Options of {@link gaussianSpectralDensity}. */
export interface SpectralDensityOptions {
  /** The standard deviation of the Gaussian placed on each node (> 0). */
  readonly width: number;
}

/**
 * The spectral density of a {@link SpectralQuadrature} broadened by Gaussians
 * of standard deviation `width`, evaluated at each point of `grid`: the mean
 * over probes of `Σ_j w_j N(t; θ_j, width²)`. It integrates to 1 over the
 * real line.
 */
export function gaussianSpectralDensity(quadrature: SpectralQuadrature, grid: ArrayLike<number>, options: SpectralDensityOptions): number[] {
  const owner = 'gaussianSpectralDensity';
  rejectUnknownOptions(owner, options, ['width']);
  const width = checkNonNegative(owner, 'width', options.width);
  if (width === 0) throw new RangeError(`${owner}: width must be > 0`);
  const probes = quadrature.nodes.length;
  const normaliser = 1 / (probes * width * Math.sqrt(2 * Math.PI));
  return Array.from(grid, (t) => {
    let density = 0;
    quadrature.nodes.forEach((nodes, p) => {
      nodes.forEach((node, j) => (density += quadrature.weights[p]![j]! * Math.exp(-0.5 * ((t - node) / width) ** 2)));
    });
    return density * normaliser;
  });
}
