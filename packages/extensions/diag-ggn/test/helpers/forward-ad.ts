/**
 * A tiny forward-mode automatic differentiation in plain JavaScript numbers,
 * independent of core: each value carries its derivatives with respect to
 * every parameter entry of a model. Enough to write small networks by hand
 * (linear layers, elementwise activations, sums) and read off exact
 * per-sample Jacobians of their outputs.
 */
import type { Module } from '@backpack-ts/core';

/** A value and its gradient w.r.t. all parameter entries (flattened, in `ParameterIndex` order). */
export interface Dual {
  readonly v: number;
  readonly d: Float64Array;
}

/** Where each parameter's entries sit in the flattened tangent vector. */
export class ParameterIndex {
  readonly offsets = new Map<string, number>();
  readonly shapes = new Map<string, readonly number[]>();
  readonly values = new Map<string, Float64Array>();
  readonly size: number;

  constructor(model: Module) {
    let offset = 0;
    for (const [name, parameter] of model.namedParameters()) {
      this.offsets.set(name, offset);
      this.shapes.set(name, parameter.data.shape);
      this.values.set(name, Float64Array.from(parameter.data.toArray()));
      offset += parameter.data.size;
    }
    this.size = offset;
  }

  /** Number of entries of parameter `name`. */
  count(name: string): number {
    return this.values.get(name)!.length;
  }

  /** Entry `i` of parameter `name` as a dual number with unit tangent. */
  entry(name: string, i: number): Dual {
    const d = new Float64Array(this.size);
    d[this.offsets.get(name)! + i] = 1;
    return { v: this.values.get(name)![i]!, d };
  }

  /** A constant (zero tangent). */
  constant(v: number): Dual {
    return { v, d: new Float64Array(this.size) };
  }
}

export function add(a: Dual, b: Dual): Dual {
  const d = new Float64Array(a.d.length);
  for (let i = 0; i < d.length; i++) d[i] = a.d[i]! + b.d[i]!;
  return { v: a.v + b.v, d };
}

export function mul(a: Dual, b: Dual): Dual {
  const d = new Float64Array(a.d.length);
  for (let i = 0; i < d.length; i++) d[i] = a.d[i]! * b.v + a.v * b.d[i]!;
  return { v: a.v * b.v, d };
}

/** f applied to a dual number, given f(v) and f'(v). */
export function apply(a: Dual, value: number, derivative: number): Dual {
  const d = new Float64Array(a.d.length);
  for (let i = 0; i < d.length; i++) d[i] = derivative * a.d[i]!;
  return { v: value, d };
}

export const tanh = (a: Dual): Dual => {
  const t = Math.tanh(a.v);
  return apply(a, t, 1 - t * t);
};

export const sigmoid = (a: Dual): Dual => {
  const s = 1 / (1 + Math.exp(-a.v));
  return apply(a, s, s * (1 - s));
};

export const relu = (a: Dual): Dual => (a.v > 0 ? apply(a, a.v, 1) : apply(a, 0, 0));

/** `y = W x + b` for one feature vector, with the PyTorch layout `weight [out, in]`. */
export function linear(index: ParameterIndex, prefix: string, x: readonly Dual[], bias = true): Dual[] {
  const [outFeatures, inFeatures] = index.shapes.get(`${prefix}.weight`)! as [number, number];
  if (x.length !== inFeatures) throw new Error(`linear ${prefix}: ${x.length} inputs, expected ${inFeatures}`);
  const out: Dual[] = [];
  for (let o = 0; o < outFeatures; o++) {
    let y = bias ? index.entry(`${prefix}.bias`, o) : index.constant(0);
    for (let i = 0; i < inFeatures; i++) y = add(y, mul(index.entry(`${prefix}.weight`, o * inFeatures + i), x[i]!));
    out.push(y);
  }
  return out;
}

/** Data as constant duals. */
export function constants(index: ParameterIndex, values: ArrayLike<number>): Dual[] {
  return Array.from(values, (v) => index.constant(v));
}
