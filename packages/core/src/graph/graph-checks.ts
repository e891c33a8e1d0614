import { formatShape, shapesEqual } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { describeNode } from '../modules/call-site.js';
import { formerParameterOf } from '../modules/parameter.js';
import type { Node, RecordedGraph } from './recorded-graph.js';

/*
 * What a backward pass refuses before it modifies anything: a graph a
 * previous pass freed, a recording that no longer matches the model, and
 * seeds that do not fit the roots.
 */

/** Nodes whose graph a backward pass without `retainGraph` released. */
const freed = new WeakSet<Node>();

/**
 * Refuses a pass through nodes a previous pass freed (as PyTorch, whose
 * freed nodes have lost their saved tensors): backpropagating twice through
 * one recording is almost always a forgotten forward pass.
 */
export function checkNotFreed(graph: Pick<RecordedGraph, 'steps'>, caller: string): void {
  const used = graph.steps.find((node) => freed.has(node));
  if (used !== undefined) {
    throw new Error(
      `${caller}: trying to backward through the graph a second time (through ${describeNode(used)}), ` +
        'but the previous backward pass freed it; pass retainGraph: true to that backward() or grad() to backward through the graph again, ' +
        'or run the forward pass again',
    );
  }
}

/** Marks the nodes of a pass without `retainGraph` as freed. */
export function free(graph: RecordedGraph): void {
  for (const node of graph.steps) freed.add(node);
}

/**
 * Refuses a recording that no longer matches the model: a parameter
 * replaced since the forward pass (its derivatives would mix old and new
 * values, as PyTorch refuses tensors modified in place), or a tensor the
 * walk reads disposed.
 */
export function checkRecording(graph: Pick<RecordedGraph, 'steps'>, caller: string): void {
  for (const node of graph.steps) {
    // Described only when refused: naming a module through its callers walks the model.
    const where = () => describeNode(node);
    if (node.kind === 'op') {
      node.inputs.forEach((input, i) => {
        checkAlive(input, `input ${i}`, where, caller);
        const parameter = formerParameterOf(input);
        if (parameter !== undefined && parameter.data !== input) {
          throw new Error(
            `${caller}: input ${i} of ${where()} is data of a parameter that was replaced after the forward pass (now at version ${parameter.version}); ` +
              'run the forward pass again after changing the model',
          );
        }
      });
      continue;
    }
    for (const [name, recorded] of node.parameterVersions) {
      const parameter = node.module.parameter(name);
      if (parameter.version !== recorded) {
        throw new Error(
          `${caller}: parameter '${name}' of ${where()} was replaced after the forward pass ` +
            `(version ${recorded} when recorded, ${parameter.version} now); run the forward pass again after changing the model`,
        );
      }
      checkAlive(parameter.data, `parameter '${name}'`, where, caller);
    }
    for (const i of node.module.differentiableInputs(node)) checkAlive(node.inputs[i]!, `input ${i}`, where, caller);
    checkAlive(node.output, 'output', where, caller);
    for (const [key, tensor] of Object.entries(node.saved)) checkAlive(tensor, `saved tensor '${key}'`, where, caller);
  }
}

function checkAlive(tensor: Tensor, what: string, where: () => string, caller: string): void {
  if (tensor.isDisposed) {
    throw new Error(
      `${caller}: the ${what} of ${where()} (shape ${formatShape(tensor.shape)}) was disposed after the forward pass; ` +
        'keep the tensors of a forward pass until its backward() has run (one tidy around both)',
    );
  }
}

/**
 * The gradients the pass starts with, one per root: the given ones (which
 * must have the root's shape, dtype and backend), else 1 for a one-element
 * root (PyTorch: "grad can be implicitly created only for scalar outputs").
 */
export function checkSeeds(roots: readonly Tensor[], given: readonly (Tensor | undefined)[], caller: string, option: string): void {
  if (given.length !== roots.length) {
    throw new RangeError(`${caller}: ${given.length} ${option} for ${roots.length} outputs; give one per output`);
  }
  roots.forEach((root, i) => {
    const seed = given[i];
    if (seed === undefined) {
      if (root.size !== 1) {
        throw new RangeError(
          `${caller}: a gradient can be created implicitly only for a one-element output, got shape ${formatShape(root.shape)}; ` +
            `pass ${option} (the gradient w.r.t. it) or reduce it to a scalar loss first`,
        );
      }
      return;
    }
    seed.assertAlive(caller);
    if (!shapesEqual(seed.shape, root.shape) || seed.dtype !== root.dtype || seed.backend !== root.backend) {
      throw new RangeError(
        `${caller}: ${option} ${roots.length > 1 ? `${i} ` : ''}is ${seed.dtype} ${formatShape(seed.shape)} on '${seed.backend.name}', ` +
          `but the output is ${root.dtype} ${formatShape(root.shape)} on '${root.backend.name}'`,
      );
    }
  });
}
