import type { Extension, ExtensionHook, ExtensionPass, Quantity } from './extension.js';
import type { Parameter } from '../modules/parameter.js';
import { add } from '../ops/elementwise.js';
import { fullLike } from '../ops/create.js';
import { reshape } from '../ops/layout.js';
import { keep, tidy } from '../tensor/scope.js';
import { formatShape, shapesEqual } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { installBackwardRunner, type BackwardOptions } from '../tensor/tensor.js';
import type { GraphNode } from '../modules/leaf-module.js';
import { RecordedGraph } from '../graph/recorded-graph.js';
import { activeBackpackOptions } from './backpack.js';

// The options of Tensor.backward, declared here because the tensor layer names no extension type.
declare module '../tensor/tensor.js' {
  interface BackwardOptions {
    /** Extensions to run during this backward pass (see `backpack`). */
    readonly extensions?: readonly Extension[];
    /** Called after the extensions of each module ran (BackPACK's `extension_hook`). */
    readonly extensionHook?: ExtensionHook;
  }
}

/** `mat` with a leading vector dimension of 1 (`[N, ...] -> [1, N, ...]`), the form derivatives take. */
function asMatrix(gradient: Tensor): Tensor {
  return reshape(gradient, [1, ...gradient.shape]);
}

/** Drops the leading vector dimension of 1 again. */
function fromMatrix(mat: Tensor): Tensor {
  return reshape(mat, mat.shape.slice(1));
}

function addQuantities(a: Quantity, b: Quantity): Quantity {
  if (Array.isArray(a) && Array.isArray(b)) return a.map((t: Tensor, i: number) => add(t, b[i]!));
  return add(a as Tensor, b as Tensor);
}

/** Contributions of one parameter, collected until its last use in the pass. */
interface PendingParameter {
  remainingUses: number;
  gradients: Tensor[];
  contributions: Map<Extension, Quantity[]>;
}

/**
 * Walks the recorded graph from the loss back to the inputs: accumulates the
 * gradient of every tensor (summing where a tensor feeds several modules),
 * fills `.grad` of every parameter and runs the extensions.
 *
 * Everything that can be refused (no graph, a second backward, a model
 * changed since the forward pass, a `.grad` the result cannot be added to, an
 * extension without a rule for a module) is checked before anything is
 * modified.
 */
export function runBackward(loss: Tensor, options: BackwardOptions): void {
  const active = activeBackpackOptions();
  const extensions = options.extensions ?? active?.extensions ?? [];
  const hook = options.extensionHook ?? active?.extensionHook;
  const graph = new RecordedGraph(loss);
  for (const node of graph.nodes) {
    checkRecording(node);
    checkGradSlots(node);
  }
  checkExtensions(extensions, graph);

  for (const node of graph.nodes) node.consumed = true;
  tidy(() => {
    const passes = new Map<Extension, ExtensionPass>(extensions.map((e) => [e, e.begin(graph)]));
    const gradients = new Map<Tensor, Tensor>([[loss, fullLike(loss, 1)]]);
    const pending = new Map<Parameter, PendingParameter>();
    for (const node of graph.nodes) {
      const gradOutput = gradients.get(node.output)!;
      gradients.delete(node.output);
      propagateToInputs(node, gradOutput, gradients, graph);
      collectParameterResults(node, gradOutput, passes, graph, pending);
      hook?.(node.module, node);
    }
  });
}

/**
 * Refuses a node whose recording no longer matches the model: a parameter
 * replaced since the forward pass (its derivatives would mix old and new
 * values, as PyTorch refuses tensors modified in place), or a tensor the walk
 * reads disposed.
 */
function checkRecording(node: GraphNode): void {
  const where = node.module.describe();
  for (const [name, recorded] of node.parameterVersions) {
    const parameter = node.module.parameter(name);
    if (parameter.version !== recorded) {
      throw new Error(
        `backward(): parameter '${name}' of ${where} was replaced after the forward pass ` +
          `(version ${recorded} when recorded, ${parameter.version} now); run the forward pass again after changing the model`,
      );
    }
    checkAlive(parameter.data, `parameter '${name}'`, where);
  }
  for (const i of node.module.differentiableInputs(node)) checkAlive(node.inputs[i]!, `input ${i}`, where);
  checkAlive(node.output, 'output', where);
  for (const [key, tensor] of Object.entries(node.saved)) checkAlive(tensor, `saved tensor '${key}'`, where);
}

function checkAlive(tensor: Tensor, what: string, where: string): void {
  if (tensor.isDisposed) {
    throw new Error(
      `backward(): the ${what} of ${where} (shape ${formatShape(tensor.shape)}) was disposed after the forward pass; ` +
        'keep the tensors of a forward pass until its backward() has run (one tidy around both)',
    );
  }
}

/** `.grad` accumulates, so an existing one must be alive and fit the new gradient (the parameter's shape, dtype and backend). */
function checkGradSlots(node: GraphNode): void {
  for (const [name, { grad, data }] of node.module.ownTrainableParameters()) {
    if (grad === undefined) continue;
    const what = `the .grad of parameter '${name}' of ${node.module.describe()}`;
    if (grad.isDisposed) {
      throw new Error(`backward(): ${what} was disposed; set it to undefined (or call zeroGrad()) before the backward pass`);
    }
    if (!shapesEqual(grad.shape, data.shape) || grad.dtype !== data.dtype || grad.backend !== data.backend) {
      throw new Error(
        `backward(): ${what} is ${grad.dtype} ${formatShape(grad.shape)} on '${grad.backend.name}', but the gradient ` +
          `to add is ${data.dtype} ${formatShape(data.shape)} on '${data.backend.name}'; call zeroGrad() before the backward pass`,
      );
    }
  }
}

function checkExtensions(extensions: readonly Extension[], graph: RecordedGraph): void {
  const fields = new Set<string>();
  for (const extension of extensions) {
    if (fields.has(extension.savefield)) {
      throw new Error(`backpack(): two extensions save to '${extension.savefield}'; pass each extension once`);
    }
    fields.add(extension.savefield);
    for (const node of graph.nodes) extension.check(node, graph);
  }
}

function propagateToInputs(node: GraphNode, gradOutput: Tensor, gradients: Map<Tensor, Tensor>, graph: RecordedGraph): void {
  for (const i of node.module.differentiableInputs(node)) {
    const input = node.inputs[i]!;
    if (!graph.needsGradient(input)) continue; // data, or only parameter-free modules upstream
    const contribution = fromMatrix(node.module.jacTMatProd(node, asMatrix(gradOutput), i));
    const previous = gradients.get(input);
    gradients.set(input, previous === undefined ? contribution : add(previous, contribution));
  }
}

function collectParameterResults(
  node: GraphNode,
  gradOutput: Tensor,
  passes: ReadonlyMap<Extension, ExtensionPass>,
  graph: RecordedGraph,
  pending: Map<Parameter, PendingParameter>,
): void {
  const results = new Map<Extension, ReadonlyMap<string, Quantity> | undefined>();
  for (const [extension, pass] of passes) results.set(extension, pass.visit(node, gradOutput));

  // Frozen parameters (requiresGrad false) get nothing: no .grad, no extension quantity.
  for (const [name, parameter] of node.module.ownTrainableParameters()) {
    let entry = pending.get(parameter);
    if (entry === undefined) {
      entry = { remainingUses: graph.parameterUses.get(parameter)!, gradients: [], contributions: new Map() };
      pending.set(parameter, entry);
    }
    entry.gradients.push(fromMatrix(node.module.paramJacTMatProd(node, name, asMatrix(gradOutput), { sumBatch: true })));
    for (const [extension, result] of results) {
      const quantity = result?.get(name);
      if (quantity === undefined) continue;
      const list = entry.contributions.get(extension) ?? [];
      list.push(quantity);
      entry.contributions.set(extension, list);
    }
    entry.remainingUses -= 1;
    if (entry.remainingUses === 0) {
      commitParameter(parameter, entry, passes);
      pending.delete(parameter);
    }
  }
}

/** Stores the finished results on the parameter: `.grad` accumulates (as in PyTorch), extension fields are replaced. */
function commitParameter(
  parameter: Parameter,
  entry: PendingParameter,
  passes: ReadonlyMap<Extension, ExtensionPass>,
): void {
  const gradient = entry.gradients.reduce((total, g) => add(total, g));
  const previousGrad = parameter.grad;
  parameter.grad = keep(previousGrad === undefined ? gradient : add(previousGrad, gradient));
  if (previousGrad !== undefined && previousGrad !== parameter.grad) previousGrad.dispose();

  for (const [extension, contributions] of entry.contributions) {
    const pass = passes.get(extension)!;
    const quantity = pass.finalize?.(parameter, contributions) ?? contributions.reduce(addQuantities);
    const fields = parameter as unknown as Record<string, Quantity | undefined>;
    disposeQuantity(fields[extension.savefield]);
    fields[extension.savefield] = keepQuantity(quantity);
  }
}

function keepQuantity(quantity: Quantity): Quantity {
  if (Array.isArray(quantity)) return quantity.map((t: Tensor) => keep(t));
  return keep(quantity as Tensor);
}

function disposeQuantity(quantity: Quantity | undefined): void {
  if (quantity === undefined) return;
  for (const t of Array.isArray(quantity) ? quantity : [quantity as Tensor]) t.dispose();
}

installBackwardRunner(runBackward);
