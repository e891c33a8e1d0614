import {
  BackpropExtension,
  Linear,
  RuleRegistry,
  reshape,
  type BackpropRule,
  type ExtensionPass,
  type GraphNode,
  type LeafModule,
  type Parameter,
  type Quantity,
  type RecordedGraph,
  type Tensor,
} from '@backpack-ts/core';
import { linearInputFactor } from './factors.js';

/**
 * A parameter is used by several modules in one forward pass (weight sharing).
 *
 * The curvature block of a shared parameter is the sum of one Kronecker
 * product per use, which is not a Kronecker product itself, so the Kronecker
 * extensions refuse it instead of returning something else under the same name.
 */
export class WeightSharingError extends Error {
  override readonly name = 'WeightSharingError';
  constructor(
    readonly extensionName: string,
    /** The parameter's dotted name, e.g. `"1.weight"`. */
    readonly parameterName: string,
    /** The modules that use it, as `describe()` prints them. */
    readonly users: readonly string[],
  ) {
    super(
      `${extensionName}: parameter '${parameterName}' is used ${users.length} times in this forward pass ` +
        `(by ${summarize(users)}): with weight sharing its curvature block is a sum of ${users.length} Kronecker products, ` +
        `which is not a Kronecker product, so ${extensionName} cannot represent it. ` +
        'Use a separate module (and parameter) per use, or a non-Kronecker extension such as DiagGGNExact.',
    );
  }
}

/** `Linear '1' (2 times), Linear '3'`. */
function summarize(users: readonly string[]): string {
  const counts = new Map<string, number>();
  for (const user of users) counts.set(user, (counts.get(user) ?? 0) + 1);
  return [...counts].map(([user, count]) => (count === 1 ? user : `${user} (${count} times)`)).join(', ');
}

function dottedName(module: LeafModule, localName: string): string {
  return module.path === '' ? localName : `${module.path}.${localName}`;
}

/**
 * Base of KFAC, KFLR and KFRA: Hessian backpropagation ("HBP") of a quantity
 * `Q` from the loss to every layer, from which each layer reads its Kronecker
 * factors.
 *
 * Subclasses fix the strategy: what starts at the loss (`atLoss`), how `Q`
 * passes through a module (`backpropagateThrough`), and how a Linear-like
 * layer turns `Q` at its output into its output-side factor (`outputFactor`).
 * The rules are then shared:
 *
 * - `Linear`, registered in `rules`: weight `[G, A]`, bias `[G]` with
 *   `G = outputFactor(...)` (`[out, out]`) and `A` the input's second moment
 *   (`[in, in]`, see {@link linearInputFactor}).
 * - Every module without parameters (activations, Flatten, Identity, Dropout,
 *   Add, third-party ones): `backpropagateThrough` only.
 * - A module with parameters and no registered rule: `UnsupportedModuleError`.
 *
 * Rules are per instance: `extension.rules.register(MyModule, rule)` adds one
 * for a third-party module (its `backpropagate` usually calls
 * `extension.backpropagateThrough`).
 */
export abstract class KroneckerExtension<Q> extends BackpropExtension<Q> {
  readonly rules: RuleRegistry<BackpropRule<Q>>;
  private readonly parameterFreeRule: BackpropRule<Q>;

  protected constructor(
    readonly name: string,
    readonly savefield: string,
  ) {
    super();
    this.parameterFreeRule = {
      backpropagate: (node, backproped, gradOutput, inputIndex) =>
        this.backpropagateThrough(node, backproped, gradOutput, inputIndex),
    };
    this.rules = new RuleRegistry<BackpropRule<Q>>(name).register(Linear, linearRule(this));
  }

  /**
   * The quantity at input `inputIndex` of `node`'s module from the quantity at
   * its output; `gradOutput` is the gradient of the loss w.r.t. that output.
   */
  abstract backpropagateThrough(node: GraphNode, backproped: Q, gradOutput: Tensor, inputIndex: number): Q;

  /**
   * The output-side Kronecker factor `[out, out]` of a Linear-like layer whose
   * output `[N, ..., out]` has the features in its last dimension, from the
   * quantity at that output.
   */
  abstract outputFactor(node: GraphNode, backproped: Q): Tensor;

  /** Parameter-free modules get the generic rule: the quantity passes through, nothing is stored. */
  protected override fallbackRule(module: LeafModule): BackpropRule<Q> | undefined {
    return module.ownNamedParameters().length === 0 ? this.parameterFreeRule : undefined;
  }

  /** Besides a rule for every module, refuses shared parameters (before anything is computed). */
  override check(node: GraphNode, graph: RecordedGraph): void {
    super.check(node, graph);
    for (const [name, parameter] of node.module.ownNamedParameters()) {
      if ((graph.parameterUses.get(parameter) ?? 0) > 1) {
        const users = graph.nodes
          .filter((other) => other.module.ownNamedParameters().some(([, p]) => p === parameter))
          .map((other) => other.module.describe())
          .reverse(); // forward order
        throw new WeightSharingError(this.name, dottedName(node.module, name), users);
      }
    }
  }

  override begin(graph: RecordedGraph): ExtensionPass {
    const pass = super.begin(graph);
    return {
      visit: (node, gradOutput) => pass.visit(node, gradOutput),
      // `check` refused shared parameters, so each parameter has exactly one contribution;
      // never let the engine's default sum add Kronecker factors elementwise.
      finalize: (_parameter: Parameter, contributions: readonly Quantity[]): Quantity => {
        if (contributions.length !== 1) {
          throw new Error(`${this.name}: a parameter received ${contributions.length} sets of Kronecker factors (weight sharing is not supported)`);
        }
        return contributions[0]!;
      },
    };
  }
}

/**
 * The rule for `Linear` (input `[N, ..., in]`): weight `[G, A]`, bias `[G]`,
 * where `G = extension.outputFactor(node, Q)` and `A = linearInputFactor(node)`,
 * and the quantity passes on through `extension.backpropagateThrough`.
 */
export function linearRule<Q>(extension: KroneckerExtension<Q>): BackpropRule<Q> {
  return {
    parameters: (node, backproped) => {
      const g = extension.outputFactor(node, backproped);
      const factors = new Map<string, Quantity>([['weight', [g, linearInputFactor(node)]]]);
      // Its own tensor (a fresh handle on the same values), so either parameter's field can be disposed alone.
      if ((node.module as Linear).bias !== undefined) factors.set('bias', [reshape(g, g.shape)]);
      return factors;
    },
    backpropagate: (node, backproped, gradOutput, inputIndex) =>
      extension.backpropagateThrough(node, backproped, gradOutput, inputIndex),
  };
}
