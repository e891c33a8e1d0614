import { concat, formatShape, reshape, sizeOf, slice, transpose, type Backend, type FloatDType, type Module, type Parameter, type Tensor } from '@backpack-ts/core';
import { requireFixedModel } from './fixed-model.js';

/**
 * The parameters an operator acts on (checked: the model's, trainable,
 * each once), of a model that computes one fixed function.
 */
export class ParameterSpace {
  /** The parameters, in the order of the flat vectors. */
  readonly parameters: readonly Parameter[];
  /** Entries of all parameters, P. */
  readonly size: number;
  /** The parameters' dtype: that of the vectors an operator on them takes and returns. */
  readonly dtype: FloatDType;
  /** The parameters' backend: that of the vectors an operator on them takes and returns. */
  readonly backend: Backend;

  constructor(caller: string, model: Module, parameters: readonly Parameter[] | undefined) {
    requireFixedModel(caller, model);
    const own = model.parameters();
    const chosen = parameters ?? own.filter((parameter) => parameter.requiresGrad);
    if (chosen.length === 0) throw new RangeError(`${caller}: no parameters to act on (the model has none that requires gradients)`);
    chosen.forEach((parameter, i) => {
      if (!own.includes(parameter)) throw new RangeError(`${caller}: parameter ${i} (shape ${formatShape(parameter.data.shape)}) is not a parameter of the model`);
      if (!parameter.requiresGrad) throw new RangeError(`${caller}: parameter ${i} (shape ${formatShape(parameter.data.shape)}) is frozen (requiresGrad false)`);
      if (chosen.indexOf(parameter) !== i) throw new RangeError(`${caller}: parameter ${i} is listed twice`);
    });
    this.parameters = chosen;
    this.size = chosen.reduce((s, p) => s + p.data.size, 0);
    [this.dtype, this.backend] = [chosen[0]!.data.dtype as FloatDType, chosen[0]!.data.backend];
  }

  /** The parameters' current tensors. */
  tensors(): Tensor[] {
    return this.parameters.map((p) => p.data);
  }
}

/**
 * `x` (`[rows, K]`, or `[rows]` for one column) as blocks `[K, ...shape]`,
 * one per entry of `shapes` (their sizes summed must be `rows`): row block
 * i of every column, shaped like `shapes[i]`.
 */
export function toBlocks(caller: string, x: Tensor, shapes: readonly (readonly number[])[]): Tensor[] {
  const rows = shapes.reduce((s, shape) => s + sizeOf(shape), 0);
  if (x.rank < 1 || x.rank > 2 || x.shape[0] !== rows) {
    throw new RangeError(`${caller}: expected a matrix [${rows}, K] or a vector [${rows}], got shape ${formatShape(x.shape)}`);
  }
  const columns = x.rank === 1 ? reshape(x, [1, rows]) : transpose(x);
  const k = columns.shape[0]!;
  let offset = 0;
  return shapes.map((shape) => {
    const size = sizeOf(shape);
    const block = reshape(slice(columns, [0, offset], [k, size]), [k, ...shape]);
    offset += size;
    return block;
  });
}

/** The inverse of {@link toBlocks}: `[rows, K]`, or `[rows]` when `vector`. */
export function fromBlocks(blocks: readonly Tensor[], vector: boolean): Tensor {
  const k = blocks[0]!.shape[0]!;
  const columns = concat(
    blocks.map((block) => reshape(block, [k, block.size / k])),
    1,
  );
  return vector ? reshape(columns, [columns.size]) : transpose(columns);
}
