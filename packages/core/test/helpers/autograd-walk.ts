/**
 * A tiny reverse-mode and forward-mode walker over op nodes, for testing the
 * ops' derivative rules on their own (the engine is not what is tested
 * here). Both walk `gradFn` from an output back to the leaves, and check that
 * every rule returns the shape the contract promises.
 */
import { add, enableGrad, formatShape, isOpNode, noGrad, shapesEqual, type OpNode, type Tensor } from '@backpack-ts/core';

/** The recorded tensors an output depends on (itself included), producers before consumers. */
function recordedTensors(output: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const seen = new Set<Tensor>();
  const visit = (t: Tensor): void => {
    if (seen.has(t)) return;
    seen.add(t);
    const node = opNode(t);
    if (node === undefined) return;
    for (const input of node.inputs) visit(input);
    order.push(t);
  };
  visit(output);
  return order;
}

function opNode(t: Tensor): OpNode | undefined {
  if (t.gradFn === undefined) return undefined;
  if (!isOpNode(t.gradFn)) throw new Error(`the walker handles op nodes only, found another node on ${t.toString()}`);
  return t.gradFn;
}

function expectShape(node: OpNode, what: string, got: Tensor, lead: readonly number[], own: readonly number[]): void {
  const want = [...lead, ...own];
  if (!shapesEqual(got.shape, want)) {
    throw new Error(`${node.name}: the ${what} has shape ${formatShape(got.shape)}, expected ${formatShape(want)}`);
  }
}

export interface WalkOptions {
  /** Records the walk itself (under `enableGrad`), so its results can be differentiated again. */
  readonly createGraph?: boolean;
}

function inMode<T>(options: WalkOptions, fn: () => T): T {
  return options.createGraph === true ? enableGrad(fn) : noGrad(fn);
}

/**
 * Reverse mode: the cotangent of each of `wrt` given the cotangent of
 * `output` (`[...lead, ...output.shape]`), or `undefined` where none arrives.
 * Cotangents from several uses are summed.
 */
export function vjpWalk(output: Tensor, cotangent: Tensor, wrt: readonly Tensor[], options: WalkOptions = {}): (Tensor | undefined)[] {
  const lead = cotangent.shape.slice(0, cotangent.rank - output.rank);
  return inMode(options, () => {
    const cotangents = new Map<Tensor, Tensor>([[output, cotangent]]);
    for (const t of recordedTensors(output).reverse()) {
      const g = cotangents.get(t);
      const node = opNode(t)!;
      if (g === undefined) continue;
      node.derivatives.vjp(g).forEach((gi, i) => {
        if (gi === undefined) return;
        const input = node.inputs[i]!;
        expectShape(node, `cotangent of input ${i}`, gi, lead, input.shape);
        const previous = cotangents.get(input);
        cotangents.set(input, previous === undefined ? gi : add(previous, gi));
      });
    }
    return wrt.map((x) => cotangents.get(x));
  });
}

/**
 * Forward mode: the tangent of `output` given tangents of some tensors it
 * depends on (all `[...lead, ...shape]` with one `lead`), or `undefined` when
 * none reaches it.
 */
export function jvpWalk(output: Tensor, tangents: ReadonlyMap<Tensor, Tensor>, options: WalkOptions = {}): Tensor | undefined {
  const first = tangents.entries().next().value!;
  const lead = first[1].shape.slice(0, first[1].rank - first[0].rank);
  return inMode(options, () => {
    const known = new Map(tangents);
    for (const t of recordedTensors(output)) {
      if (known.has(t)) continue;
      const node = opNode(t)!;
      const given = node.inputs.map((x) => known.get(x));
      if (given.every((v) => v === undefined)) continue;
      const tangent = node.derivatives.jvp(given);
      expectShape(node, 'tangent', tangent, lead, t.shape);
      known.set(t, tangent);
    }
    return known.get(output);
  });
}
