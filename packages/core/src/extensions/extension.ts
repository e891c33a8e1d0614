import type { GraphNode } from '../modules/leaf-module.js';
import type { RecordedGraph } from '../graph/recorded-graph.js';
import type { LeafModule } from '../modules/leaf-module.js';
import type { Parameter } from '../modules/parameter.js';
import type { OpNode } from '../tensor/autograd.js';
import type { Tensor } from '../tensor/tensor.js';

/**
 * A quantity that is a function (HMP's `param.hmp`): it multiplies a batch
 * of matrices by a block of a curvature, reading `tensors`, which the
 * engine keeps alive while it is stored and disposes when a later pass
 * replaces it, as it does tensor quantities.
 */
export interface ProductQuantity {
  /** The product with `mat`. */
  (mat: Tensor): Tensor;
  /** The tensors the function reads that the backward pass created (the forward pass's own belong to the caller). */
  readonly tensors: readonly Tensor[];
}

/** What an extension stores on a parameter: a tensor, a list (Kronecker factors), or a product function. */
export type Quantity = Tensor | readonly Tensor[] | ProductQuantity;

/**
 * An extension computes a quantity for every parameter during a backward pass
 * and stores it on the parameter under `savefield` (e.g. `gradBatch`).
 *
 * The engine first calls `check` on every module call of the pass (and
 * `checkOp` on every op call), so that an unsupported module or op is
 * reported before anything is modified; then `begin`, and `visit` on each
 * module call (`visitOp` on each op call) from the loss back to the inputs.
 */
export interface Extension {
  /** Name as in BackPACK, e.g. `"BatchGrad"`. */
  readonly name: string;
  /** The parameter field the result is stored under, e.g. `"gradBatch"`. */
  readonly savefield: string;
  /** Throws a clear error naming the extension and the module if this node is not supported. */
  check(node: GraphNode, graph: RecordedGraph): void;
  /**
   * Throws a clear error naming the extension and the op if the extension
   * cannot pass this op call (between modules). Absent: every op is fine
   * (first-order extensions need only the modules' gradients).
   */
  checkOp?(node: OpNode, graph: RecordedGraph): void;
  /** Starts a pass over a checked graph. */
  begin(graph: RecordedGraph): ExtensionPass;
}

/** The per-backward-pass state of an extension. */
export interface ExtensionPass {
  /**
   * Called once per node, in backward order, with the gradient of the loss
   * w.r.t. the node's output. Returns this node's contribution for each of the
   * module's own parameters, by local name (`"weight"`).
   */
  visit(node: GraphNode, gradOutput: Tensor): ReadonlyMap<string, Quantity> | undefined;
  /** Called once per op call between modules, in backward order, with the gradient w.r.t. its output (second-order extensions pass their quantity on here). */
  visitOp?(node: OpNode, gradOutput: Tensor): void;
  /**
   * Combines the contributions of every node that used `parameter` (several
   * when weights are shared) into the stored quantity. Default: their sum.
   */
  finalize?(parameter: Parameter, contributions: readonly Quantity[]): Quantity;
}

/** Runs after the extensions of each module (as BackPACK's `extension_hook`), e.g. to consume quantities early. */
export type ExtensionHook = (module: LeafModule, node: GraphNode) => void;
