/**
 * What the importer knows about each ONNX value while it walks the graph:
 * a constant (computed at import), data (computed from the model input at
 * run time, with its value in the trace), or a Pad held back for the
 * operator after it; and the modules it builds from them.
 */
import type { LeafModule, Tensor } from '@backpack-ts/core';
import type { NodeProto } from '../proto/onnx-proto.js';
import type { OnnxParameterSource } from './onnx-model.js';

/** A tensor known at import: an initializer, a Constant, or computed from them (shapes). */
export interface ConstValue {
  readonly kind: 'const';
  readonly shape: readonly number[];
  readonly values: Float64Array;
  /** Entries equal to the batch size (from Shape of data); the number stored there is the trace's batch size. */
  readonly batch?: readonly boolean[];
  readonly dataType: number;
  /** Initializer (or Constant output) it comes from, for parameter names; undefined when computed. */
  readonly source?: string;
  /** The values are the 2-d transpose of `source` (a Transpose folded at import, as exports without constant folding hold). */
  readonly sourceTransposed?: boolean;
}

/** A tensor computed from the model input at run time; `tensor` is its value in the trace. */
export interface DataValue {
  readonly kind: 'data';
  /** Name of the value in the model's run-time map (a step's output or the graph input). */
  readonly name: string;
  readonly tensor: Tensor;
}

/** Zero padding waiting to be folded into the Conv or AveragePool that consumes it. */
export interface PendingPad {
  readonly kind: 'pad';
  readonly source: DataValue;
  /** Padding of the spatial dimensions (symmetric). */
  readonly spatial: readonly number[];
  readonly node: NodeProto;
}

/** Every kind of value, by `kind`. */
export type Value = ConstValue | DataValue | PendingPad;

/** A parameter or buffer of a module, with its values and where they came from. */
export interface ParamSpec {
  readonly local: string;
  readonly values: Float64Array;
  readonly shape: readonly number[];
  readonly source: OnnxParameterSource;
}

/** A leaf module built from one or more nodes: a step of the imported model. */
export interface BuiltModule {
  readonly module: LeafModule;
  readonly inputs: readonly string[];
  readonly output: string;
  /** Nodes it came from (the first names it). */
  readonly nodes: readonly NodeProto[];
  readonly params: readonly ParamSpec[];
}
