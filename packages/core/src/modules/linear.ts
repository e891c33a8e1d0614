import type { GraphNode } from './leaf-module.js';
import type { Backend, FloatDType } from '../backend/backend.js';
import { add } from '../ops/elementwise.js';
import { einsum } from '../ops/einsum.js';
import { reshape } from '../ops/layout.js';
import { matmul } from '../ops/matmul.js';
import { sum } from '../ops/reduce.js';
import { broadcastTo } from '../ops/sum.js';
import { defaultGenerator } from '../ops/default-generator.js';
import type { Generator } from '../ops/random.js';
import { formatShape, sizeOf } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { LeafModule, type ModuleTraits, type ParameterJacobianOptions } from './leaf-module.js';
import { expectFloatInput, expectInputCount } from './input-checks.js';
import type { Parameter } from './parameter.js';

/** Options of {@link Linear}. */
export interface LinearOptions {
  /** Add a learnable bias (default true). */
  readonly bias?: boolean;
  /** Backend of the parameters (default: the default backend). */
  readonly backend?: Backend;
  /** Dtype of the parameters (default float64 where the backend has it, else float32). */
  readonly dtype?: FloatDType;
  /** Generator for the initial values (default: the default generator). */
  readonly generator?: Generator;
}

/**
 * `y = x Wᵀ + b` over the last dimension: input `[N, ..., in]`, output
 * `[N, ..., out]`, weight `[out, in]`, bias `[out]` (PyTorch layout).
 * Initialised uniformly in ±1/sqrt(in), as PyTorch does.
 */
export class Linear extends LeafModule {
  readonly typeName = 'Linear';
  override readonly traits: ModuleTraits = { perSampleParameterJacobian: true, affineInParameters: true };
  /** `[out, in]`. */
  readonly weight: Parameter;
  /** `[out]`, or `undefined` when created with `bias: false`. */
  readonly bias: Parameter | undefined;

  constructor(
    /** Size of the input's last dimension. */
    readonly inFeatures: number,
    /** Size of the output's last dimension. */
    readonly outFeatures: number,
    options: LinearOptions = {},
  ) {
    super();
    const generator = options.generator ?? defaultGenerator;
    const bound = 1 / Math.sqrt(inFeatures);
    const create = { low: -bound, high: bound, backend: options.backend, dtype: options.dtype };
    this.weight = this.registerParameter('weight', generator.uniform([outFeatures, inFeatures], create));
    this.bias = options.bias === false ? undefined : this.registerParameter('bias', generator.uniform([outFeatures], create));
  }

  protected checkInputs(inputs: readonly Tensor[]): void {
    expectInputCount(this, inputs, 1);
    const x = inputs[0]!;
    expectFloatInput(this, x, 2);
    if (x.shape[x.rank - 1] !== this.inFeatures) {
      throw new RangeError(
        `${this.describe()}: input of shape ${formatShape(x.shape)} has ${x.shape[x.rank - 1]} features in its last dimension, but the layer expects ${this.inFeatures} (weight ${formatShape(this.weight.data.shape)})`,
      );
    }
  }

  protected compute(inputs: readonly Tensor[]): Tensor {
    const x = inputs[0]!;
    const y = matmul(x, this.weight.data, false, true);
    return this.bias === undefined ? y : add(y, this.bias.data);
  }

  jacTMatProd(_node: GraphNode, mat: Tensor): Tensor {
    return matmul(mat, this.weight.data);
  }

  override jacMatProd(_node: GraphNode, mat: Tensor): Tensor {
    return matmul(mat, this.weight.data, false, true);
  }

  /** `[V, ...param] -> [V, N, ..., out]`: `x Vᵀ` for the weight, the bias broadcast over every position. */
  override paramJacMatProd(node: GraphNode, name: string, mat: Tensor): Tensor {
    const v = mat.shape[0]!;
    const outShape = [v, ...node.output.shape];
    if (name === 'bias') return broadcastTo(reshape(mat, [v, ...node.output.shape.map((_, i) => (i === node.output.rank - 1 ? this.outFeatures : 1))]), outShape);
    if (name !== 'weight') return super.paramJacMatProd(node, name, mat);
    return reshape(matmul(reshape(node.input, [1, -1, this.inFeatures]), mat, false, true), outShape);
  }

  /** `Wᵀ M W`: the Jacobian is W for every sample (inputs `[N, in]` only; extra dimensions use the general path). */
  override eaJacTMatJacProd(node: GraphNode, mat: Tensor): Tensor {
    if (node.input.rank > 2) return super.eaJacTMatJacProd(node, mat);
    const w = this.weight.data;
    return matmul(matmul(w, mat, true, false), w);
  }

  override paramJacTMatProd(node: GraphNode, name: string, mat: Tensor, options: ParameterJacobianOptions): Tensor {
    // Extra dimensions between batch and features (x: [N, ..., in]) are summed like a second batch.
    const [v, n] = [mat.shape[0]!, mat.shape[1]!];
    const extra = sizeOf(node.input.shape.slice(1, -1));
    const matFlat = reshape(mat, [v, n, extra, this.outFeatures]);
    const { sumBatch } = options;
    if (name === 'bias') return sum(matFlat, sumBatch ? [1, 2] : [2]);
    if (name !== 'weight') return super.paramJacTMatProd(node, name, mat, options);
    const xFlat = reshape(node.input, [n, extra, this.inFeatures]);
    return sumBatch ? einsum('vnso,nsi->voi', matFlat, xFlat) : einsum('vnso,nsi->vnoi', matFlat, xFlat);
  }
}
