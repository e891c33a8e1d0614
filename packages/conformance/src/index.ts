/**
 * @backpack-ts/conformance: checks that backpack-ts computes what the
 * reference implementation (BackPACK on PyTorch) computes.
 *
 * - `golden/*`: load the golden reference cases, build their networks with
 *   this project's modules, and compare forward passes and extension
 *   quantities with the stored results.
 * - `compare`: comparison reports usable from any test runner.
 *
 * Nothing here imports a test runner; the package's own tests use vitest.
 */
export {
  compareArrays,
  compareTensor,
  compareNumbers,
  failedReport,
  assertReports,
  worstRelError,
  type ShapedData,
  type CompareOptions,
  type CompareReport,
} from './compare.js';
export {
  GOLDEN_DIR_ENV,
  findRepoRoot,
  goldenDir,
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
  goldenTensor,
  unsupportedTypes,
  type BuildOptions,
  type GoldenModel,
  type UnsupportedGoldenModel,
  type GoldenBuild,
} from './golden/build-model.js';
export { expectedQuantity, type ExpectedQuantity, type ExpectedSource } from './golden/expected.js';
export {
  checkGoldenForward,
  checkGoldenExtensions,
  compareQuantity,
  type GoldenCheck,
  type GoldenCheckOptions,
} from './golden/run.js';
