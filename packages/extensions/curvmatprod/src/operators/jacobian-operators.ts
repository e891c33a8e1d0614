import {
  add,
  concat,
  enableGrad,
  jvp,
  noGrad,
  reshape,
  rejectUnknownOptions,
  tidy,
  transpose,
  type Backend,
  type FloatDType,
  type Module,
  type Parameter,
  type Tensor,
} from '@backpack-ts/core';
import { checkOperand, type LinearOperator } from '../linear-operator.js';
import type { CurvatureOperatorOptions } from './curvature-operator.js';
import { batchesOf, batchSizes, type DataSet } from './data-set.js';
import { ParameterSpace, fromBlocks, toBlocks } from './parameter-space.js';
import { transposedJacobianBlocks } from './transposed-jacobian-blocks.js';

/** What both Jacobian operators know of the data set: the output shape of each batch. */
class OutputLayout {
  readonly sizes: number[];
  readonly outputShapes: number[][];
  readonly rows: number;
  readonly space: ParameterSpace;

  constructor(
    readonly name: string,
    readonly model: Module,
    readonly data: DataSet,
    options: CurvatureOperatorOptions,
  ) {
    rejectUnknownOptions(name, options, ['parameters']);
    this.space = new ParameterSpace(name, model, options.parameters);
    this.sizes = batchSizes(name, data);
    this.outputShapes = noGrad(() => [...batchesOf(name, data, this.sizes)].map(({ input }) => tidy(() => [...model.forward(input).shape])));
    this.rows = this.outputShapes.reduce((s, shape) => s + shape.reduce((a, b) => a * b, 1), 0);
  }

  parameterShapes(): (readonly number[])[] {
    return this.space.parameters.map((p) => p.data.shape);
  }
}

/**
 * The Jacobian of the model's output w.r.t. the parameters on a data set,
 * `[rows, P]`, as curvlinops' `JacobianLinearOperator`: the rows are the
 * outputs of every batch flattened row-major and stacked in the data set's
 * order (`rows` = Σ over batches of the output's size). Each column is one
 * R-op per batch.
 */
export class JacobianOperator implements LinearOperator {
  /** `[rows, columns]`. */
  readonly shape: readonly [number, number];
  /** The dtype of the parameters, and of the vectors it takes and returns. */
  readonly dtype: FloatDType;
  /** The backend of the parameters, and of the vectors it takes and returns. */
  readonly backend: Backend;
  private readonly layout: OutputLayout;

  constructor(model: Module, data: DataSet, options: CurvatureOperatorOptions = {}) {
    this.layout = new OutputLayout('JacobianOperator', model, data, options);
    this.shape = [this.layout.rows, this.layout.space.size];
    [this.dtype, this.backend] = [this.layout.space.dtype, this.layout.space.backend];
  }

  /** The parameters it differentiates w.r.t., in the order of the columns. */
  get parameters(): readonly Parameter[] {
    return this.layout.space.parameters;
  }

  /** `J x` for `x` `[P, K]` or `[P]`. */
  matmat(x: Tensor): Tensor {
    const { name, model, data, sizes, space } = this.layout;
    checkOperand(name, this, x, 'the parameters');
    return tidy(() => {
      const tangents = toBlocks(`${name}.matmat`, x, this.layout.parameterShapes());
      const k = tangents[0]!.shape[0]!;
      const perBatch = [...batchesOf(`${name}.matmat`, data, sizes)].map(({ input }) =>
        tidy(() =>
          enableGrad(() => {
            const [product] = jvp([model.forward(input)], space.tensors(), tangents, { batched: true });
            return reshape(product!, [k, product!.size / k]);
          }),
        ),
      );
      const rows = concat(perBatch, 1); // [K, rows]
      return x.rank === 1 ? reshape(rows, [rows.size]) : transpose(rows);
    });
  }
}

/**
 * The transposed Jacobian `[P, rows]` of {@link JacobianOperator}, as
 * curvlinops' `TransposedJacobianLinearOperator`: `x` holds the stacked
 * outputs' entries; each column is one L-op per batch, summed.
 */
export class TransposedJacobianOperator implements LinearOperator {
  /** `[rows, columns]`. */
  readonly shape: readonly [number, number];
  /** The dtype of the parameters, and of the vectors it takes and returns. */
  readonly dtype: FloatDType;
  /** The backend of the parameters, and of the vectors it takes and returns. */
  readonly backend: Backend;
  private readonly layout: OutputLayout;

  constructor(model: Module, data: DataSet, options: CurvatureOperatorOptions = {}) {
    this.layout = new OutputLayout('TransposedJacobianOperator', model, data, options);
    this.shape = [this.layout.space.size, this.layout.rows];
    [this.dtype, this.backend] = [this.layout.space.dtype, this.layout.space.backend];
  }

  /** The parameters it differentiates w.r.t., in the order of the rows. */
  get parameters(): readonly Parameter[] {
    return this.layout.space.parameters;
  }

  /** `Jᵀ x` for `x` `[rows, K]` or `[rows]`. */
  matmat(x: Tensor): Tensor {
    const { name, model, data, sizes, space, outputShapes } = this.layout;
    checkOperand(name, this, x, 'the parameters');
    return tidy(() => {
      const cotangents = toBlocks(`${name}.matmat`, x, outputShapes);
      let total: Tensor | undefined;
      for (const { input, index } of batchesOf(`${name}.matmat`, data, sizes)) {
        total = tidy(() =>
          enableGrad(() => {
            const product = fromBlocks(transposedJacobianBlocks(model.forward(input), space.tensors(), cotangents[index]!), x.rank === 1);
            return total === undefined ? product : add(total, product);
          }),
        );
      }
      return total!;
    });
  }
}
