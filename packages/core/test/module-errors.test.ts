/**
 * Errors raised inside a leaf module's forward name the module: an op that
 * fails in `compute` is prefixed with the module (the original kept as the
 * cause, the class kept), once however deeply modules nest; a float input of
 * another dtype or backend than the parameters is refused before any op runs,
 * naming the module, the parameter and both dtypes.
 */
import { describe, expect, it } from 'vitest';
import { cpu } from '@backpack-ts/backend-cpu';
import { LeafModule, Linear, ReLU, Sequential, extend, matmul, tensor, type GraphNode, type Tensor } from '@backpack-ts/core';
import { wrapBackend } from './helpers/backends.js';
import { linear } from './helpers/models.js';
import { randomTensor } from './helpers/tensors.js';

/** Multiplies its input by a float32 matrix: every float64 input makes matmul fail inside compute. */
class Float32Mixer extends LeafModule {
  readonly typeName: string = 'Float32Mixer';
  protected checkInputs(): void {}
  protected compute(inputs: readonly Tensor[]): Tensor {
    return matmul(inputs[0]!, tensor([1, 0, 0, 1], [2, 2], { backend: cpu, dtype: 'float32' }));
  }
  jacTMatProd(_node: GraphNode, mat: Tensor): Tensor {
    return mat;
  }
}

/** Runs another leaf module's forward inside its own compute. */
class Wrapper extends LeafModule {
  readonly typeName = 'Wrapper';
  readonly inner = new Float32Mixer();
  protected checkInputs(): void {}
  protected compute(inputs: readonly Tensor[]): Tensor {
    return this.inner.forward(inputs[0]!);
  }
  jacTMatProd(_node: GraphNode, mat: Tensor): Tensor {
    return mat;
  }
}

/** Throws an error of a class of its own. */
class CustomError extends Error {}
class Thrower extends Float32Mixer {
  override readonly typeName = 'Thrower';
  protected override compute(): Tensor {
    throw new CustomError('no');
  }
}

const x = () => randomTensor([3, 2], 1);

describe('an op failing inside a module', () => {
  it('names the module by its path, keeping the message, the class and the original as cause', () => {
    const model = extend(new Sequential(new ReLU(), new Float32Mixer()));
    let caught: unknown;
    try {
      model.forward(x());
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(TypeError);
    expect((caught as Error).message).toBe("Float32Mixer '1': matmul: dtypes differ (float64 and float32); cast one first");
    expect(((caught as Error).cause as Error).message).toBe('matmul: dtypes differ (float64 and float32); cast one first');
  });

  it('is named once when modules nest, by the innermost', () => {
    expect(() => new Wrapper().forward(x())).toThrow(/^Float32Mixer: matmul: dtypes differ/);
  });

  it('keeps errors of a class of their own as they are', () => {
    expect(() => new Thrower().forward(x())).toThrow(CustomError);
    expect(() => new Thrower().forward(x())).toThrow(/^no$/);
  });

  it('leaves the input checks, which name the module already, as they are', () => {
    expect(() => extend(new Sequential(linear(4, 2, 1))).forward(x())).toThrow(
      "Linear '0': input of shape [3, 2] has 2 features in its last dimension, but the layer expects 4 (weight [2, 4])",
    );
  });
});

describe('an input of another dtype or backend than the parameters', () => {
  it('is refused before any op, naming the module, the parameter and both dtypes', () => {
    const model = extend(new Sequential(new Linear(2, 2, { backend: cpu, dtype: 'float32' })));
    expect(() => model.forward(x())).toThrow(
      "Linear '0': the input is float64 on 'cpu', but parameter 'weight' is float32 on 'cpu'; cast the input (cast(x, 'float32')) or create the module with { dtype: 'float64' }",
    );
  });

  it('is refused on another backend, naming both', () => {
    const twin = wrapBackend(cpu, 'cpu-twin');
    const input = tensor([1, 2], [1, 2], { backend: twin });
    expect(() => linear(2, 2, 1).forward(input)).toThrow(
      "Linear: the input is float64 on 'cpu-twin', but parameter 'weight' is float64 on 'cpu'; inputs and parameters must live on one backend",
    );
  });
});
