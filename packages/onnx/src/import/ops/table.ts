/**
 * The operators the importer supports: for each ONNX op type, its handler
 * and what of it is supported (in the order messages list them). Handlers
 * live in one file per operator family beside this one.
 */
import type { Handler } from '../context.js';
import { importElu, importLeakyRelu, importLog, importNeg, importRelu, importSelu, importSigmoid, importSoftplus, importTanh } from './activations.js';
import { importAdd, importDiv, importMul, importSub, importSum } from './arithmetic.js';
import { importConv, importConvTranspose } from './conv.js';
import { importGather } from './gather.js';
import { importCast, importDropout, importIdentity } from './identity.js';
import { importGemm, importMatMul } from './linear.js';
import { importBatchNormalization } from './normalization.js';
import { importPad } from './padding.js';
import { importLstm, importRnn } from './recurrent.js';
import { importAveragePool, importGlobalAveragePool, importGlobalMaxPool, importMaxPool } from './pooling.js';
import { importFlatten, importReshape, importSqueeze, importUnsqueeze } from './reshape.js';
import { importTranspose } from './layout.js';
import { importConcat, importConstant, importConstantOfShape, importShape, importSlice } from './shape.js';

const OPERATORS: readonly (readonly [op: string, handler: Handler, supported: string])[] = [
  ['Gemm', importGemm, 'Linear (transA = 0; transB, alpha, beta any; B and C constant)'],
  ['MatMul', importMatMul, 'Linear (data [N, ..., in] times a constant 2-d weight, also one Transposed at import), with a following Add of a constant as its bias'],
  ['Add', importAdd, 'Add of two branches of equal shape (residual blocks, Parallel); a constant bias right after MatMul, Gemm or Conv'],
  ['Sum', importSum, 'as Add of two or more branches'],
  ['Conv', importConv, 'Conv1d/2d/3d (strides, pads, dilations, group, auto_pad)'],
  ['ConvTranspose', importConvTranspose, 'ConvTranspose1d/2d/3d (strides, pads, output_padding, dilations, group)'],
  ['MaxPool', importMaxPool, 'MaxPool1d/2d/3d'],
  ['AveragePool', importAveragePool, 'AvgPool1d/2d/3d (count_include_pad)'],
  ['GlobalAveragePool', importGlobalAveragePool, 'AdaptiveAvgPool with output size 1'],
  ['GlobalMaxPool', importGlobalMaxPool, 'MaxPool over the whole input'],
  ['Pad', importPad, 'constant padding of any dimensions but the batch, pads computed at import (Pad; ZeroPad2d, or folded into the following Conv/AveragePool, for zero spatial padding)'],
  ['Transpose', importTranspose, 'Permute keeping the batch axis first; into and out of RNN/LSTM (time-major); on constants (a transposed weight)'],
  ['Flatten', importFlatten, 'Flatten keeping the batch dimension'],
  ['Reshape', importReshape, 'only reshapes that flatten (merge consecutive dimensions after the batch)'],
  ['Squeeze', importSqueeze, 'only where it flattens (removes size-1 dimensions after the batch)'],
  ['Unsqueeze', importUnsqueeze, 'on constants (shape computations)'],
  ['BatchNormalization', importBatchNormalization, 'BatchNorm1d/2d/3d in inference mode'],
  ['RNN', importRnn, 'RNN (tanh or relu) as PyTorch exports a batch-first one: forward, X the time-major Transpose of data, zero initial state, Y squeezed on axis 1 and transposed back'],
  ['LSTM', importLstm, 'LSTM as PyTorch exports a batch-first one: forward, X the time-major Transpose of data, zero initial states, no peepholes, Y squeezed on axis 1 and transposed back'],
  ['Gather', importGather, 'on an initializer with data indices (Embedding); on data with one constant index (Slicing); on constants'],
  ['Relu', importRelu, 'ReLU'],
  ['Sigmoid', importSigmoid, 'Sigmoid; Log(Sigmoid(x)) is LogSigmoid'],
  ['Tanh', importTanh, 'Tanh'],
  ['LeakyRelu', importLeakyRelu, 'LeakyReLU'],
  ['Elu', importElu, 'ELU'],
  ['Selu', importSelu, "SELU (PyTorch's alpha and gamma)"],
  ['Log', importLog, 'only as Log(Sigmoid(x)) = LogSigmoid'],
  ['Softplus', importSoftplus, 'only as -Softplus(-x) = LogSigmoid'],
  ['Neg', importNeg, 'only as -Softplus(-x) = LogSigmoid'],
  ['Identity', importIdentity, 'identity'],
  ['Dropout', importDropout, 'Dropout (inference: identity)'],
  ['Cast', importCast, 'to a float type on data; any numeric type on constants'],
  ['Constant', importConstant, 'constants'],
  ['Shape', importShape, 'shape computations (batch size symbolic)'],
  ['Concat', importConcat, 'on constants'],
  ['ConstantOfShape', importConstantOfShape, 'on constants (shape computations); of a batch-dependent shape as the initial state of RNN/LSTM'],
  ['Slice', importSlice, 'on data with positive steps, the batch axis whole (Slicing); on constants'],
  ['Sub', importSub, 'on constants'],
  ['Mul', importMul, 'of data by one constant number (ScaleModule); on constants'],
  ['Div', importDiv, 'of data by one constant number (ScaleModule); on constants'],
];

/**
 * Operator types the importer understands (some only in the patterns their
 * description names). A null-prototype object: only these keys are in it.
 */
export const SUPPORTED_OPERATORS: Readonly<Record<string, string>> = Object.assign(
  Object.create(null) as Record<string, string>,
  Object.fromEntries(OPERATORS.map(([op, , supported]) => [op, supported])),
);

/** The handler of each supported op type (a `Map`: an op type such as `constructor` is not a handler). */
export const HANDLERS: ReadonlyMap<string, Handler> = new Map(OPERATORS.map(([op, handler]) => [op, handler]));
