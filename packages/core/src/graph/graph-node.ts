import type { LeafModule } from '../modules/leaf-module.js';
import type { Tensor } from '../tensor/tensor.js';

let nextNodeId = 0;

/**
 * One recorded application of a leaf module: what went in, what came out, and
 * whatever the module saved for its derivatives (e.g. a dropout mask).
 * Tensors point back at the node that produced them (`tensor.producer`), which
 * makes the recorded graph a DAG that the backward engine walks.
 */
export class GraphNode {
  /** Creation order; later nodes were recorded later. */
  readonly id = nextNodeId++;
  /** Set once a backward pass has used this node. */
  consumed = false;
  /**
   * The version of each of the module's own parameters (by local name) when
   * the call was recorded: the derivatives read the parameters' current
   * values, so `backward()` refuses if one was replaced since.
   */
  readonly parameterVersions: ReadonlyMap<string, number>;

  constructor(
    readonly module: LeafModule,
    readonly inputs: readonly Tensor[],
    readonly output: Tensor,
    readonly saved: Readonly<Record<string, Tensor>>,
  ) {
    this.parameterVersions = new Map(module.ownNamedParameters().map(([name, parameter]) => [name, parameter.version]));
  }

  /** The first input (the module's main input), `[N, ...]`. */
  get input(): Tensor {
    return this.inputs[0]!;
  }

  /** Batch size: the leading dimension of the first input. */
  get batchSize(): number {
    return this.input.shape[0] ?? 1;
  }
}
