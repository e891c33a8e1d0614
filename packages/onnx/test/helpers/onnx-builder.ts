/**
 * ONNX models for tests: any operators, initializer names and attributes, so
 * the importer can be checked against onnxruntime-node on graphs PyTorch's
 * golden exports do not cover (tf2onnx-style MatMul + Add, residual blocks,
 * embeddings, ...). The bytes come from backend-onnxruntime's ONNX writer;
 * this file keeps the tests' spelling of a model (ONNX type codes, `{ f }`
 * floats, `typed` initializers).
 */
import { sizeOf } from '@backpack-ts/core';
import {
  encodeModel,
  type AttributeValue as OnnxAttributeValue,
  type TensorSpec as OnnxTensorSpec,
  type ValueSpec as OnnxValueSpec,
} from '@backpack-ts/backend-onnxruntime/proto';

export const FLOAT = 1;
export const INT64 = 7;
export const DOUBLE = 11;

export interface TensorSpec {
  readonly name: string;
  readonly dims: readonly number[];
  readonly values: readonly number[];
  /** ONNX element type (default FLOAT). */
  readonly dataType?: number;
  /** Store in the type's own field (float_data, int32_data, int64_data, double_data) instead of raw_data. */
  readonly typed?: boolean;
  /** Store no values but these `external_data` entries (`location`, `offset`, `length`), with data_location EXTERNAL. */
  readonly external?: readonly (readonly [string, string])[];
}

export type AttributeValue =
  | number
  | readonly number[]
  | string
  | { readonly f: number }
  | { readonly floats: readonly number[] }
  | { readonly strings: readonly string[] }
  | { readonly tensor: TensorSpec };

export interface NodeSpec {
  readonly op: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly name?: string;
  readonly domain?: string;
  readonly attrs?: Readonly<Record<string, AttributeValue>>;
}

export interface ValueSpec {
  readonly name: string;
  readonly elemType?: number;
  /** Numbers or symbolic names; undefined for an unknown shape. */
  readonly dims?: readonly (number | string)[];
}

export interface ModelSpec {
  readonly inputs: readonly ValueSpec[];
  readonly outputs: readonly ValueSpec[];
  readonly initializers?: readonly TensorSpec[];
  readonly nodes: readonly NodeSpec[];
  readonly opset?: number;
  readonly irVersion?: number;
}

function tensor(t: TensorSpec): OnnxTensorSpec {
  return { name: t.name, type: t.dataType ?? FLOAT, dims: t.dims, values: t.values, storage: t.typed === true ? 'typed' : 'raw', ...(t.external === undefined ? {} : { external: t.external }) };
}

/** `Array.isArray` does not narrow a union with a readonly array. */
function isNumberList(value: AttributeValue): value is readonly number[] {
  return Array.isArray(value);
}

function attribute(value: AttributeValue): OnnxAttributeValue {
  if (typeof value === 'number' || typeof value === 'string' || isNumberList(value)) return value;
  if ('f' in value) return { float: value.f };
  if ('tensor' in value) return { tensor: tensor(value.tensor) };
  return value;
}

/** Encodes a model (with the ONNX writer of backend-onnxruntime). */
export function buildModel(spec: ModelSpec): Uint8Array {
  return encodeModel({
    nodes: spec.nodes.map((n) => ({
      op: n.op,
      inputs: n.inputs,
      outputs: n.outputs,
      name: n.name,
      domain: n.domain,
      attributes: Object.fromEntries(Object.entries(n.attrs ?? {}).map(([name, value]) => [name, attribute(value)])),
    })),
    initializers: (spec.initializers ?? []).map(tensor),
    inputs: spec.inputs.map(valueInfo),
    outputs: spec.outputs.map(valueInfo),
    opset: spec.opset ?? 13,
    irVersion: spec.irVersion ?? 8,
    graphName: 'test-graph',
    producer: { name: 'onnx-builder', version: '1' },
  });
}

function valueInfo(v: ValueSpec): OnnxValueSpec {
  return { name: v.name, type: v.elemType ?? FLOAT, dims: v.dims };
}

/** Deterministic pseudo-random values in [-1, 1) (a linear congruential generator). */
export function values(count: number, seed: number): number[] {
  let state = seed * 2654435761 + 12345;
  return Array.from({ length: count }, () => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return Math.round(((state / 2147483648) * 2 - 1) * 1e6) / 1e6;
  });
}

/** A float initializer of `dims` filled with {@link values}. */
export function init(name: string, dims: readonly number[], seed: number): TensorSpec {
  return { name, dims, values: values(sizeOf(dims), seed) };
}
