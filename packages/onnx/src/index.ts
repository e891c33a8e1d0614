/**
 * @backpack-ts/onnx: imports ONNX models (exported from PyTorch, or from
 * Keras through tf2onnx) into backpack-ts modules with their weights, so
 * every extension runs on them, and checks the import against ONNX Runtime.
 *
 * @module \@backpack-ts/onnx
 */
export { importOnnx, type ImportOptions } from './import/importer.js';
export { SUPPORTED_OPERATORS } from './import/ops/table.js';
export { torchScope } from './import/naming.js';
export { unroundFloat32 } from './import/attributes.js';
export { defaultMemoryLimitBytes } from './import/memory-budget.js';
export {
  OnnxModel,
  OnnxScope,
  type OnnxInputSpec,
  type OnnxParameterSource,
  type OnnxStep,
} from './import/onnx-model.js';
export { UserError, OnnxImportError, OnnxInputError, OnnxMemoryLimitError, isUserError } from './errors.js';
export { OnnxFormatError } from './proto/wire.js';
export { decodeModel, dataTypeName, type ModelProto, type GraphProto, type NodeProto, type TensorProto } from './proto/onnx-proto.js';
export { verifyWithOnnxRuntime, loadOnnxRuntime, type VerifyReport, type VerifyOptions, type ShapedValues } from './verify.js';
export {
  computeQuantities,
  createExtension,
  createLoss,
  estimateQuantitiesMemory,
  nullRecord,
  EXTENSION_NAMES,
  LOSS_NAMES,
  type QuantitiesOptions,
  type QuantitiesResult,
  type ProgressEvent,
  type ResultTensor,
  type ResultQuantity,
  type JsonNumber,
  type JsonTensor,
  type JsonQuantity,
  type MemoryEstimateInput,
  type MemoryEstimate,
  type ExtensionMemory,
  type MonteCarloSettings,
  type LossName,
} from './quantities.js';
export { loadBackend, BACKEND_PACKAGES } from './backends.js';
export { parseJsonTensor, parseNpy, readTensorFile, jsonNumber, MAX_TENSOR_RANK, type TensorFile } from './tensor-io.js';
