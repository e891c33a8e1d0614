/**
 * Reading a node's arguments: attributes with their types and ranges
 * checked (sizes, strides, pads must be integers in range), float32
 * attributes read as the decimal the exporter had, axes normalized, and
 * integer lists from constant inputs checked like attributes.
 */
import { OnnxImportError } from '../errors.js';
import { AttributeType, type AttributeProto, type NodeProto } from '../proto/onnx-proto.js';
import { describeNode } from './describe.js';
import { MAX_DIMENSION, formatInteger, isIntegerIn, rangeText } from './integers.js';
import type { ConstValue } from './values.js';

/** The shortest decimal that rounds to the same float32: float attributes were float64 literals before export. */
export function unroundFloat32(x: number): number {
  if (!Number.isFinite(x) || x === 0) return x;
  for (let p = 1; p <= 9; p++) {
    const v = Number(x.toPrecision(p));
    if (Math.fround(v) === x) return v;
  }
  return x;
}

/** An inclusive range `[min, max]` of integers. */
export type Range = readonly [min: number, max: number];

/** Sizes, strides, dilations: at least 1. */
export const POSITIVE: Range = [1, MAX_DIMENSION];
/** Paddings (and kernel_shape, where 0 means "the weight's"): at least 0. */
export const NON_NEGATIVE: Range = [0, MAX_DIMENSION];

/** A node's attributes by name, read with their types and ranges checked; errors name the node. */
export class Attributes {
  private readonly byName: Map<string, AttributeProto>;
  constructor(private readonly node: NodeProto) {
    this.byName = new Map(node.attribute.map((a) => [a.name, a]));
  }
  /** An integer attribute (`fallback` when absent), checked to lie in `range` `[min, max]` when given. */
  int(name: string, fallback: number, range?: Range): number {
    const a = this.byName.get(name);
    if (a === undefined) return fallback;
    if (a.i === undefined) throw new OnnxImportError(`${describeNode(this.node)}: attribute '${name}' must be an integer`);
    if (range !== undefined && !isIntegerIn(a.i, ...range)) {
      throw new OnnxImportError(`${describeNode(this.node)}: attribute '${name}' is ${formatInteger(a.i)}, but ${rangeText(...range)}`);
    }
    return a.i;
  }
  /** A float attribute (`fallback` when absent; an integer is taken too), read as the decimal the exporter wrote. */
  float(name: string, fallback: number): number {
    const a = this.byName.get(name);
    if (a === undefined) return fallback;
    if (a.f === undefined) {
      if (a.i !== undefined) return a.i;
      throw new OnnxImportError(`${describeNode(this.node)}: attribute '${name}' must be a float`);
    }
    return unroundFloat32(a.f);
  }
  /** A list-of-integers attribute (undefined when absent), each entry checked to lie in `range` `[min, max]` when given. */
  ints(name: string, range?: Range): number[] | undefined {
    const a = this.byName.get(name);
    if (a === undefined) return undefined;
    if (a.type !== AttributeType.INTS && a.type !== AttributeType.UNDEFINED) {
      throw new OnnxImportError(`${describeNode(this.node)}: attribute '${name}' must be a list of integers`);
    }
    const bad = range === undefined ? undefined : a.ints.find((v) => !isIntegerIn(v, ...range));
    if (bad !== undefined) {
      throw new OnnxImportError(
        `${describeNode(this.node)}: attribute '${name}' [${a.ints.map(formatInteger).join(', ')}] holds ${formatInteger(bad)}, but each entry ${rangeText(...range!)}`,
      );
    }
    return a.ints;
  }
  /** A string attribute (`fallback` when absent). */
  string(name: string, fallback: string): string {
    const a = this.byName.get(name);
    if (a?.s === undefined) return fallback;
    return new TextDecoder().decode(a.s);
  }
  /** The attribute as decoded (tensors, lists of floats), or undefined. */
  get(name: string): AttributeProto | undefined {
    return this.byName.get(name);
  }
  /** The `n` entries of a spatial attribute (strides, dilations, ...; `fallback` each when absent), each in `range`. */
  spatial(name: string, n: number, fallback: number, range: Range): number[] {
    const values = this.ints(name, range) ?? new Array<number>(n).fill(fallback);
    if (values.length !== n) throw new OnnxImportError(`${describeNode(this.node)}: ${name} has ${values.length} entries, expected ${n}`);
    return values;
  }
}

/** `axis` of a rank-`rank` tensor in `[0, rank)` (negative counts from the end), or an error naming the node. */
export function normalizeAxis(axis: number, rank: number, node: NodeProto): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!isIntegerIn(a, 0, rank - 1)) throw new OnnxImportError(`${describeNode(node)}: axis ${formatInteger(axis)} is out of range for rank ${rank}`);
  return a;
}

/** The values of a constant input that holds integers in `range` (pads, a target shape), or an error naming the node. */
export function constantIntegers(value: ConstValue, what: string, range: Range, node: NodeProto): number[] {
  const bad = value.values.find((v) => !isIntegerIn(v, ...range));
  if (bad !== undefined) {
    throw new OnnxImportError(`${describeNode(node)}: ${what} [${[...value.values].map(formatInteger).join(', ')}] holds ${formatInteger(bad)}, but each entry ${rangeText(...range)}`);
  }
  return [...value.values];
}
