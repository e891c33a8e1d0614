import type { Backend, FloatDType } from '../backend/backend.js';
import type { GraphNode } from './leaf-module.js';
import { einsum } from '../ops/einsum.js';
import { reshape } from '../ops/layout.js';
import { matmul } from '../ops/matmul.js';
import { oneHot } from '../ops/nn.js';
import { defaultGenerator } from '../ops/default-generator.js';
import type { Generator } from '../ops/random.js';
import { formatShape, sizeOf } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { expectInputCount } from './input-checks.js';
import { LeafModule, type ModuleTraits, type ParameterJacobianOptions } from './leaf-module.js';
import type { Parameter } from './parameter.js';

/** Options of {@link Embedding}. */
export interface EmbeddingOptions {
  /** Backend of the parameters (default: the default backend). */
  readonly backend?: Backend;
  /** Dtype of the parameters (default float64 where the backend has it, else float32). */
  readonly dtype?: FloatDType;
  /** Generator for the initial values (default: the default generator). */
  readonly generator?: Generator;
}

/**
 * A lookup table (as `nn.Embedding`): int32 indices of any shape `[N, ...]`
 * in `[0, numEmbeddings)` give `[N, ..., embeddingDim]`, row `index` of
 * `weight` `[numEmbeddings, embeddingDim]` (initialised standard normal, as
 * PyTorch).
 *
 * The lookup is computed as `oneHot(indices) · weight`, so every backend runs
 * it with its matmul and the weight's derivatives are einsums with the saved
 * one-hot. Memory: the one-hot matrix has `numEmbeddings` entries per index
 * position (`N × positions × numEmbeddings`) and is kept on the graph node.
 * Indices are not differentiable: gradients stop here.
 *
 * `forward` reads the indices back once to check them: one outside
 * `[0, numEmbeddings)` (negative included) is an error naming the module, the
 * index, its position and the range, where the one-hot lookup would silently
 * give a zero row. Index tensors are small, so the read-back costs little.
 */
export class Embedding extends LeafModule {
  readonly typeName = 'Embedding';
  override readonly traits: ModuleTraits = { perSampleParameterJacobian: true, affineInParameters: true };
  /** The table `[numEmbeddings, embeddingDim]`. */
  readonly weight: Parameter;

  constructor(
    /** Number of rows: indices are in `[0, numEmbeddings)`. */
    readonly numEmbeddings: number,
    /** Length of each row. */
    readonly embeddingDim: number,
    options: EmbeddingOptions = {},
  ) {
    super();
    for (const [name, value] of [['numEmbeddings', numEmbeddings], ['embeddingDim', embeddingDim]] as const) {
      if (!Number.isInteger(value) || value < 1) throw new RangeError(`Embedding: ${name} must be an integer >= 1, got ${value}`);
    }
    const generator = options.generator ?? defaultGenerator;
    this.weight = this.registerParameter(
      'weight',
      generator.normal([numEmbeddings, embeddingDim], { backend: options.backend, dtype: options.dtype }),
    );
  }

  protected checkInputs(inputs: readonly Tensor[]): void {
    expectInputCount(this, inputs, 1);
    const indices = inputs[0]!;
    indices.assertAlive(this.describe());
    if (indices.dtype !== 'int32') {
      throw new TypeError(
        `${this.describe()}: expects int32 indices, got ${indices.dtype} of shape ${formatShape(indices.shape)} (create them with { dtype: 'int32' })`,
      );
    }
    if (indices.rank < 1) {
      throw new RangeError(`${this.describe()}: expects indices [N, ...] (batch first), got shape ${formatShape(indices.shape)}`);
    }
    // Indices are user input, read once here: one out of range would silently give a zero row.
    const values = indices.toArray();
    const bad = values.findIndex((i) => i < 0 || i >= this.numEmbeddings);
    if (bad >= 0) {
      const position = indices.shape.map((_, d) => Math.floor(bad / sizeOf(indices.shape.slice(d + 1))) % indices.shape[d]!);
      throw new RangeError(
        `${this.describe()}: index ${values[bad]} at position [${position.join(', ')}] is out of range [0, ${this.numEmbeddings}) (numEmbeddings ${this.numEmbeddings})`,
      );
    }
  }

  protected compute(inputs: readonly Tensor[], saved: Record<string, Tensor>): Tensor {
    const weight = this.weight.data;
    saved['oneHot'] = oneHot(inputs[0]!, this.numEmbeddings, weight.dtype as FloatDType);
    return matmul(saved['oneHot'], weight);
  }

  /** Indices are not differentiable. */
  override differentiableInputs(_node: GraphNode): number[] {
    return [];
  }

  jacTMatProd(_node: GraphNode, _mat: Tensor, _inputIndex = 0): Tensor {
    throw new Error(`${this.describe()}: its input holds indices, which are not differentiable`);
  }

  override jacMatProd(node: GraphNode, mat: Tensor, inputIndex = 0): Tensor {
    return this.jacTMatProd(node, mat, inputIndex);
  }

  /** `[V, num, dim] -> [V, N, ..., dim]`: the rows the indices select. */
  override paramJacMatProd(node: GraphNode, name: string, mat: Tensor): Tensor {
    if (name !== 'weight') return super.paramJacMatProd(node, name, mat);
    const n = node.batchSize;
    const selected = reshape(node.saved['oneHot']!, [n, -1, this.numEmbeddings]);
    return reshape(einsum('npe,ved->vnpd', selected, mat), [mat.shape[0]!, ...node.output.shape]);
  }

  override paramJacTMatProd(node: GraphNode, name: string, mat: Tensor, options: ParameterJacobianOptions): Tensor {
    if (name !== 'weight') return super.paramJacTMatProd(node, name, mat, options);
    // mat [V, N, ..., dim] and the one-hot [N, ..., num], positions flattened.
    const [v, n] = [mat.shape[0]!, mat.shape[1]!];
    const selected = reshape(node.saved['oneHot']!, [n, -1, this.numEmbeddings]);
    const flat = reshape(mat, [v, n, selected.shape[1]!, this.embeddingDim]);
    return options.sumBatch ? einsum('vnpd,npe->ved', flat, selected) : einsum('vnpd,npe->vned', flat, selected);
  }
}
