import { zerosLike } from '../ops/create.js';
import { formatShape } from '../tensor/shape.js';
import { tidy } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';
import { backpropagate } from './backpropagate.js';
import { checkNotFreed, checkRecording, checkSeeds, free } from './graph-checks.js';
import { RecordedGraph } from './recorded-graph.js';

/** Options of {@link grad}, as `torch.autograd.grad`'s. */
export interface GradOptions {
  /** The gradients w.r.t. the outputs, one per output (`undefined`: 1, for a one-element output). */
  readonly gradOutputs?: Tensor | readonly (Tensor | undefined)[];
  /** Keep the graph for another backward pass through it (default: the value of `createGraph`). */
  readonly retainGraph?: boolean;
  /**
   * Record the computation of the gradients, so that they can be
   * differentiated again (Hessian-vector products). The tensors it creates
   * then belong to the enclosing `tidy` scope.
   */
  readonly createGraph?: boolean;
  /** Give `undefined` for an input the outputs do not depend on, rather than an error. */
  readonly allowUnused?: boolean;
}

/**
 * The gradients of `outputs` (summed, each weighted by its `gradOutputs`)
 * w.r.t. `inputs`, as `torch.autograd.grad`: returned in the order of
 * `inputs`, without touching any `.grad` and without running extensions.
 * The inputs must require gradients (leaves or not); an input the outputs do
 * not depend on is an error unless `allowUnused`.
 *
 * ```ts
 * const [g] = grad(loss, [w], { createGraph: true });   // g depends on w
 * const [hv] = grad(sum(mul(g, v)), [w]);              // Hessian-vector product
 * ```
 */
export function grad(outputs: Tensor | readonly Tensor[], inputs: Tensor | readonly Tensor[], options: GradOptions = {}): (Tensor | undefined)[] {
  const roots = Array.isArray(outputs) ? outputs : [outputs as Tensor];
  const targets = Array.isArray(inputs) ? inputs : [inputs as Tensor];
  const createGraph = options.createGraph ?? false;
  targets.forEach((input, i) => {
    if (!input.requiresGrad) {
      throw new Error(`grad(): input ${i} (shape ${formatShape(input.shape)}) does not require gradients; call requiresGrad_() on it before computing the outputs`);
    }
  });
  const graph = new RecordedGraph(roots, { caller: 'grad()', targets });
  const given = options.gradOutputs;
  const seeds = given === undefined ? roots.map(() => undefined) : Array.isArray(given) ? given : [given as Tensor];
  checkSeeds(roots, seeds, 'grad()', 'gradOutputs');
  const unused = targets.findIndex((input) => !graph.reaches(input));
  if (unused >= 0 && options.allowUnused !== true) {
    throw new Error(
      `grad(): input ${unused} (shape ${formatShape(targets[unused]!.shape)}) was not used to compute the outputs; ` +
        'pass allowUnused: true to get undefined for it',
    );
  }
  checkNotFreed(graph, 'grad()');
  checkRecording(graph, 'grad()');
  if (!(options.retainGraph ?? createGraph)) free(graph);

  const run = () => {
    const results = new Map<Tensor, Tensor>();
    // A gradient that is a given seed (an input that is an output) is returned as a handle of its own.
    const own = (gradient: Tensor) => (seeds.includes(gradient) ? gradient.detach() : gradient);
    backpropagate(graph, seeds, createGraph, { gradient: (tensor, gradient) => results.set(tensor, own(gradient)) });
    // A used input whose every path carried no gradient (integer indices, say) has gradient zero.
    return targets.map((input) => (graph.reaches(input) ? (results.get(input) ?? zerosLike(input)) : undefined));
  };
  // Without createGraph nothing outside the results refers to what the pass created: free it.
  return createGraph ? run() : tidy(run);
}
