import type { GraphNode } from './leaf-module.js';
import { pad, reshape, slice } from '../ops/layout.js';
import { formatShape } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { expectFloatInput, expectInputCount } from './input-checks.js';
import { LeafModule } from './leaf-module.js';
import { rejectUnknownOptions } from '../ops/options.js';
import { sameJacobianJacTMatJac } from './same-jacobian.js';
import { expectSpatialInput } from './spatial.js';

/** Options of {@link Pad}. */
export interface PadOptions {
  /** Only `'constant'` (the default), as BackPACK's `Pad`. */
  readonly mode?: 'constant';
  /** What the new entries hold (default 0). */
  readonly value?: number;
}

/** Per dimension of the input: what is added (`before`/`after`) and what is cut (`cropBefore`/`cropAfter`). */
interface PadAmounts {
  readonly before: number[];
  readonly after: number[];
  readonly cropBefore: number[];
  readonly cropAfter: number[];
}

/**
 * Constant padding of the trailing dimensions, as
 * `torch.nn.functional.pad(input, pad, mode='constant', value)` (BackPACK's
 * `Pad`): `pad = [last_lo, last_hi, second_to_last_lo, second_to_last_hi,
 * ...]` pads as many trailing dimensions as it has pairs, never the batch
 * axis. Negative amounts crop, as in PyTorch. The new entries are constant,
 * so the Jacobian selects the input's entries (the same for every sample):
 * the transposed product cuts the padding off again (and pads what was
 * cropped with zeros).
 */
export class Pad extends LeafModule {
  readonly typeName: string = 'Pad';
  /** Amounts before and after each trailing axis, last axis first (`torch.nn.functional.pad`'s order); negative amounts crop. */
  readonly pad: readonly number[];
  /** The value of the new entries. */
  readonly value: number;

  constructor(amounts: readonly number[], options: PadOptions = {}) {
    super();
    rejectUnknownOptions('Pad', options, ['mode', 'value']);
    if (options.mode !== undefined && options.mode !== 'constant') {
      throw new RangeError(`Pad: mode '${String(options.mode)}' is not supported; only 'constant'`);
    }
    if (amounts.length === 0 || amounts.length % 2 !== 0 || amounts.some((p) => !Number.isInteger(p))) {
      throw new RangeError(`Pad: pad must be an even number of integers [last_lo, last_hi, ...], got [${amounts.join(', ')}]`);
    }
    if (options.value !== undefined && !Number.isFinite(options.value)) {
      throw new RangeError(`Pad: value must be a finite number, got ${options.value}`);
    }
    this.pad = [...amounts];
    this.value = options.value ?? 0;
  }

  /** The amounts for an input of rank `rank` (dimension `rank - 1 - i` takes pair i). */
  private amounts(rank: number): PadAmounts {
    const zeros = () => new Array<number>(rank).fill(0);
    const result: PadAmounts = { before: zeros(), after: zeros(), cropBefore: zeros(), cropAfter: zeros() };
    for (let i = 0; 2 * i < this.pad.length; i++) {
      const dim = rank - 1 - i;
      const [lo, hi] = [this.pad[2 * i]!, this.pad[2 * i + 1]!];
      result.before[dim] = Math.max(lo, 0);
      result.after[dim] = Math.max(hi, 0);
      result.cropBefore[dim] = Math.max(-lo, 0);
      result.cropAfter[dim] = Math.max(-hi, 0);
    }
    return result;
  }

  protected checkInputs(inputs: readonly Tensor[]): void {
    expectInputCount(this, inputs, 1);
    const x = inputs[0]!;
    expectFloatInput(this, x, 1);
    this.checkAmounts(x);
  }

  /** Throws unless the pairs fit the input's non-batch dimensions and leave no negative size. */
  protected checkAmounts(x: Tensor): void {
    const pairs = this.pad.length / 2;
    if (pairs > x.rank - 1) {
      throw new RangeError(
        `${this.describe()}: pad [${this.pad.join(', ')}] has ${pairs} pairs, but input ${formatShape(x.shape)} has ${x.rank - 1} dimensions besides the batch`,
      );
    }
    const { before, after, cropBefore, cropAfter } = this.amounts(x.rank);
    const sizes = x.shape.map((d, i) => d + before[i]! + after[i]! - cropBefore[i]! - cropAfter[i]!);
    if (sizes.some((s) => s < 0)) {
      throw new RangeError(`${this.describe()}: pad [${this.pad.join(', ')}] crops input ${formatShape(x.shape)} to a negative size ${formatShape(sizes)}`);
    }
  }

  protected compute(inputs: readonly Tensor[]): Tensor {
    const x = inputs[0]!;
    const { before, after, cropBefore, cropAfter } = this.amounts(x.rank);
    const cropped = cut(x, cropBefore, cropAfter);
    return before.some((p) => p > 0) || after.some((p) => p > 0) ? pad(cropped, before, after, this.value) : reshape(cropped, cropped.shape);
  }

  /** `[V, N, ...out] -> [V, N, ...in]`: the padding cut off, zeros where the input was cropped. */
  jacTMatProd(_node: GraphNode, mat: Tensor): Tensor {
    // One more leading dimension (V) than the input.
    const { before, after, cropBefore, cropAfter } = this.amounts(mat.rank - 1);
    const inner = cut(mat, [0, ...before], [0, ...after]);
    const [cb, ca] = [[0, ...cropBefore], [0, ...cropAfter]];
    return cb.some((p) => p > 0) || ca.some((p) => p > 0) ? pad(inner, cb, ca) : inner;
  }

  override eaJacTMatJacProd(node: GraphNode, mat: Tensor): Tensor {
    return sameJacobianJacTMatJac(this, node, mat);
  }
}

/** `x` without `before[i]` leading and `after[i]` trailing entries along each dimension i. */
function cut(x: Tensor, before: readonly number[], after: readonly number[]): Tensor {
  if (before.every((p) => p === 0) && after.every((p) => p === 0)) return x;
  return slice(x, before, x.shape.map((d, i) => d - before[i]! - after[i]!));
}

/**
 * Pads the last two dimensions of `[N, C, H, W]` with zeros (as
 * `nn.ZeroPad2d`): `padding` is one number for all four sides or
 * `[left, right, top, bottom]` (PyTorch's order, the same as {@link Pad}'s).
 * Negative entries crop, as in PyTorch.
 */
export class ZeroPad2d extends Pad {
  override readonly typeName = 'ZeroPad2d';
  /** `[left, right, top, bottom]`. */
  readonly padding: readonly [number, number, number, number];

  constructor(padding: number | readonly [number, number, number, number]) {
    const sides = typeof padding === 'number' ? [padding, padding, padding, padding] : [...padding];
    if (sides.length !== 4 || sides.some((p) => !Number.isInteger(p))) {
      throw new RangeError(
        `ZeroPad2d: padding must be an integer or 4 integers [left, right, top, bottom], got ${typeof padding === 'number' ? padding : `[${padding.join(', ')}]`}`,
      );
    }
    super(sides);
    this.padding = sides as [number, number, number, number];
  }

  protected override checkInputs(inputs: readonly Tensor[]): void {
    this.checkAmounts(expectSpatialInput(this, inputs, 2));
  }
}
