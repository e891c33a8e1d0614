import { formatShape, sizeOf } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { permute, reshape } from './layout.js';
import { matmul } from './matmul.js';
import { sum } from './reduce.js';

/**
 * Einstein summation over one or two operands with explicit output, e.g.
 * `einsum('nvo,ni->voi', a, b)`. Single letters name dimensions; no ellipsis
 * and no repeated letter within one operand. Decomposed into sums, permutes,
 * reshapes and one batched matmul, so every backend supports it.
 * Three or more operands are contracted left to right.
 */
export function einsum(equation: string, ...operands: Tensor[]): Tensor {
  const { inputs, output } = parseEquation(equation, operands);
  const sizes = letterSizes(equation, inputs, operands);
  if (operands.length === 1) return contractSingle(operands[0]!, inputs[0]!, output);
  let current = operands[0]!;
  let currentLetters = inputs[0]!;
  for (let i = 1; i < operands.length; i++) {
    const rest = inputs.slice(i + 1).join('') + output;
    const isLast = i === operands.length - 1;
    // Keep every letter a later operand or the output still needs.
    const keepLetters = isLast ? output : uniqueLetters(currentLetters + inputs[i]!).filter((c) => rest.includes(c)).join('');
    current = contractPair(current, currentLetters, operands[i]!, inputs[i]!, keepLetters, sizes);
    currentLetters = keepLetters;
  }
  return current;
}

function parseEquation(equation: string, operands: readonly Tensor[]): { inputs: string[]; output: string } {
  const match = /^([a-zA-Z,]+)->([a-zA-Z]*)$/.exec(equation.replace(/\s+/g, ''));
  if (!match) throw new SyntaxError(`einsum: '${equation}' is not of the form 'ab,bc->ac' (explicit output, letters only)`);
  const inputs = match[1]!.split(',');
  const output = match[2]!;
  if (inputs.length !== operands.length) {
    throw new RangeError(`einsum: '${equation}' names ${inputs.length} operands, got ${operands.length}`);
  }
  for (const letters of [...inputs, output]) {
    if (new Set(letters).size !== letters.length) {
      throw new SyntaxError(`einsum: '${equation}': a letter repeats within '${letters}' (diagonals are not supported)`);
    }
  }
  return { inputs, output };
}

function letterSizes(equation: string, inputs: readonly string[], operands: readonly Tensor[]): Map<string, number> {
  const sizes = new Map<string, number>();
  inputs.forEach((letters, i) => {
    const shape = operands[i]!.shape;
    if (letters.length !== shape.length) {
      throw new RangeError(`einsum: '${equation}': operand ${i} has shape ${formatShape(shape)} but '${letters}' names ${letters.length} dimensions`);
    }
    [...letters].forEach((c, d) => {
      const known = sizes.get(c);
      if (known !== undefined && known !== shape[d]) {
        throw new RangeError(`einsum: '${equation}': dimension '${c}' is ${known} in one operand and ${shape[d]} in another`);
      }
      sizes.set(c, shape[d]!);
    });
  });
  return sizes;
}

function uniqueLetters(letters: string): string[] {
  return [...new Set(letters)];
}

/** Sums the letters of `x` that are not in `keep`; returns the result and its letters. */
function sumOut(x: Tensor, letters: string, keep: string): { tensor: Tensor; letters: string } {
  const axes = [...letters].flatMap((c, i) => (keep.includes(c) ? [] : [i]));
  if (axes.length === 0) return { tensor: x, letters };
  return { tensor: sum(x, axes), letters: [...letters].filter((c) => keep.includes(c)).join('') };
}

function permuteTo(x: Tensor, letters: string, target: string): Tensor {
  if (letters === target) return x;
  return permute(x, [...target].map((c) => letters.indexOf(c)));
}

function contractSingle(x: Tensor, letters: string, output: string): Tensor {
  for (const c of output) {
    if (!letters.includes(c)) throw new RangeError(`einsum: output letter '${c}' is not in the operand '${letters}'`);
  }
  const reduced = sumOut(x, letters, output);
  return permuteTo(reduced.tensor, reduced.letters, output);
}

function contractPair(
  a: Tensor,
  lettersA: string,
  b: Tensor,
  lettersB: string,
  output: string,
  sizes: ReadonlyMap<string, number>,
): Tensor {
  for (const c of output) {
    if (!lettersA.includes(c) && !lettersB.includes(c)) {
      throw new RangeError(`einsum: output letter '${c}' is in no operand`);
    }
  }
  // Letters only one operand has and the output drops can be summed right away.
  const reducedA = sumOut(a, lettersA, lettersB + output);
  const reducedB = sumOut(b, lettersB, lettersA + output);
  const la = reducedA.letters;
  const lb = reducedB.letters;

  const batch = [...output].filter((c) => la.includes(c) && lb.includes(c)).join('');
  const left = [...la].filter((c) => !lb.includes(c)).join('');
  const right = [...lb].filter((c) => !la.includes(c)).join('');
  const contracted = [...la].filter((c) => lb.includes(c) && !output.includes(c)).join('');
  const size = (letters: string) => sizeOf([...letters].map((c) => sizes.get(c)!));

  // Use a transposed operand where its stored order already fits, to avoid a copy.
  const transA = la === batch + contracted + left && la !== batch + left + contracted;
  const transB = lb === batch + right + contracted && lb !== batch + contracted + right;
  const a3 = reshape(
    permuteTo(reducedA.tensor, la, transA ? batch + contracted + left : batch + left + contracted),
    transA ? [size(batch), size(contracted), size(left)] : [size(batch), size(left), size(contracted)],
  );
  const b3 = reshape(
    permuteTo(reducedB.tensor, lb, transB ? batch + right + contracted : batch + contracted + right),
    transB ? [size(batch), size(right), size(contracted)] : [size(batch), size(contracted), size(right)],
  );
  const product = matmul(a3, b3, transA, transB);
  const productLetters = batch + left + right;
  const unflattened = reshape(product, [...productLetters].map((c) => sizes.get(c)!));
  return permuteTo(unflattened, productLetters, output);
}
