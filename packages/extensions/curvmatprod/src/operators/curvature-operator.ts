import {
  add,
  enableGrad,
  mul,
  rejectUnknownOptions,
  tidy,
  type Backend,
  type FloatDType,
  type GraphNode,
  type LossModule,
  type Module,
  type Parameter,
  type Tensor,
} from '@backpack-ts/core';
import { checkOperand, type LinearOperator } from '../linear-operator.js';
import { batchesOf, batchSizes, type DataSet } from './data-set.js';
import { ParameterSpace, fromBlocks, toBlocks } from './parameter-space.js';

/** Options every curvature operator takes. */
export interface CurvatureOperatorOptions {
  /** The parameters it acts on, in this order (default: every parameter of the model that requires gradients). */
  readonly parameters?: readonly Parameter[];
}

/** What one batch's product starts from: the recorded forward pass. */
export interface BatchPass {
  /** The model's output on the batch. */
  readonly output: Tensor;
  /** The loss on the batch (with the loss's own reduction). */
  readonly loss: Tensor;
  /** The loss's recorded call. */
  readonly lossNode: GraphNode;
  /** The parameters' tensors, in the operator's order. */
  readonly tensors: readonly Tensor[];
}

/**
 * Base of the curvature operators on a data set: the curvature of the loss
 * summed (reduction 'sum') or averaged (reduction 'mean') over the whole data
 * set. Each product runs the model on every batch and adds the batch's
 * curvature times `N_b / N` (mean; N_b samples in the batch, N in all) or 1
 * (sum): exactly the curvature of the mean loss over the data set whatever
 * the batch sizes, as long as each sample contributes the same number of
 * loss terms.
 */
export abstract class CurvatureOperator implements LinearOperator {
  /** `[rows, columns]`. */
  readonly shape: readonly [number, number];
  /** The dtype of the parameters, and of the vectors it takes and returns. */
  readonly dtype: FloatDType;
  /** The backend of the parameters, and of the vectors it takes and returns. */
  readonly backend: Backend;
  /** The parameters it acts on, in the order of the flat vectors. */
  readonly parameters: readonly Parameter[];
  /** Samples in the data set, N. */
  readonly samples: number;
  private readonly sizes: number[];
  private readonly space: ParameterSpace;

  protected constructor(
    /** The operator's name in messages. */
    readonly name: string,
    /** The model whose curvature it is. */
    readonly model: Module,
    /** The loss, with reduction 'mean' or 'sum'. */
    readonly lossFunction: LossModule,
    /** The batches it runs the model on, in every product. */
    readonly data: DataSet,
    options: CurvatureOperatorOptions,
    knownOptions: readonly string[],
  ) {
    rejectUnknownOptions(name, options, ['parameters', ...knownOptions]);
    lossFunction.requireReduced(name);
    this.space = new ParameterSpace(name, model, options.parameters);
    this.parameters = this.space.parameters;
    this.sizes = batchSizes(name, data);
    this.samples = this.sizes.reduce((a, b) => a + b, 0);
    this.shape = [this.space.size, this.space.size];
    [this.dtype, this.backend] = [this.space.dtype, this.space.backend];
  }

  /** The product with `x` (`[P, K]` or `[P]`), summed over the data set's batches. */
  matmat(x: Tensor): Tensor {
    checkOperand(this.name, this, x, 'the parameters');
    const shapes = this.parameters.map((p) => p.data.shape);
    this.beginProduct();
    return tidy(() => {
      const blocks = toBlocks(`${this.name}.matmat`, x, shapes);
      let total: Tensor | undefined;
      for (const { input, target, index } of batchesOf(`${this.name}.matmat`, this.data, this.sizes)) {
        const weight = this.lossFunction.reduction === 'mean' ? this.sizes[index]! / this.samples : 1;
        total = tidy(() => {
          const product = enableGrad(() => {
            const output = this.model.forward(input);
            const loss = this.lossFunction.forward(output, target);
            const lossNode = loss.producer;
            if (lossNode === undefined || lossNode.module !== this.lossFunction) {
              throw new Error(`${this.name}: the loss's output was not recorded as a call of ${this.lossFunction.describe()}`);
            }
            return fromBlocks(this.batchProduct({ output, loss, lossNode, tensors: this.space.tensors() }, blocks), x.rank === 1);
          });
          const weighted = weight === 1 ? product : mul(product, weight);
          return total === undefined ? weighted : add(total, weighted);
        });
      }
      return total!;
    });
  }

  /** Called before each product (the Monte-Carlo Fisher reseeds its generator). */
  protected beginProduct(): void {}

  /**
   * The curvature of one batch's loss times K vectors, given and returned as
   * one block `[K, ...shape]` per parameter.
   */
  protected abstract batchProduct(pass: BatchPass, blocks: readonly Tensor[]): Tensor[];
}
