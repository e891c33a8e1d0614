import { noGrad, type OpDerivatives } from '../tensor/autograd.js';
import { formatShape, sizeOf } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { add } from './elementwise.js';
import { permute, reshape } from './layout.js';
import { matmul } from './matmul.js';
import { leadingShape, record, wantsGrad } from './record.js';
import { broadcastTo, sum } from './sum.js';

/**
 * Einstein summation over one or two operands with explicit output, e.g.
 * `einsum('nvo,ni->voi', a, b)`. Single letters name dimensions; no ellipsis
 * and no repeated letter within one operand. Decomposed into sums, permutes,
 * reshapes and one batched matmul, so every backend supports it.
 * Three or more operands are contracted left to right.
 *
 * Recorded as one op, whose derivatives are einsums again: the cotangent of
 * an operand contracts the output's cotangent with the other operands, the
 * tangent of the output puts an operand's tangent in its place; the extra
 * leading dimensions get letters of their own.
 *
 * Sample mixing: the output's first letter is the batch letter (axis 0). An
 * operand with that letter keeps samples apart when it is its axis 0 too; an
 * operand without it is shared by every sample (a weight, as a lower-rank
 * operand of a broadcasting op). So the op mixes samples when an operand has
 * the batch letter elsewhere than at axis 0 (it contracts, or moves, that
 * operand's axis 0), or when the output is a scalar of operands that have
 * axes. Shapes cannot tell a batched operand that lacks the letter from a
 * weight: a product across samples such as `einsum('nd,md->nm', x, x)` is
 * not flagged.
 */
export function einsum(equation: string, ...operands: Tensor[]): Tensor {
  const { inputs, output } = parseEquation(equation, operands);
  const sizes = letterSizes(equation, inputs, operands);
  // The decomposition's reshapes and permutes are not recorded: their axis 0 is not the batch axis.
  const result = noGrad(() => contract(inputs, output, operands, sizes));
  return record('einsum', operands, result, () => einsumDerivatives(inputs, output, operands), einsumMixesSamples(inputs, output));
}

function contract(inputs: readonly string[], output: string, operands: readonly Tensor[], sizes: ReadonlyMap<string, number>): Tensor {
  if (operands.length === 1) return contractSingle(operands[0]!, inputs[0]!, output, sizes);
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

/**
 * Whether `letters` and `target` (the same letters) order the dimensions
 * larger than 1 alike: then they lay out the same elements in the same
 * order, and one is a reshape of the other.
 */
function sameLayout(letters: string, target: string, sizes: ReadonlyMap<string, number>): boolean {
  const moving = (order: string) => [...order].filter((c) => sizes.get(c) !== 1).join('');
  return moving(letters) === moving(target);
}

/** `x` (dimensions named by `letters`) with its dimensions in the order of `target`; a reshape where only dimensions of size 1 move. */
function permuteTo(x: Tensor, letters: string, target: string, sizes: ReadonlyMap<string, number>): Tensor {
  if (letters === target) return x;
  if (sameLayout(letters, target, sizes)) return reshape(x, [...target].map((c) => sizes.get(c)!));
  return permute(x, [...target].map((c) => letters.indexOf(c)));
}

function contractSingle(x: Tensor, letters: string, output: string, sizes: ReadonlyMap<string, number>): Tensor {
  for (const c of output) {
    if (!letters.includes(c)) throw new RangeError(`einsum: output letter '${c}' is not in the operand '${letters}'`);
  }
  const reduced = sumOut(x, letters, output);
  const result = permuteTo(reduced.tensor, reduced.letters, output, sizes);
  // A new tensor even for 'ij->ij', as every op returns (recording sets the result's gradFn).
  return result === x ? reshape(x, x.shape) : result;
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
  const la = [...lettersA].filter((c) => (lettersB + output).includes(c)).join('');
  const lb = [...lettersB].filter((c) => (lettersA + output).includes(c)).join('');

  const batch = [...output].filter((c) => la.includes(c) && lb.includes(c)).join('');
  const left = [...la].filter((c) => !lb.includes(c)).join('');
  const right = [...lb].filter((c) => !la.includes(c)).join('');
  const contracted = [...la].filter((c) => lb.includes(c) && !output.includes(c)).join('');
  const size = (letters: string) => sizeOf([...letters].map((c) => sizes.get(c)!));

  // Where the output is laid out as (batch, right, left), B·A gives it without a final copy.
  if (sameLayout(output, batch + right + left, sizes) && !sameLayout(output, batch + left + right, sizes)) {
    return contractPair(b, lettersB, a, lettersA, output, sizes);
  }
  const reducedA = sumOut(a, lettersA, lettersB + output);
  const reducedB = sumOut(b, lettersB, lettersA + output);
  // Use a transposed operand where its stored order already fits, to avoid a copy.
  const transA = sameLayout(la, batch + contracted + left, sizes) && !sameLayout(la, batch + left + contracted, sizes);
  const transB = sameLayout(lb, batch + right + contracted, sizes) && !sameLayout(lb, batch + contracted + right, sizes);
  const a3 = reshape(
    permuteTo(reducedA.tensor, la, transA ? batch + contracted + left : batch + left + contracted, sizes),
    transA ? [size(batch), size(contracted), size(left)] : [size(batch), size(left), size(contracted)],
  );
  const b3 = reshape(
    permuteTo(reducedB.tensor, lb, transB ? batch + right + contracted : batch + contracted + right, sizes),
    transB ? [size(batch), size(right), size(contracted)] : [size(batch), size(contracted), size(right)],
  );
  const product = matmul(a3, b3, transA, transB);
  const productLetters = batch + left + right;
  const unflattened = reshape(product, [...productLetters].map((c) => sizes.get(c)!));
  return permuteTo(unflattened, productLetters, output, sizes);
}

function einsumMixesSamples(inputs: readonly string[], output: string): boolean {
  const batch = output[0];
  if (batch === undefined) return inputs.some((letters) => letters.length > 0);
  return inputs.some((letters) => letters.includes(batch) && letters[0] !== batch);
}

const LETTERS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';

function einsumDerivatives(inputs: readonly string[], output: string, operands: readonly Tensor[]): OpDerivatives {
  const free = [...LETTERS].filter((c) => !inputs.some((letters) => letters.includes(c)) && !output.includes(c));
  /** Letters for `count` extra leading dimensions. */
  const leadLetters = (count: number): string => {
    if (count > free.length) {
      throw new RangeError(`einsum: no letters left for ${count} extra leading dimensions of a derivative of '${inputs.join(',')}->${output}'`);
    }
    return free.slice(0, count).join('');
  };
  return {
    vjp: (g) => {
      const lead = leadingShape(g, output.length);
      const l = leadLetters(lead.length);
      return operands.map((x, i) => {
        if (!wantsGrad(x)) return undefined;
        const sources = [l + output, ...inputs.filter((_, j) => j !== i)];
        const reachable = sources.join('');
        // Letters only this operand has were summed out in the forward pass: its cotangent is constant along them.
        const kept = [...inputs[i]!].filter((c) => reachable.includes(c)).join('');
        const others = operands.filter((_, j) => j !== i);
        // g alone, already in the operand's letters: no einsum (a scalar's '->' would not parse).
        const contracted = sources.length === 1 && kept === output ? g : einsum(`${sources.join(',')}->${l}${kept}`, g, ...others);
        if (kept.length === x.rank) return contracted;
        const withOnes = [...inputs[i]!].map((c, d) => (kept.includes(c) ? x.shape[d]! : 1));
        return broadcastTo(reshape(contracted, [...lead, ...withOnes]), [...lead, ...x.shape]);
      });
    },
    jvp: (tangents) => {
      let total: Tensor | undefined;
      tangents.forEach((t, i) => {
        if (t === undefined) return;
        const l = leadLetters(t.rank - operands[i]!.rank);
        const letters = inputs.map((s, j) => (j === i ? l + s : s));
        const term = einsum(`${letters.join(',')}->${l}${output}`, ...operands.map((x, j) => (j === i ? t : x)));
        total = total === undefined ? term : add(total, term);
      });
      return total!;
    },
  };
}
