import { zeros } from '../ops/create.js';
import { reshape } from '../ops/layout.js';
import { rejectUnknownOptions } from '../ops/options.js';
import { enableGrad, noGrad } from '../tensor/autograd.js';
import { pushTangents } from '../tensor/forward-mode.js';
import { tidy } from '../tensor/scope.js';
import { formatShape, shapesEqual } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { checkNotFreed, checkRecording } from './graph-checks.js';
import type { Node } from './recorded-graph.js';

/** Options of {@link jvp}. */
export interface JvpOptions {
  /**
   * Each tangent has an extra leading dimension V (the same for all): V
   * tangents pushed at once, and each result has that leading dimension too
   * (default false).
   */
  readonly batched?: boolean;
  /**
   * Record the computation of the products, so that they can be
   * differentiated again; the tensors it creates then belong to the
   * enclosing `tidy` scope (default false).
   */
  readonly createGraph?: boolean;
}

/**
 * Jacobian-vector products over the recorded graph (forward mode, the
 * R-op): the directional derivatives of `outputs` when `inputs` move along
 * `tangents`, one result per output in the order of `outputs`. It is the
 * forward counterpart of `grad()`: the graph recorded by the forward
 * pass is walked from `inputs` to `outputs`, producers first, through each
 * op's `jvp` rule and each module call's `jacMatProd` (for its inputs) and
 * `paramJacMatProd` (for its parameters whose data is among `inputs`).
 *
 * Inputs are parameters' data or any tensors of the graph that require
 * gradients; an output that does not depend on them gets zeros. The graph
 * is neither freed nor changed, so `backward()` or `grad()` may follow.
 *
 * ```ts
 * const y = model.forward(x);
 * const [dy] = jvp(y, [w.data], [v]);                        // J_w v, shaped like y
 * const [dys] = jvp(y, [w.data], [vs], { batched: true });   // vs [V, ...w], dys [V, ...y]
 * ```
 */
export function jvp(
  outputs: Tensor | readonly Tensor[],
  inputs: Tensor | readonly Tensor[],
  tangents: Tensor | readonly Tensor[],
  options: JvpOptions = {},
): Tensor[] {
  rejectUnknownOptions('jvp()', options, ['batched', 'createGraph']);
  const roots = Array.isArray(outputs) ? outputs : [outputs as Tensor];
  const sources = Array.isArray(inputs) ? inputs : [inputs as Tensor];
  const given = Array.isArray(tangents) ? tangents : [tangents as Tensor];
  const batched = options.batched ?? false;
  const lead = checkTangents(sources, given, batched);

  const run = () => {
    const seeds = new Map(sources.map((input, i) => [input, batched ? given[i]! : reshape(given[i]!, [1, ...given[i]!.shape])]));
    const check = (nodes: readonly unknown[]) => {
      const graph = { steps: nodes as readonly Node[] };
      checkNotFreed(graph, 'jvp()');
      checkRecording(graph, 'jvp()');
    };
    const results = pushTangents(roots, seeds, lead, { check });
    return roots.map((output, i) => {
      // An input that is an output: its tangent, as a tensor of its own.
      const result = results[i] ?? zeros([...lead, ...output.shape], { backend: output.backend, dtype: output.dtype });
      // A given tangent passed on unchanged (an input that is an output, an identity) is returned as a tensor of its own.
      if (!batched) return reshape(result, output.shape);
      return given.includes(result) ? reshape(result, result.shape) : result;
    });
  };
  const createGraph = options.createGraph ?? false;
  return (createGraph ? enableGrad : noGrad)(() => (createGraph ? run() : tidy(run)));
}

/** The common leading dimensions of the tangents (`[V]` batched, `[1]` otherwise), after checking each fits its input. */
function checkTangents(inputs: readonly Tensor[], tangents: readonly Tensor[], batched: boolean): number[] {
  if (tangents.length !== inputs.length) {
    throw new RangeError(`jvp(): ${tangents.length} tangents for ${inputs.length} inputs; give one per input`);
  }
  const v = batched ? tangents[0]?.shape[0] : 1;
  inputs.forEach((input, i) => {
    if (!input.requiresGrad) {
      throw new Error(
        `jvp(): input ${i} (shape ${formatShape(input.shape)}) does not require gradients, so no recorded op depends on it; ` +
          'call requiresGrad_() on it before computing the outputs',
      );
    }
    const tangent = tangents[i]!;
    tangent.assertAlive('jvp()');
    const expected = batched ? [v ?? 0, ...input.shape] : input.shape;
    if (!shapesEqual(tangent.shape, expected) || tangent.dtype !== input.dtype || tangent.backend !== input.backend) {
      throw new RangeError(
        `jvp(): tangent ${i} is ${tangent.dtype} ${formatShape(tangent.shape)} on '${tangent.backend.name}', but input ${i} is ` +
          `${input.dtype} ${formatShape(input.shape)} on '${input.backend.name}'` +
          (batched ? `; with batched: true each tangent is [V, ...input] with one V (here ${v})` : ''),
      );
    }
  });
  return [v ?? 1];
}
