import { zerosLike } from '../ops/create.js';
import {
  add,
  exp,
  expm1,
  minimum,
  mul,
  neg,
  relu,
  sigmoid,
  softplus,
  square,
  step,
  sub,
  tanh,
} from '../ops/elementwise.js';
import type { Tensor } from '../tensor/tensor.js';
import { ElementwiseModule } from './elementwise-module.js';

/** `scale * x + offset`, elementwise. */
function affine(x: Tensor, scale: number, offset: number): Tensor {
  return add(mul(x, scale), offset);
}

/** max(x, 0). The derivative at 0 is 0, as in PyTorch. */
export class ReLU extends ElementwiseModule {
  readonly typeName = 'ReLU';
  override readonly isPiecewiseLinear = true;
  protected f(x: Tensor): Tensor {
    return relu(x);
  }
  df(x: Tensor): Tensor {
    return step(x);
  }
  d2f(x: Tensor): Tensor {
    return zerosLike(x);
  }
}

/** 1 / (1 + exp(-x)). */
export class Sigmoid extends ElementwiseModule {
  readonly typeName = 'Sigmoid';
  protected f(x: Tensor): Tensor {
    return sigmoid(x);
  }
  df(_x: Tensor, y: Tensor): Tensor {
    return sub(y, square(y));
  }
  d2f(x: Tensor, y: Tensor): Tensor {
    // σ'' = σ (1 - σ) (1 - 2σ)
    return mul(this.df(x, y), affine(y, -2, 1));
  }
}

/** tanh(x). */
export class Tanh extends ElementwiseModule {
  readonly typeName = 'Tanh';
  protected f(x: Tensor): Tensor {
    return tanh(x);
  }
  df(_x: Tensor, y: Tensor): Tensor {
    return affine(square(y), -1, 1);
  }
  d2f(x: Tensor, y: Tensor): Tensor {
    // tanh'' = -2 tanh (1 - tanh²)
    return mul(this.df(x, y), mul(y, -2));
  }
}

/** x for x > 0, `negativeSlope * x` otherwise (default slope 0.01, as PyTorch). */
export class LeakyReLU extends ElementwiseModule {
  readonly typeName = 'LeakyReLU';
  override readonly isPiecewiseLinear = true;
  constructor(
    /** Slope for x <= 0. */
    readonly negativeSlope = 0.01,
  ) {
    super();
  }
  protected f(x: Tensor): Tensor {
    // relu(x) + slope * min(x, 0)
    return add(relu(x), mul(minimum(x, 0), this.negativeSlope));
  }
  df(x: Tensor): Tensor {
    return affine(step(x), 1 - this.negativeSlope, this.negativeSlope);
  }
  d2f(x: Tensor): Tensor {
    return zerosLike(x);
  }
}

/**
 * `scale * (x)` for x > 0, `scale * alpha * (exp(x) - 1)` otherwise.
 * ELU has scale 1; SELU fixes alpha and scale.
 */
export class ELU extends ElementwiseModule {
  readonly typeName: string = 'ELU';
  /** Factor of both branches (1 for ELU). */
  protected readonly scale: number = 1;
  constructor(
    /** Limit of the negative branch, `-scale * alpha` as x -> -∞. */
    readonly alpha = 1,
  ) {
    super();
  }
  protected f(x: Tensor): Tensor {
    // exp is taken of min(x, 0) only, so large positive inputs cannot overflow.
    return mul(add(relu(x), mul(expm1(minimum(x, 0)), this.alpha)), this.scale);
  }
  /** `scale * alpha * exp(x)` where x <= 0, else 0: the curved part's f' and f''. */
  private negativeExp(x: Tensor): Tensor {
    return mul(mul(exp(minimum(x, 0)), affine(step(x), -1, 1)), this.scale * this.alpha);
  }
  df(x: Tensor): Tensor {
    return add(mul(step(x), this.scale), this.negativeExp(x));
  }
  d2f(x: Tensor): Tensor {
    return this.negativeExp(x);
  }
}

/** Self-normalising ELU: alpha ≈ 1.6733, scale ≈ 1.0507 (PyTorch's constants). */
export class SELU extends ELU {
  override readonly typeName = 'SELU';
  /** SELU's fixed scale. */
  protected override readonly scale = 1.0507009873554804934193349852946;
  constructor() {
    super(1.6732632423543772848170429916717);
  }
}

/** log(sigmoid(x)) = -softplus(-x), stable for large |x|. */
export class LogSigmoid extends ElementwiseModule {
  readonly typeName = 'LogSigmoid';
  protected f(x: Tensor): Tensor {
    return neg(softplus(neg(x)));
  }
  df(x: Tensor): Tensor {
    return sigmoid(neg(x));
  }
  d2f(x: Tensor): Tensor {
    const s = sigmoid(x);
    return neg(sub(s, square(s)));
  }
}
