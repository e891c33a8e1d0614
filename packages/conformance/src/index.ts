/**
 * @backpack-ts/conformance: checks that backpack-ts computes what the
 * reference implementation (BackPACK on PyTorch) computes, and that a backend
 * computes what backend-cpu computes.
 *
 * - `runBackendConformance(backend, { dtype })`: the conformance kit for
 *   backend authors (every kernel against backend-cpu in float64, then the
 *   golden suite end to end on the backend), with `assertConformance` and
 *   `formatConformanceReport`.
 * - `golden/*`: load the golden reference cases, build their networks with
 *   this project's modules, and compare forward passes and extension
 *   quantities with the stored results.
 * - `compare`: comparison reports usable from any test runner.
 * - `run-example`: run a README's code block as written and collect its logs.
 * - `golden/test-cases`: what a golden test file lays out (cases, skips,
 *   verbose logging, a worst-error summary), for any test runner.
 * - `scale-shift`: a module with parameters written as a third party would,
 *   with and without traits, for tests of the extensions' rules.
 * - `recordedOps`: a few ops with derivative rules written with `recordOp`,
 *   as a third party would, for tests of the backward engine against the
 *   op-recording contract alone.
 *
 * Nothing here imports a test runner; the package's own tests use vitest.
 *
 * @module \@backpack-ts/conformance
 */
export {
  compareArrays,
  compareTensor,
  compareNumbers,
  compareShapes,
  failedReport,
  assertReports,
  failedMessages,
  worstRelError,
  type ShapedData,
  type CompareOptions,
  type CompareReport,
} from './compare.js';
export {
  GOLDEN_DIR_ENV,
  GOLDEN_FOLDERS,
  findRepoRoot,
  goldenDir,
  goldenDirs,
  listGoldenCases,
  loadGoldenCase,
  isTensorList,
  type GoldenTensor,
  type GoldenQuantity,
  type GoldenLayerSpec,
  type GoldenLossSpec,
  type GoldenCaseSpec,
  type GoldenBruteforce,
  type GoldenCase,
  type GoldenCaseFile,
} from './golden/load.js';
export {
  buildGoldenModel,
  buildSupportedGoldenModel,
  buildGoldenLayer,
  sampleOf,
  syntheticGoldenCase,
  type SyntheticCaseSpec,
  goldenTensor,
  unsupportedTypes,
  type BuildOptions,
  type GoldenModel,
  type UnsupportedGoldenModel,
  type GoldenBuild,
} from './golden/build-model.js';
export {
  GOLDEN_VERBOSE_ENV,
  goldenTestCases,
  failUnknownTypes,
  runningInCI,
  goldenVerbose,
  logReportsIfVerbose,
  WorstRelErrors,
  type GoldenTestCase,
  type GoldenTestCases,
} from './golden/test-cases.js';
export { expectedQuantity, type ExpectedQuantity, type ExpectedSource } from './golden/expected.js';
export {
  checkGoldenForward,
  checkGoldenExtensions,
  compareQuantity,
  MONTE_CARLO_EXTENSIONS,
  type GoldenCheck,
  type GoldenCheckOptions,
  type RunPass,
} from './golden/run.js';
export { markdownCodeBlocks, runModuleCapturingLogs } from './run-example.js';
export { countingCpu, type CountingBackend } from './counting-backend.js';
export { LAYER_EXAMPLES, LAYERS_TABLE_MARKERS, supportedLayersTable, withLayersTable, type LayerExample } from './layers-table.js';
export { PlainScaleShift, ScaleShift, type ScaleShiftOptions } from './scale-shift.js';
export { doubleBackwardStep } from './double-backward-step.js';
export * as recordedOps from './recorded-ops.js';
export { runBackendConformance, defaultTolerance, type ConformanceOptions } from './kit/run-conformance.js';
export {
  assertConformance,
  formatConformanceReport,
  type ConformanceCheck,
  type ConformanceReport,
  type FamilySummary,
} from './kit/report.js';
export { runGoldenSuite, GOLDEN_EXTENSION_GROUPS, type GoldenSuiteOptions } from './kit/golden-suite.js';
export { kernelCases } from './kit/kernel-cases.js';
export { runKernelCase, relativeError, type KernelCase, type InputSpec, type InputView, type KernelOutput } from './kit/kernel-check.js';
