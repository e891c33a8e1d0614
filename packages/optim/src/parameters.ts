import type { Module, Parameter } from '@backpack-ts/core';

/**
 * What an optimiser steps on: a model (its trainable parameters, by their
 * dotted names), or a list of parameters, plain (`model.parameters()`, named
 * `"parameter 0"`, ... in messages) or named (`model.namedParameters()`).
 */
export type ParameterSource = Module | Iterable<Parameter> | Iterable<readonly [string, Parameter]>;

/** A parameter with the name messages call it by. */
export interface NamedParameter {
  /** Dotted name (`"0.weight"`), or `"parameter i"` for a parameter given without one. */
  readonly name: string;
  /** The parameter itself. */
  readonly parameter: Parameter;
}

/**
 * The parameters of `source`, each once, with names; throws (naming `owner`)
 * when one is listed twice, since stepping it twice would be wrong silently.
 */
export function namedParameterList(owner: string, source: ParameterSource): NamedParameter[] {
  const entries = isModule(source)
    ? source.namedParameters()
    : [...source].map((item, i): readonly [string, Parameter] => (Array.isArray(item) ? (item as readonly [string, Parameter]) : [`parameter ${i}`, item as Parameter]));
  const seen = new Map<Parameter, string>();
  const list: NamedParameter[] = [];
  for (const [name, parameter] of entries) {
    const earlier = seen.get(parameter);
    if (earlier !== undefined) throw new Error(`${owner}: parameter '${name}' is listed twice (also as '${earlier}')`);
    seen.set(parameter, name);
    list.push({ name, parameter });
  }
  return list;
}

function isModule(source: ParameterSource): source is Module {
  return typeof (source as Partial<Module>).namedParameters === 'function';
}
