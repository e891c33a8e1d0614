/**
 * The check BackPACK's ResNet and RNN examples run on their GGN diagonal
 * (`backpack.utils.examples.autograd_diag_ggn_exact`): a few entries of the
 * exact GGN diagonal by autograd alone, each the entry of a GGN column
 * `G e_i` from `ggnVectorProduct`, next to DiagGGNExact's, and the lines that report it.
 */
import { flattenTensors, ggnVectorProduct, unflattenVector } from '@backpack-ts/curvmatprod';
import { assertFloat, tensor, tidy, type LossModule, type Module, type Tensor } from '@backpack-ts/core';

/** One checked entry of the diagonal. */
export interface DiagonalEntry {
  /** Position in the trainable parameters flattened and concatenated. */
  readonly index: number;
  /** DiagGGNExact's value. */
  readonly backpack: number;
  /** `(G e_index)[index]` by autograd. */
  readonly autograd: number;
  /** Within `atol + rtol·|autograd|` (1e-6 and 1e-5, BackPACK's and PyTorch's `allclose`). */
  readonly match: boolean;
}

/** `count` indices spread evenly over `[0, size - 1]`, as `torch.linspace(0, size - 1, count).int()`. */
export function spreadIndices(size: number, count: number): number[] {
  return Array.from({ length: count }, (_, k) => Math.trunc((k * (size - 1)) / Math.max(count - 1, 1)));
}

/**
 * Compares `count` entries of the GGN diagonal that DiagGGNExact stored on
 * the trainable parameters with the same entries by `ggnVectorProduct` on
 * a fresh forward pass (one product per entry).
 */
export function checkDiagGgnExact(model: Module, lossFunction: LossModule, input: Tensor, target: Tensor, count = 10): DiagonalEntry[] {
  const parameters = model.parameters().filter((p) => p.requiresGrad);
  const stored = Array.from(flattenTensors(parameters.map((p) => p.diagGgnExact!)).toArray());
  return tidy(() => {
    const output = model.forward(input);
    const loss = lossFunction.forward(output, target);
    return spreadIndices(stored.length, count).map((index) => {
      const unit = new Float64Array(stored.length);
      unit[index] = 1;
      const vector = tensor(unit, [unit.length], { backend: output.backend, dtype: assertFloat('checkDiagGgnExact', output) });
      const column = ggnVectorProduct(loss, output, model, unflattenVector(vector, parameters));
      const autograd = flattenTensors(column).toArray()[index]!;
      const backpack = stored[index]!;
      return { index, backpack, autograd, match: Math.abs(backpack - autograd) <= 1e-6 + 1e-5 * Math.abs(autograd) };
    });
  });
}

/**
 * Prints BackPACK's report of the check (`Diagonal entry i: true`, one line
 * each) and throws, naming `example` and the numbers, at the first entry
 * that does not match: the example must not go on from a wrong diagonal.
 */
export function reportDiagGgnCheck(example: string, entries: readonly DiagonalEntry[], print: (line: string) => void): void {
  print('Do the exact GGN diagonals match?');
  for (const { index, match } of entries) print(`Diagonal entry ${String(index).padStart(6)}: ${match}`);
  const mismatch = entries.find((entry) => !entry.match);
  if (mismatch !== undefined) throw new Error(`${example}: DiagGGNExact entry ${mismatch.index} is ${mismatch.backpack}, autograd gives ${mismatch.autograd}`);
}
