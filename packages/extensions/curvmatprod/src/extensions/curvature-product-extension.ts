import {
  BackpropExtension,
  describeNode,
  type BackpropContext,
  type BackpropRule,
  type GraphNode,
  type LeafModule,
  type LossModule,
  type RecordedGraph,
  type Tensor,
} from '@backpack-ts/core';
import {
  inputCurvatureProduct,
  lossHessianProduct,
  parameterCurvatureProduct,
  type CurvatureProduct,
  type ResidualTerms,
} from './curvature-product.js';

/** A rule of the curvature-product extensions: maps the product at a module's output to its input's and its parameters' blocks. */
export type CurvatureProductRule = BackpropRule<CurvatureProduct, CurvatureProductExtension>;

/**
 * The rule every module gets unless one is set with `setModuleRule`: it
 * needs only the module's Jacobian products (`jacMatProd`, `jacTMatProd`
 * and their parameter forms) and its residual terms, which every module has.
 */
export const curvatureProductRule: CurvatureProductRule = {
  backpropagate: (node, atOutput, inputIndex, { extension, gradOutput }) =>
    inputCurvatureProduct(node, atOutput, inputIndex, gradOutput, extension.residual),
  parameters: (node, atOutput, { extension, gradOutput }) =>
    new Map(
      node.module
        .ownTrainableParameters()
        .map(([name]) => [name, parameterCurvatureProduct(extension.name, node, name, atOutput, gradOutput, extension.residual)]),
    ),
};

/**
 * The mechanism of `HMP`, `GGNMP` and `PCHMP` (BackPACK's
 * curvmatprod): the loss's Hessian product is backpropagated as a function
 * through the modules, and each parameter gets the function that multiplies
 * its block of the curvature by a batch of matrices `[V, ...param]`.
 *
 * The backpropagated function is exact for sequences of modules: a tensor
 * that feeds more than one node (branching), a parameter shared by several
 * calls, and ops between modules are refused before the pass, naming the
 * module, as BackPACK supports sequences only.
 */
export abstract class CurvatureProductExtension extends BackpropExtension<CurvatureProduct, CurvatureProductExtension, CurvatureProductRule> {
  /** How the modules' residual terms enter the curvature. */
  readonly residual: ResidualTerms;
  /** The parameter field the products are stored under (the option `savefield`). */
  readonly savefield: string;
  /** How many nodes consume each tensor, per graph (computed once per pass). */
  private readonly consumers = new WeakMap<RecordedGraph, Map<Tensor, number>>();

  protected constructor(residual: ResidualTerms, savefield: string) {
    super([]);
    this.residual = residual;
    this.savefield = savefield;
  }

  protected atLoss(node: GraphNode, loss: LossModule): CurvatureProduct {
    return lossHessianProduct(node, loss);
  }

  /** Never reached: {@link check} refuses a tensor with several consumers. */
  protected accumulate(): CurvatureProduct {
    throw new Error(`${this.name}: a tensor with several consumers reached the pass`);
  }

  protected override fallbackRule(_module: LeafModule): CurvatureProductRule {
    return curvatureProductRule;
  }

  /** Also refuses branching, shared parameters, and (PCHMP) residuals it cannot take eigenvalues of. */
  override check(node: GraphNode, graph: RecordedGraph): void {
    super.check(node, graph);
    const uses = this.consumerCounts(graph).get(node.output) ?? 0;
    if (uses > 1) {
      throw new Error(
        `${this.name} cannot run: the output of ${describeNode(node)} feeds ${uses} nodes (the graph branches); ` +
          'the backpropagated curvature products are exact for sequences of modules only, as in BackPACK',
      );
    }
    for (const [name, parameter] of node.module.ownTrainableParameters()) {
      const count = graph.parameterUses.get(parameter) ?? 0;
      if (count > 1) {
        throw new Error(
          `${this.name} cannot run: parameter '${name}' of ${describeNode(node)} is used by ${count} module calls; ` +
            'the block of a shared parameter couples its uses, which the backpropagated products do not see',
        );
      }
    }
  }

  private consumerCounts(graph: RecordedGraph): Map<Tensor, number> {
    let counts = this.consumers.get(graph);
    if (counts === undefined) {
      counts = new Map();
      for (const step of graph.steps) for (const edge of graph.edgesOf(step)) counts.set(edge.tensor, (counts.get(edge.tensor) ?? 0) + 1);
      this.consumers.set(graph, counts);
    }
    return counts;
  }
}

/** The context a rule gets, re-exported for rules written outside this package. */
export type CurvatureProductContext = BackpropContext<CurvatureProductExtension>;
