export { flattenTensors, unflattenVector } from './flat-vectors.js';
export type { DataSet } from './data-set.js';
export { CurvatureOperator, type CurvatureOperatorOptions, type BatchPass } from './curvature-operator.js';
export { HessianOperator } from './hessian-operator.js';
export { GGNOperator } from './ggn-operator.js';
export { EmpiricalFisherOperator } from './empirical-fisher-operator.js';
export { MonteCarloFisherOperator, type MonteCarloFisherOptions } from './monte-carlo-fisher-operator.js';
export { JacobianOperator, TransposedJacobianOperator } from './jacobian-operators.js';
