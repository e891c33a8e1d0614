/**
 * @backpack-ts/core: the one API of backpack-ts.
 *
 * Tensors on pluggable backends, modules with their derivatives, the recorded
 * graph and backward engine, and the contracts extensions and backends
 * implement.
 *
 * @module \@backpack-ts/core
 */
export type * from './backend/backend.js';
export { matmulDims, type MatmulDims } from './backend/matmul-dims.js';

export { Tensor, type AutogradNode, type BackwardOptions, type ModuleCall } from './tensor/tensor.js';
export {
  enableGrad,
  isGradEnabled,
  isOpNode,
  noGrad,
  recordOp,
  type CallFrame,
  type OpDerivatives,
  type OpNode,
} from './tensor/autograd.js';
export { tidy, keep, disposeLater } from './tensor/scope.js';
export { Generator } from './ops/random.js';
export { defaultGenerator, manualSeed } from './ops/default-generator.js';
export { sizeOf, formatShape, shapesEqual, broadcastShapes } from './tensor/shape.js';
export * from './ops/index.js';

export { Module } from './modules/module.js';
export { LeafModule, type ModuleTraits, type ParameterJacobianOptions } from './modules/leaf-module.js';
export { batchAveragedJacTMatJacProd } from './modules/batch-averaged-product.js';
export { ElementwiseModule } from './modules/elementwise-module.js';
export type { Parameter } from './modules/parameter.js';
export { Sequential } from './modules/sequential.js';
export { ModuleList } from './modules/module-list.js';
export { Parallel } from './modules/parallel.js';
export { rejectUnknownOptions, type NoOptions } from './ops/options.js';
export { Linear, type LinearOptions } from './modules/linear.js';
export { Flatten } from './modules/flatten.js';
export { Identity } from './modules/identity.js';
export { Dropout } from './modules/dropout.js';
export { Add, SumModule } from './modules/add.js';
export { ScaleModule } from './modules/scale-module.js';
export { Permute, type PermuteOptions } from './modules/permute.js';
export { Slicing, type SliceEntry, type SliceRange } from './modules/slicing.js';
export { ReLU, Sigmoid, Tanh, LeakyReLU, ELU, SELU, LogSigmoid } from './modules/activations.js';
export { ConvNd, Conv1d, Conv2d, Conv3d } from './modules/conv.js';
export { ConvTransposeNd, ConvTranspose1d, ConvTranspose2d, ConvTranspose3d } from './modules/conv-transpose.js';
export type { ConvOptions, ConvTransposeOptions } from './modules/conv-common.js';
export {
  MaxPoolNd,
  MaxPool1d,
  MaxPool2d,
  MaxPool3d,
  AvgPoolNd,
  AvgPool1d,
  AvgPool2d,
  AvgPool3d,
  AdaptiveAvgPoolNd,
  AdaptiveAvgPool1d,
  AdaptiveAvgPool2d,
  AdaptiveAvgPool3d,
  type SpatialSize,
  type MaxPoolOptions,
  type AvgPoolOptions,
  type AdaptiveOutputSize,
} from './modules/pooling.js';
export { Pad, ZeroPad2d, type PadOptions } from './modules/padding.js';
export { BatchNormNd, BatchNorm1d, BatchNorm2d, BatchNorm3d, type BatchNormOptions } from './modules/batch-norm.js';
export { Embedding, type EmbeddingOptions } from './modules/embedding.js';
export {
  RNNBase,
  type RecurrentOptions,
  type RecurrentState,
  type RecurrentDirections,
  type RecurrentHessianProducts,
} from './modules/recurrent/rnn-base.js';
export type { CellStep, CellAdjoint, CellCurvature, CellTangent, CellDerivatives } from './modules/recurrent/cell.js';
export { RNN, type RNNOptions } from './modules/recurrent/rnn.js';
export { LSTM, type LSTMOptions, type LSTMState } from './modules/recurrent/lstm.js';
export { ReduceTuple } from './modules/recurrent/reduce-tuple.js';

export { LossModule, type Reduction } from './losses/loss-module.js';
export { CrossEntropyLoss } from './losses/cross-entropy-loss.js';
export { MSELoss } from './losses/mse-loss.js';
export { BCEWithLogitsLoss } from './losses/bce-with-logits-loss.js';
export { crossEntropy, mseLoss, bceWithLogits, type LossOptions } from './losses/functional.js';

export { GraphNode } from './modules/leaf-module.js';
export { describeNode } from './modules/call-site.js';
export { RecordedGraph, type Edge, type GraphOptions, type Node as RecordedNode } from './graph/recorded-graph.js';
export { grad, type GradOptions } from './graph/grad.js';
export { jvp, type JvpOptions } from './graph/jvp.js';
export { extend } from './graph/extend.js';
export { runBackward } from './extensions/backward-engine.js';

export type { Extension, ExtensionPass, ExtensionHook, Quantity, ProductQuantity } from './extensions/extension.js';
export {
  RuleBasedExtension,
  RuleRegistry,
  UnsupportedModuleError,
  type ModuleClass,
  type ModuleRules,
  type RuleForModule,
} from './extensions/rule-registry.js';
export { backpack, type BackpackOptions, type Extensions } from './extensions/backpack.js';
export { BackpropExtension, type BackpropContext, type BackpropRule } from './extensions/backprop-extension.js';
export { validateSubsampling, checkSubsamplingFits, restrictCall, sampleChunks, CHUNK_ENTRIES } from './extensions/subsampling.js';
export { diagonalSqrtHessian, constantSqrtHessian } from './losses/loss-hessian.js';
