import { add, grad, square, sum, tidy, type LossModule, type Module, type Tensor } from '@backpack-ts/core';

/**
 * A training step that exercises every way a backward pass can keep its
 * graph, for leak tests of backends with manual memory: step `i` runs, by
 * `i % 3`, two backward passes over one forward pass (`retainGraph`), the
 * gradient of the squared norm of `grad(..., { createGraph: true })`, or the
 * gradient of the squared norm of `.grad` after `backward({ createGraph: true })`.
 * Each step runs in `tidy`, clears `.grad` at its end, and throws if a
 * parameter got no gradient.
 */
export function doubleBackwardStep(model: Module, lossFunction: LossModule, x: Tensor, y: Tensor): (i: number) => void {
  const parameters = model.parameters();
  const squaredNorm = (tensors: readonly Tensor[]) => tensors.map((t) => sum(square(t))).reduce((a, b) => add(a, b));
  return (i) =>
    tidy(() => {
      const loss = lossFunction.forward(model.forward(x), y);
      if (i % 3 === 0) {
        loss.backward({ retainGraph: true });
        loss.backward();
      } else if (i % 3 === 1) {
        const gradients = grad(loss, parameters.map((p) => p.data), { createGraph: true });
        squaredNorm(gradients.map((t) => t!)).backward();
      } else {
        loss.backward({ createGraph: true });
        squaredNorm(parameters.map((p) => p.grad!)).backward();
      }
      if (parameters.some((p) => p.grad === undefined)) throw new Error(`step ${i} stored no gradient`);
      model.zeroGrad();
    });
}
