/**
 * Test-local stand-ins for the modules the recurrent golden cases use around
 * RNN and LSTM (BackPACK's Permute, Slicing, Pad, and CrossEntropyLoss on
 * `[N, C, T]`), written here only as far as those cases need them, until core
 * has them. Parameter-free, so every extension's fallback handles them
 * through `jacTMatProd` (the losses through their Hessian square roots).
 */
import {
  LeafModule,
  LossModule,
  add,
  eye,
  exp,
  equal,
  log,
  logSoftmax,
  max,
  mul,
  neg,
  oneHot,
  pad,
  permute,
  reshape,
  slice,
  sqrt,
  sub,
  sum,
  type FloatDType,
  type Generator,
  type GraphNode,
  type Tensor,
} from '@backpack-ts/core';

/** `input.permute(dims)`; `dims` may move the batch dimension (a time-major RNN's output back to batch-first). */
export class Permute extends LeafModule {
  readonly typeName = 'Permute';
  private readonly inverse: number[];

  constructor(readonly dims: readonly number[]) {
    super();
    this.inverse = dims.map((_, i) => dims.indexOf(i));
  }

  protected checkInputs(inputs: readonly Tensor[]): void {
    if (inputs.length !== 1 || inputs[0]!.rank !== this.dims.length) throw new RangeError(`${this.describe()}: expects one input of rank ${this.dims.length}`);
  }

  protected compute(inputs: readonly Tensor[]): Tensor {
    return permute(inputs[0]!, this.dims);
  }

  jacTMatProd(_node: GraphNode, mat: Tensor): Tensor {
    return permute(mat, [0, ...this.inverse.map((d) => d + 1)]);
  }
}

/** `input[:, index]` (the second dimension disappears; a negative index counts from the end). */
export class Slicing extends LeafModule {
  readonly typeName = 'Slicing';

  constructor(readonly index: number) {
    super();
  }

  protected checkInputs(inputs: readonly Tensor[]): void {
    if (inputs.length !== 1 || inputs[0]!.rank < 2) throw new RangeError(`${this.describe()}: expects one input of rank >= 2`);
  }

  private position(x: Tensor): number {
    return this.index < 0 ? this.index + x.shape[1]! : this.index;
  }

  protected compute(inputs: readonly Tensor[]): Tensor {
    const x = inputs[0]!;
    const begin = x.shape.map((_, i) => (i === 1 ? this.position(x) : 0));
    const size = x.shape.map((d, i) => (i === 1 ? 1 : d));
    return reshape(slice(x, begin, size), x.shape.filter((_, i) => i !== 1));
  }

  /** Zeros everywhere but at the selected position. */
  jacTMatProd(node: GraphNode, mat: Tensor): Tensor {
    const x = node.input;
    const at = this.position(x);
    const withAxis = reshape(mat, [mat.shape[0]!, mat.shape[1]!, 1, ...mat.shape.slice(2)]);
    const before = withAxis.shape.map((_, i) => (i === 2 ? at : 0));
    const after = withAxis.shape.map((_, i) => (i === 2 ? x.shape[1]! - 1 - at : 0));
    return pad(withAxis, before, after);
  }
}

/** `F.pad(input, [low, high], value=value)`: constant padding of the last dimension. */
export class Pad extends LeafModule {
  readonly typeName = 'Pad';

  constructor(
    readonly low: number,
    readonly high: number,
    readonly value = 0,
  ) {
    super();
  }

  protected checkInputs(inputs: readonly Tensor[]): void {
    if (inputs.length !== 1) throw new RangeError(`${this.describe()}: expects one input`);
  }

  protected compute(inputs: readonly Tensor[]): Tensor {
    const x = inputs[0]!;
    const last = (value: number) => x.shape.map((_, i) => (i === x.rank - 1 ? value : 0));
    return pad(x, last(this.low), last(this.high), this.value);
  }

  jacTMatProd(node: GraphNode, mat: Tensor): Tensor {
    const rank = mat.rank;
    const width = node.input.shape[node.input.rank - 1]!;
    return slice(mat, mat.shape.map((_, i) => (i === rank - 1 ? this.low : 0)), mat.shape.map((_, i) => (i === rank - 1 ? width : -1)));
  }
}

/**
 * `nn.CrossEntropyLoss` on logits `[N, C, T]` with class indices `[N, T]`:
 * one softmax per position, `mean` over the N·T positions. Per sample the
 * Hessian is block-diagonal over the positions, `diag(p_t) - p_t p_tᵀ`.
 */
export class SequenceCrossEntropyLoss extends LossModule {
  readonly typeName = 'CrossEntropyLoss';

  protected checkTarget(prediction: Tensor, target: Tensor): void {
    const [n, , steps] = prediction.shape;
    if (prediction.rank !== 3 || target.dtype !== 'int32' || target.rank !== 2 || target.shape[0] !== n || target.shape[1] !== steps) {
      throw new RangeError(`${this.describe()}: expects logits [N, C, T] and int32 targets [N, T]`);
    }
  }

  /** The factor of the reduction: 1 / (N·T) for `mean`. */
  private scale(prediction: Tensor): number {
    return this.reduction === 'sum' ? 1 : 1 / (prediction.shape[0]! * prediction.shape[2]!);
  }

  protected compute(inputs: readonly Tensor[], saved: Record<string, Tensor>): Tensor {
    const [logits, target] = [inputs[0]!, inputs[1]!];
    const logProbs = logSoftmax(logits, 1);
    saved['probs'] = exp(logProbs);
    saved['targetOneHot'] = permute(oneHot(target, logits.shape[1]!, logits.dtype as FloatDType), [0, 2, 1]);
    return mul(sum(mul(logProbs, saved['targetOneHot'])), -this.scale(logits));
  }

  gradient(node: GraphNode): Tensor {
    return mul(sub(node.saved['probs']!, node.saved['targetOneHot']!), this.scale(node.input));
  }

  /** Column (c, t) of sample n: `√p[c, t] (e_c - p[:, t])` at position t, zero elsewhere: `[C·T, N, C, T]`. */
  sqrtHessian(node: GraphNode): Tensor {
    const probs = node.saved['probs']!;
    const [n, classes, steps] = probs.shape as [number, number, number];
    const like = { backend: probs.backend, dtype: probs.dtype };
    const rootProbs = reshape(permute(sqrt(probs), [1, 2, 0]), [classes, steps, n, 1, 1]);
    const centered = sub(reshape(eye(classes, like), [classes, 1, 1, classes, 1]), reshape(permute(probs, [2, 0, 1]), [1, steps, n, classes, 1]));
    const samePosition = reshape(eye(steps, like), [1, steps, 1, 1, steps]);
    return reshape(mul(mul(rootProbs, centered), mul(samePosition, Math.sqrt(this.scale(probs)))), [classes * steps, n, classes, steps]);
  }

  /** `(p[:, t] - e_y) / √M` per position, y drawn from p[:, t] by the Gumbel-max trick: `[M, N, C, T]`. */
  sqrtHessianSampled(node: GraphNode, mcSamples: number, generator: Generator): Tensor {
    const probs = node.saved['probs']!;
    const uniform = generator.uniform([mcSamples, ...probs.shape], { backend: probs.backend, dtype: probs.dtype, low: 1, high: 0 });
    const scores = add(log(probs), neg(log(neg(log(uniform)))));
    const sampled = equal(scores, max(scores, 2, true));
    return mul(sub(reshape(probs, [1, ...probs.shape]), sampled), Math.sqrt(this.scale(probs) / mcSamples));
  }

  sumHessian(): Tensor {
    throw new Error(`${this.describe()} on [N, C, T] (test-local): sumHessian is not needed, KFRA refuses the recurrent layers before it`);
  }
}
