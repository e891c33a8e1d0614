export { DenseOperator, denseOperator } from './dense-operator.js';
export type { RandomOptions, ProbeDistribution } from './random-probes.js';
export type { OnNonConvergence } from './non-convergence.js';
export type { HutchinsonOptions } from './hutchinson-options.js';
export { hutchinsonTrace, type TraceEstimate } from './hutchinson-trace.js';
export { hutchPlusPlusTrace, type HutchPlusPlusOptions } from './hutch-plus-plus.js';
export { hutchinsonDiagonal, type DiagonalEstimate } from './hutchinson-diagonal.js';
export { lanczosEigenvalues, type LanczosOptions, type LanczosResult } from './lanczos.js';
export {
  stochasticLanczosQuadrature,
  gaussianSpectralDensity,
  type SpectralQuadratureOptions,
  type SpectralQuadrature,
  type SpectralDensityOptions,
} from './spectral-density.js';
export { conjugateGradient, type ConjugateGradientOptions, type ConjugateGradientResult } from './conjugate-gradient.js';
