/**
 * The graph's interface: its one data input (the inputs that are not
 * initializers), with the shape of one sample and the batch dimension as
 * declared or given, and its one output.
 */
import { sizeOf } from '@backpack-ts/core';
import { OnnxImportError } from '../errors.js';
import { dataTypeName, type GraphProto, type ValueInfoProto } from '../proto/onnx-proto.js';
import { isFloatType, isIntType } from './initializers.js';
import { MAX_DIMENSION, formatInteger, isIntegerIn, rangeText } from './integers.js';

/** Elements one sample of the model input may hold (2^26: 512 MiB in float64). */
const MAX_SAMPLE_SIZE = 2 ** 26;

/** The data input and the output of a graph, as the import uses them. */
export interface GraphInterface {
  readonly input: ValueInfoProto;
  /** The input holds integers (token indices), not floats. */
  readonly intInput: boolean;
  /** Dimensions after the batch. */
  readonly sampleShape: readonly number[];
  /** The declared batch dimension: a number, a symbolic name, or undefined when unknown. */
  readonly batch: number | string | undefined;
  /** The batch size the import runs the model on: the declared one, else 2. */
  readonly traceBatch: number;
  readonly outputName: string;
}

/**
 * Reads the graph's interface; `initializers` are the names of its
 * initializers (ONNX files before IR 4 list them as inputs too), and
 * `inputShape` the sample shape the caller gives (needed where the model
 * declares symbolic dimensions other than the batch).
 */
export function graphInterface(graph: GraphProto, initializers: ReadonlySet<string>, inputShape: readonly number[] | undefined): GraphInterface {
  const dataInputs = graph.input.filter((v) => !initializers.has(v.name));
  if (dataInputs.length !== 1) {
    throw new OnnxImportError(`the model has ${dataInputs.length} inputs (${dataInputs.map((v) => `'${v.name}'`).join(', ') || 'none'}); exactly one data input is supported`);
  }
  if (graph.output.length !== 1) {
    throw new OnnxImportError(`the model has ${graph.output.length} outputs (${graph.output.map((v) => `'${v.name}'`).join(', ')}); exactly one is supported`);
  }
  const input = dataInputs[0]!;
  const intInput = isIntType(input.elemType);
  if (!intInput && !isFloatType(input.elemType)) {
    throw new OnnxImportError(`input '${input.name}' holds ${dataTypeName(input.elemType)} values; float or integer inputs are supported`);
  }
  const declared = input.shape;
  let sampleShape: number[];
  if (inputShape !== undefined) {
    sampleShape = [...inputShape];
    if (declared !== undefined) {
      const conflict = declared.length !== sampleShape.length + 1 || declared.slice(1).some((d, i) => 'value' in d && d.value !== sampleShape[i]);
      if (conflict) {
        throw new OnnxImportError(`inputShape [${sampleShape.join(', ')}] does not fit the declared input shape [${declared.map((d) => ('value' in d ? d.value : 'param' in d ? d.param : '?')).join(', ')}]`);
      }
    }
  } else {
    if (declared === undefined || declared.length === 0) {
      throw new OnnxImportError(`input '${input.name}' has no declared shape; pass inputShape (the shape of one sample)`);
    }
    const symbolic = declared.slice(1).findIndex((d) => !('value' in d));
    if (symbolic >= 0) {
      const d = declared[symbolic + 1]!;
      throw new OnnxImportError(
        `input '${input.name}' has the symbolic dimension ${'param' in d ? `'${d.param}'` : '(unknown)'} at position ${symbolic + 1}; pass inputShape (the shape of one sample)`,
      );
    }
    sampleShape = declared.slice(1).map((d) => (d as { value: number }).value);
  }
  if (sampleShape.some((d) => !isIntegerIn(d, 1, MAX_DIMENSION)) || sizeOf(sampleShape) > MAX_SAMPLE_SIZE) {
    throw new OnnxImportError(
      `input '${input.name}': invalid sample shape [${sampleShape.map(formatInteger).join(', ')}]: each dimension ${rangeText(1, MAX_DIMENSION)}, and a sample may hold at most ${MAX_SAMPLE_SIZE} elements`,
    );
  }
  const batchDim = declared?.[0];
  const batch = batchDim === undefined ? undefined : 'value' in batchDim ? batchDim.value : 'param' in batchDim ? batchDim.param : undefined;
  // A zero or negative batch (some exporters' "unknown") is symbolic, as a name is.
  if (typeof batch === 'number' && batch > MAX_DIMENSION) {
    throw new OnnxImportError(`input '${input.name}' declares a batch size of ${formatInteger(batch)}; the batch dimension ${rangeText(0, MAX_DIMENSION)}`);
  }
  const traceBatch = typeof batch === 'number' && batch > 0 ? batch : 2;
  return { input, intInput, sampleShape, batch, traceBatch, outputName: graph.output[0]!.name };
}
