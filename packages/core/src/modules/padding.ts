import type { GraphNode } from './leaf-module.js';
import { pad, reshape, slice } from '../ops/layout.js';
import { formatShape } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { LeafModule } from './leaf-module.js';
import { expectSpatialInput } from './spatial.js';

/**
 * Pads the last two dimensions of `[N, C, H, W]` with zeros (as
 * `nn.ZeroPad2d`): `padding` is one number for all four sides or
 * `[left, right, top, bottom]` (PyTorch's order). Negative entries crop, as
 * in PyTorch. The derivative is the transpose: it cuts the padding off again
 * (and pads what was cropped with zeros).
 */
export class ZeroPad2d extends LeafModule {
  readonly typeName = 'ZeroPad2d';
  /** `[left, right, top, bottom]`. */
  readonly padding: readonly [number, number, number, number];

  constructor(padding: number | readonly [number, number, number, number]) {
    super();
    const sides = typeof padding === 'number' ? [padding, padding, padding, padding] : [...padding];
    if (sides.length !== 4 || sides.some((p) => !Number.isInteger(p))) {
      throw new RangeError(
        `ZeroPad2d: padding must be an integer or 4 integers [left, right, top, bottom], got ${typeof padding === 'number' ? padding : `[${padding.join(', ')}]`}`,
      );
    }
    this.padding = sides as [number, number, number, number];
  }

  /** Amounts per dimension of `[N, C, H, W]`: what is added (`before`/`after`) and what is cut (`cropBefore`/`cropAfter`). */
  private amounts() {
    const [left, right, top, bottom] = this.padding;
    const positive = (p: number) => Math.max(p, 0);
    const negative = (p: number) => Math.max(-p, 0);
    return {
      before: [0, 0, positive(top), positive(left)],
      after: [0, 0, positive(bottom), positive(right)],
      cropBefore: [0, 0, negative(top), negative(left)],
      cropAfter: [0, 0, negative(bottom), negative(right)],
    };
  }

  protected checkInputs(inputs: readonly Tensor[]): void {
    const x = expectSpatialInput(this, inputs, 2);
    const [left, right, top, bottom] = this.padding;
    const [h, w] = [x.shape[2]!, x.shape[3]!];
    if (h + top + bottom < 0 || w + left + right < 0) {
      throw new RangeError(
        `${this.describe()}: padding [${this.padding.join(', ')}] (left, right, top, bottom) crops input ${formatShape(x.shape)} to a negative size [${h + top + bottom}, ${w + left + right}]`,
      );
    }
  }

  protected compute(inputs: readonly Tensor[]): Tensor {
    const x = inputs[0]!;
    const { before, after, cropBefore, cropAfter } = this.amounts();
    const cropped = cropBefore.some((p) => p > 0) || cropAfter.some((p) => p > 0)
      ? slice(x, cropBefore, x.shape.map((d, i) => d - cropBefore[i]! - cropAfter[i]!))
      : x;
    return before.some((p) => p > 0) || after.some((p) => p > 0) ? pad(cropped, before, after) : reshape(cropped, cropped.shape);
  }

  jacTMatProd(_node: GraphNode, mat: Tensor, _inputIndex = 0): Tensor {
    const { before, after, cropBefore, cropAfter } = this.amounts();
    // One more leading dimension (V) than the input.
    const [b, a, cb, ca] = [before, after, cropBefore, cropAfter].map((p) => [0, ...p]) as [number[], number[], number[], number[]];
    const inner = slice(mat, b, mat.shape.map((d, i) => d - b[i]! - a[i]!));
    return cb.some((p) => p > 0) || ca.some((p) => p > 0) ? pad(inner, cb, ca) : inner;
  }
}
