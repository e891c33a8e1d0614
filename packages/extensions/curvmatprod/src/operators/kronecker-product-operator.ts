import { assertFloat, einsum, formatShape, tidy, type Backend, type FloatDType, type Tensor } from '@backpack-ts/core';
import { checkOperand, type LinearOperator } from '../linear-operator.js';
import { fromBlocks, toBlocks } from './parameter-space.js';

/**
 * A block-diagonal matrix over parameters whose blocks are Kronecker
 * products of symmetric factors: one factor `[p, p]` for a parameter of p
 * entries, or two `[F₁, F₂]` with `F₁ ⊗ F₂` acting on the parameter's
 * row-major entries seen as a `[rows(F₁), rows(F₂)]` matrix V: `F₁ V F₂`.
 *
 * The operator owns its factors: {@link KroneckerProductOperator.dispose}
 * frees them (on backends with manual memory), after which it refuses
 * products. Give one built by hand copies (`clone()`) of factors you keep.
 */
export class KroneckerProductOperator implements LinearOperator {
  /** `[rows, columns]`. */
  readonly shape: readonly [number, number];
  /** The dtype of the parameters, and of the vectors it takes and returns. */
  readonly dtype: FloatDType;
  /** The backend of the parameters, and of the vectors it takes and returns. */
  readonly backend: Backend;
  private disposed = false;

  constructor(
    /** The operator's name in messages. */
    readonly name: string,
    /** Each parameter's factors, in the order of the flat vectors. */
    readonly factors: readonly (readonly Tensor[])[],
  ) {
    const first = checkFactors(name, factors);
    const size = factors.reduce((total, list) => total + list.reduce((s, f) => s * f.shape[0]!, 1), 0);
    this.shape = [size, size];
    [this.dtype, this.backend] = [first.dtype as FloatDType, first.backend];
  }

  /** The product with `x` `[P, K]` or `[P]`, block by block. */
  matmat(x: Tensor): Tensor {
    this.assertNotDisposed('matmat');
    checkOperand(this.name, this, x, 'the factors');
    return tidy(() => {
      const shapes = this.factors.map((list) => list.map((f) => f.shape[0]!));
      const blocks = toBlocks(`${this.name}.matmat`, x, shapes).map((v, i) => {
        const list = this.factors[i]!;
        if (list.length === 1) return einsum('ij,kj->ki', list[0]!, v);
        return einsum('kil,lm->kim', einsum('ij,kjl->kil', list[0]!, v), list[1]!);
      });
      return fromBlocks(blocks, x.rank === 1);
    });
  }

  /** Whether {@link KroneckerProductOperator.dispose} has been called. */
  get isDisposed(): boolean {
    return this.disposed;
  }

  /**
   * Frees the factors (needed on backends with manual memory, harmless
   * elsewhere); a later product throws an error naming the operator. A
   * second call changes nothing.
   */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const factor of this.factors.flat()) factor.dispose(`by ${this.name}.dispose()`);
  }

  /** Throws, naming the operator and `method`, once it is disposed. */
  protected assertNotDisposed(method: string): void {
    if (this.disposed) throw new Error(`${this.name}.${method}: the operator was disposed (dispose() freed its factors); build a new one`);
  }
}

/** Throws, naming the operator, the parameter and the factor, unless every parameter has one or two square float factors of one dtype and backend; returns the first factor. */
function checkFactors(name: string, factors: readonly (readonly Tensor[])[]): Tensor {
  const first = factors[0]?.[0];
  if (first === undefined) throw new RangeError(`${name}: no factors given (one list of one or two factors per parameter)`);
  factors.forEach((list, i) => {
    if (list.length !== 1 && list.length !== 2) throw new RangeError(`${name}: parameter ${i} has ${list.length} factors; give one or two`);
    list.forEach((factor, j) => {
      factor.assertAlive(`${name} (factor ${j} of parameter ${i})`);
      assertFloat(`${name} (factor ${j} of parameter ${i})`, factor);
      if (factor.rank !== 2 || factor.shape[0] !== factor.shape[1]) {
        throw new RangeError(`${name}: factor ${j} of parameter ${i} must be a square matrix, got shape ${formatShape(factor.shape)}`);
      }
      if (factor.dtype !== first.dtype || factor.backend !== first.backend) {
        throw new TypeError(
          `${name}: factor ${j} of parameter ${i} is ${factor.dtype} on '${factor.backend.name}', factor 0 of parameter 0 ${first.dtype} on '${first.backend.name}'`,
        );
      }
    });
  });
  return first;
}
