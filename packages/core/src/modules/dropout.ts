import { greaterEqual, mul } from '../ops/elementwise.js';
import { reshape } from '../ops/layout.js';
import { selectIndices } from '../ops/select.js';
import { defaultGenerator } from '../ops/default-generator.js';
import type { Generator } from '../ops/random.js';
import type { Tensor } from '../tensor/tensor.js';
import { expectFloatInput, expectInputCount } from './input-checks.js';
import { GraphNode, LeafModule, type ModuleTraits } from './leaf-module.js';

/**
 * Zeroes each element with probability `p` in training mode and scales the
 * rest by 1/(1-p); the identity in evaluation mode (as `nn.Dropout`). The
 * mask is drawn from a seeded generator and saved, so derivatives use the
 * same mask as the forward pass.
 */
export class Dropout extends LeafModule {
  readonly typeName = 'Dropout';
  override readonly traits: ModuleTraits = { diagonalJacobian: true };

  constructor(
    /** Probability of zeroing an element in training mode. */
    readonly p = 0.5,
    private readonly generator: Generator = defaultGenerator,
  ) {
    super();
    if (!(p >= 0 && p < 1)) throw new RangeError(`Dropout: p must be in [0, 1), got ${p}`);
  }

  protected checkInputs(inputs: readonly Tensor[]): void {
    expectInputCount(this, inputs, 1);
    expectFloatInput(this, inputs[0]!, 1);
  }

  protected compute(inputs: readonly Tensor[], saved: Record<string, Tensor>): Tensor {
    const x = inputs[0]!;
    if (!this.training || this.p === 0) return reshape(x, x.shape);
    const uniform = this.generator.uniform(x.shape, { backend: x.backend, dtype: x.dtype });
    const keep = greaterEqual(uniform, this.p);
    saved['mask'] = mul(keep, 1 / (1 - this.p));
    return mul(x, saved['mask']);
  }

  /** The recorded mask's rows (drawing a new one would change the call). */
  override restrictToSamples(node: GraphNode, indices: readonly number[]): GraphNode {
    const select = (t: Tensor) => selectIndices(t, 0, indices);
    const mask = node.saved['mask'];
    return new GraphNode(this, [select(node.input)], select(node.output), mask === undefined ? {} : { mask: select(mask) });
  }

  /** The recorded mask (diagonal Jacobian). */
  override jacMatProd(node: GraphNode, mat: Tensor): Tensor {
    return this.jacTMatProd(node, mat);
  }

  jacTMatProd(node: GraphNode, mat: Tensor): Tensor {
    const mask = node.saved['mask'];
    return mask === undefined ? mat : mul(mat, mask);
  }
}
