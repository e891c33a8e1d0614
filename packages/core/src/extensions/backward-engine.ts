import type { Extension, ExtensionHook, ExtensionPass, Quantity } from './extension.js';
import type { Parameter } from '../modules/parameter.js';
import { add } from '../ops/elementwise.js';
import { disposeLater, keep, tidy } from '../tensor/scope.js';
import { formatShape, shapesEqual } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { installBackwardRunner, type BackwardOptions } from '../tensor/tensor.js';
import type { GraphNode } from '../modules/leaf-module.js';
import { backpropagate } from '../graph/backpropagate.js';
import { checkNotFreed, checkRecording, checkSeeds, free } from '../graph/graph-checks.js';
import { RecordedGraph } from '../graph/recorded-graph.js';
import { activeBackpackOptions, extensionList, type Extensions } from './backpack.js';

// The options of Tensor.backward, declared here because the tensor layer names no extension type.
declare module '../tensor/tensor.js' {
  interface BackwardOptions {
    /** Extensions to run during this backward pass, one or a list (see `backpack`). */
    readonly extensions?: Extensions;
    /** Called after the extensions of each module ran (BackPACK's `extension_hook`). */
    readonly extensionHook?: ExtensionHook;
  }
}

function addQuantities(a: Quantity, b: Quantity): Quantity {
  if (Array.isArray(a) && Array.isArray(b)) return a.map((t: Tensor, i: number) => add(t, b[i]!));
  if (typeof a === 'function' && typeof b === 'function') {
    return Object.assign((mat: Tensor) => add(a(mat), b(mat)), { tensors: [...a.tensors, ...b.tensors] });
  }
  return add(a as Tensor, b as Tensor);
}

/** The tensors a quantity holds (a product function's are those it reads). */
function tensorsOf(quantity: Quantity): readonly Tensor[] {
  if (typeof quantity === 'function') return quantity.tensors;
  return Array.isArray(quantity) ? quantity : [quantity as Tensor];
}

/**
 * `tensor.backward(options)`: walks the recorded graph (ops and modules)
 * from `root` back to the leaves, accumulates `.grad` of every parameter and
 * of every other leaf that requires gradients, and runs the extensions at
 * the module calls.
 *
 * Everything that can be refused (no graph, a graph a previous pass freed, a
 * model changed since the forward pass, a `.grad` the result cannot be added
 * to, an extension that cannot treat a module or an op) is checked before
 * anything is modified.
 *
 * Memory: the pass runs in its own `tidy` scope and keeps only what it
 * stores (`.grad`, the extensions' fields). With `createGraph` it opens no
 * scope, since the stored results' graphs refer to what it created: those
 * tensors (and each replaced `.grad`) belong to the enclosing `tidy`.
 */
export function runBackward(root: Tensor, options: BackwardOptions): void {
  const active = activeBackpackOptions();
  const extensions = options.extensions === undefined ? (active?.extensions ?? []) : extensionList(options.extensions);
  const hook = options.extensionHook ?? active?.extensionHook;
  const createGraph = options.createGraph ?? false;
  const graph = new RecordedGraph(root);
  checkSeeds([root], [options.gradient], 'backward()', 'gradient');
  checkNotFreed(graph, 'backward()');
  checkRecording(graph, 'backward()');
  checkGradSlots(graph);
  checkExtensions(extensions, graph);
  if (!(options.retainGraph ?? createGraph)) free(graph);

  const run = () => {
    const passes = new Map<Extension, ExtensionPass>(extensions.map((e) => [e, e.begin(graph)]));
    const contributions = new Map<Parameter, Map<Extension, Quantity[]>>();
    const stored = new Set<Tensor>([...(options.gradient === undefined ? [] : [options.gradient])]);
    // Replaced gradients may still be read by this very pass (a gradient penalty differentiates them): freed after it.
    const replaced = new Map<Tensor, Tensor>();
    // A gradient stored twice, or the caller's own seed, gets a handle of its own.
    const own = (gradient: Tensor) => {
      const result = stored.has(gradient) ? gradient.detach() : gradient;
      stored.add(result);
      return result;
    };
    backpropagate(graph, [options.gradient], createGraph, {
      beforeNode: (node, gradOutput) => {
        if (node.kind === 'op') {
          for (const pass of passes.values()) pass.visitOp?.(node, gradOutput);
          return;
        }
        for (const [extension, pass] of passes) collect(node, extension, pass.visit(node, gradOutput), contributions);
      },
      gradient: (tensor, gradient, parameter) => {
        if (parameter === undefined) {
          tensor.grad = accumulate(tensor, tensor.grad, own(gradient), replaced);
          return;
        }
        parameter.grad = accumulate(tensor, parameter.grad, own(gradient), replaced);
        storeQuantities(parameter, contributions.get(parameter), passes, graph);
        contributions.delete(parameter);
      },
      afterNode: (node) => {
        if (node.kind === 'module') hook?.(node.module, node);
      },
    });
    // Under createGraph the new sums' graphs refer to the replaced gradients: the enclosing scope frees them.
    for (const [previous, leaf] of replaced) {
      if (createGraph) disposeLater(previous);
      else previous.dispose(`by the backward pass that accumulated into the .grad of ${graph.describeLeaf(leaf)} (call clone() on a gradient to keep it)`);
    }
  };
  if (createGraph) run();
  else tidy(run);
}

/** A node's contributions for each of its differentiable parameters, stored once the parameter's gradient is complete. */
function collect(
  node: GraphNode,
  extension: Extension,
  results: ReadonlyMap<string, Quantity> | undefined,
  contributions: Map<Parameter, Map<Extension, Quantity[]>>,
): void {
  for (const [name, parameter] of node.module.ownTrainableParameters()) {
    const quantity = results?.get(name);
    if (quantity === undefined) continue;
    const byExtension = contributions.get(parameter) ?? new Map<Extension, Quantity[]>();
    byExtension.set(extension, [...(byExtension.get(extension) ?? []), quantity]);
    contributions.set(parameter, byExtension);
  }
}

/** `.grad` of `leaf` accumulates (as in PyTorch); the replaced one goes to `replaced` (with the leaf), to be freed after the pass. */
function accumulate(leaf: Tensor, previous: Tensor | undefined, gradient: Tensor, replaced: Map<Tensor, Tensor>): Tensor {
  if (previous === undefined) return keep(gradient);
  replaced.set(previous, leaf);
  return keep(add(previous, gradient));
}

/**
 * Extension fields are replaced, and the previous quantity disposed: the
 * parameter owns its quantities, and a later use of a replaced one fails
 * with an error saying which pass replaced it.
 */
function storeQuantities(
  parameter: Parameter,
  contributions: ReadonlyMap<Extension, Quantity[]> | undefined,
  passes: ReadonlyMap<Extension, ExtensionPass>,
  graph: RecordedGraph,
): void {
  for (const [extension, quantities] of contributions ?? []) {
    const pass = passes.get(extension)!;
    const quantity = pass.finalize?.(parameter, quantities) ?? quantities.reduce(addQuantities);
    const fields = parameter as unknown as Record<string, Quantity | undefined>;
    const previous = fields[extension.savefield];
    if (previous !== undefined) {
      const where = `'${extension.savefield}' (${extension.name}) of ${graph.describeLeaf(parameter.data)}`;
      disposeQuantity(previous, `by the backward pass that replaced ${where} (call clone() on a quantity to keep it across passes)`);
    }
    fields[extension.savefield] = keepQuantity(quantity);
  }
}

function keepQuantity(quantity: Quantity): Quantity {
  for (const t of tensorsOf(quantity)) keep(t);
  return quantity;
}

/** Disposes every tensor of a quantity, saying why (`reason` is repeated by any later use). */
function disposeQuantity(quantity: Quantity, reason: string): void {
  for (const t of tensorsOf(quantity)) t.dispose(reason);
}

/** `.grad` accumulates, so an existing one must be alive and fit the new gradient (the tensor's shape, dtype and backend). */
function checkGradSlots(graph: RecordedGraph): void {
  for (const [leaf, parameter] of graph.leaves) {
    const grad = parameter === undefined ? leaf.grad : parameter.grad;
    if (grad === undefined) continue;
    // Described only when refused: finding a parameter's name walks the graph.
    const what = () => `the .grad of ${graph.describeLeaf(leaf)}`;
    if (grad.isDisposed) {
      throw new Error(`backward(): ${what()} was disposed; set it to undefined (or call zeroGrad()) before the backward pass`);
    }
    if (!shapesEqual(grad.shape, leaf.shape) || grad.dtype !== leaf.dtype || grad.backend !== leaf.backend) {
      throw new Error(
        `backward(): ${what()} is ${grad.dtype} ${formatShape(grad.shape)} on '${grad.backend.name}', but the gradient ` +
          `to add is ${leaf.dtype} ${formatShape(leaf.shape)} on '${leaf.backend.name}'; call zeroGrad() before the backward pass`,
      );
    }
  }
}

function checkExtensions(extensions: readonly Extension[], graph: RecordedGraph): void {
  if (extensions.length === 0) return;
  const fields = new Map<string, Extension>();
  for (const extension of extensions) {
    const other = fields.get(extension.savefield);
    if (other !== undefined) {
      throw new Error(
        `backpack(): two extensions save to '${extension.savefield}' (${other.name} and ${extension.name}); ` +
          'pass each extension once, or give one another savefield where it has that option',
      );
    }
    fields.set(extension.savefield, extension);
  }
  // Every extension's quantities are per sample or built from the modules' derivatives.
  const problem = graph.perSampleProblems()[0];
  if (problem !== undefined) {
    throw new Error(`${extensions[0]!.name} cannot run: ${problem}; its quantities are undefined there (.grad alone works)`);
  }
  for (const extension of extensions) {
    for (const node of graph.steps) {
      if (node.kind === 'module') extension.check(node, graph);
      else extension.checkOp?.(node, graph);
    }
  }
}

installBackwardRunner(runBackward);
