import { openScopes, type Tensor } from './tensor.js';

/*
 * Memory scopes for backends with manual memory (tfjs, onnxruntime).
 *
 * Every tensor created while a scope is open is tracked by it (the Tensor
 * constructor adds it to the innermost of `openScopes`); closing the scope
 * disposes all of them except those returned or explicitly kept. On
 * garbage-collected backends this costs a little bookkeeping and nothing else.
 */

/** Removes a tensor from every open scope, so no scope disposes it. */
export function keep<T extends Tensor>(tensor: T): T {
  for (const scope of openScopes) scope.delete(tensor);
  return tensor;
}

/**
 * Hands `tensor` (one kept earlier) to the innermost open scope, which
 * disposes it when it closes, unless returned or kept again; outside any
 * scope it stays alive. For a tensor that may still be read until then.
 */
export function disposeLater(tensor: Tensor): void {
  openScopes[openScopes.length - 1]?.add(tensor);
}

/**
 * Runs `fn`, then disposes every tensor it created except the ones reachable
 * in its result (a tensor, an array or a plain object of tensors, nested).
 * The kept tensors move to the enclosing scope, if any.
 */
export function tidy<T>(fn: () => T): T {
  const scope = new Set<Tensor>();
  openScopes.push(scope);
  let result: T;
  try {
    result = fn();
  } catch (error) {
    for (const tensor of scope) tensor.dispose();
    throw error;
  } finally {
    openScopes.pop();
  }
  const survivors = new Set<Tensor>();
  collectTensors(result, survivors);
  for (const tensor of scope) {
    if (survivors.has(tensor)) openScopes[openScopes.length - 1]?.add(tensor);
    else tensor.dispose();
  }
  return result;
}

function collectTensors(value: unknown, into: Set<Tensor>): void {
  // Typed arrays (values read back with toArray) hold numbers only, and can be too long to list.
  if (value === null || typeof value !== 'object' || ArrayBuffer.isView(value)) return;
  if (isTensor(value)) {
    into.add(value);
    return;
  }
  const items = Array.isArray(value) ? value : value instanceof Map ? [...value.values()] : Object.values(value);
  for (const item of items) collectTensors(item, into);
}

function isTensor(value: object): value is Tensor {
  return (value as { isTensor?: unknown }).isTensor === true;
}
