import { concat, formatShape, reshape, slice, transpose, type Module, type Parameter, type Tensor } from '@backpack-ts/core';

/**
 * The parameters an operator acts on, and the conversion between its flat
 * `[P, K]` matrices and per-parameter tensors.
 */
export class ParameterSpace {
  /** The parameters, in the order of the flat vectors. */
  readonly parameters: readonly Parameter[];
  /** Entries of all parameters, P. */
  readonly size: number;

  constructor(caller: string, model: Module, parameters: readonly Parameter[] | undefined) {
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
  }

  /** The parameters' current tensors. */
  tensors(): Tensor[] {
    return this.parameters.map((p) => p.data);
  }

  /**
   * The columns of `x` (`[rows, K]`, or `[rows]` for one column), each split
   * into tensors of the given `shapes` (their sizes summed must be `rows`).
   */
  static splitColumns(caller: string, x: Tensor, shapes: readonly (readonly number[])[]): Tensor[][] {
    const rows = shapes.reduce((s, shape) => s + shape.reduce((a, b) => a * b, 1), 0);
    if (x.rank < 1 || x.rank > 2 || x.shape[0] !== rows) {
      throw new RangeError(`${caller}: expected a matrix [${rows}, K] or a vector [${rows}], got shape ${formatShape(x.shape)}`);
    }
    const columns = x.rank === 1 ? reshape(x, [1, rows]) : transpose(x);
    const k = columns.shape[0]!;
    return Array.from({ length: k }, (_, column) => {
      let offset = 0;
      return shapes.map((shape) => {
        const size = shape.reduce((a, b) => a * b, 1);
        const part = reshape(slice(columns, [column, offset], [1, size]), shape);
        offset += size;
        return part;
      });
    });
  }

  /** The inverse of {@link ParameterSpace.splitColumns}: `[rows, K]`, or `[rows]` when `vector`. */
  static stackColumns(columns: readonly (readonly Tensor[])[], vector: boolean): Tensor {
    const flat = columns.map((parts) => concat(parts.map((t) => reshape(t, [t.size])), 0));
    if (vector) return flat[0]!;
    return transpose(concat(flat.map((column) => reshape(column, [1, column.size])), 0));
  }
}
