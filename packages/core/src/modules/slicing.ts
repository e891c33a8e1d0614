import type { GraphNode } from './leaf-module.js';
import { pad, reshape, slice } from '../ops/layout.js';
import { formatShape } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { expectFloatInput, expectInputCount } from './input-checks.js';
import { LeafModule } from './leaf-module.js';
import { sameJacobianJacTMatJac } from './same-jacobian.js';

/** A Python slice `start:stop:step`; `null` or absent is Python's default (0, the end, 1). */
export interface SliceRange {
  /** First index (negative counts from the end). */
  readonly start?: number | null;
  /** One past the last index (negative counts from the end). */
  readonly stop?: number | null;
  /** Distance between kept indices, at least 1. */
  readonly step?: number | null;
}

/** One axis of basic indexing: an index (the axis disappears; negative counts from the end) or a range. */
export type SliceEntry = number | SliceRange;

/** What one input axis contributes: the block `start, start + step, ...` of `count` entries, kept as an axis or not. */
interface AxisPlan {
  readonly start: number;
  readonly step: number;
  readonly count: number;
  /** Extent of the contiguous block that holds the entries: `(count - 1) · step + 1` (0 when empty). */
  readonly extent: number;
  /** False for an integer index: the axis disappears. */
  readonly kept: boolean;
}

function isFullRange(entry: SliceEntry): boolean {
  return typeof entry !== 'number' && (entry.start ?? 0) === 0 && entry.stop == null && (entry.step ?? 1) === 1;
}

function describeEntry(entry: SliceEntry): string {
  if (typeof entry === 'number') return String(entry);
  const part = (v: number | null | undefined) => (v == null ? '' : String(v));
  return `${part(entry.start)}:${part(entry.stop)}${entry.step == null || entry.step === 1 ? '' : `:${entry.step}`}`;
}

/**
 * Basic indexing as PyTorch's `input[sliceInfo]` (BackPACK's `Slicing`):
 * one entry per leading axis, the first (batch) axis always the full range
 * `{}`; an integer picks one index and drops the axis (negative counts from
 * the end), a {@link SliceRange} keeps every `step`-th entry of `start:stop`
 * (Python's clamping, step >= 1). Axes beyond `sliceInfo` are kept whole.
 *
 * Its Jacobian selects entries, the same for every sample; the transposed
 * product scatters back (zeros elsewhere).
 */
export class Slicing extends LeafModule {
  readonly typeName = 'Slicing';
  /** One entry per leading axis, the batch axis first (always the full slice). */
  readonly sliceInfo: readonly SliceEntry[];

  constructor(sliceInfo: readonly SliceEntry[]) {
    super();
    const text = `[${sliceInfo.map(describeEntry).join(', ')}]`;
    if (sliceInfo.length === 0 || !isFullRange(sliceInfo[0]!)) {
      throw new RangeError(`Slicing: the first entry (the batch axis) must be the full range {}, got ${text}`);
    }
    for (const entry of sliceInfo) {
      const bounds = typeof entry === 'number' ? [entry] : [entry.start, entry.stop, entry.step];
      if (bounds.some((v) => v != null && !Number.isInteger(v)) || (typeof entry !== 'number' && entry.step != null && entry.step < 1)) {
        throw new RangeError(`Slicing: entries must be integers or ranges of integers with step >= 1, got ${text}`);
      }
    }
    this.sliceInfo = sliceInfo.map((entry) => (typeof entry === 'number' ? entry : { ...entry }));
  }

  /** `input[sliceInfo]` as PyTorch would write it, e.g. `[:, 1::2, 0:2]`. */
  describeIndex(): string {
    return `[${this.sliceInfo.map(describeEntry).join(', ')}]`;
  }

  /** The plan for each axis of an input of shape `shape` (batch included); throws for an index out of range. */
  private plan(shape: readonly number[]): AxisPlan[] {
    return shape.map((dim, axis): AxisPlan => {
      const entry = this.sliceInfo[axis] ?? {};
      if (typeof entry === 'number') {
        const index = entry < 0 ? entry + dim : entry;
        if (index < 0 || index >= dim) {
          throw new RangeError(`${this.describe()}: index ${entry} is out of range for axis ${axis} of size ${dim} (input ${formatShape(shape)}, index ${this.describeIndex()})`);
        }
        return { start: index, step: 1, count: 1, extent: 1, kept: false };
      }
      const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + dim : v, 0), dim);
      const start = entry.start == null ? 0 : clamp(entry.start);
      const stop = entry.stop == null ? dim : clamp(entry.stop);
      const step = entry.step ?? 1;
      const count = Math.max(0, Math.ceil((stop - start) / step));
      return { start: count === 0 ? 0 : start, step, count, extent: count === 0 ? 0 : (count - 1) * step + 1, kept: true };
    });
  }

  protected checkInputs(inputs: readonly Tensor[]): void {
    expectInputCount(this, inputs, 1);
    const x = inputs[0]!;
    expectFloatInput(this, x, 1);
    if (this.sliceInfo.length > x.rank) {
      throw new RangeError(`${this.describe()}: index ${this.describeIndex()} has ${this.sliceInfo.length} entries, more than the ${x.rank} dimensions of input ${formatShape(x.shape)}`);
    }
    this.plan(x.shape);
  }

  protected compute(inputs: readonly Tensor[]): Tensor {
    const x = inputs[0]!;
    const plans = this.plan(x.shape);
    let out = slice(x, plans.map((p) => p.start), plans.map((p) => p.extent));
    plans.forEach((p, axis) => {
      if (p.step > 1 && p.count > 1) out = everyStep(out, axis, p);
    });
    return reshape(out, plans.filter((p) => p.kept).map((p) => p.count));
  }

  /** `[V, N, ...out] -> [V, N, ...in]`: the entries go back to where they were taken from, zeros elsewhere. */
  jacTMatProd(node: GraphNode, mat: Tensor): Tensor {
    const inShape = node.input.shape.slice(1);
    // Axis 0 of the plan is the batch; `mat` has V in front of it.
    const plans = this.plan([mat.shape[1]!, ...inShape]);
    let out = reshape(mat, [mat.shape[0]!, ...plans.map((p) => p.count)]);
    plans.forEach((p, axis) => {
      if (p.step > 1 && p.count > 1) out = spreadSteps(out, axis + 1, p);
    });
    const before = [0, ...plans.map((p) => p.start)];
    const after = [0, ...plans.map((p, axis) => (axis === 0 ? 0 : inShape[axis - 1]! - p.start - p.extent))];
    return before.some((b) => b > 0) || after.some((a) => a > 0) ? pad(out, before, after) : out;
  }

  override eaJacTMatJacProd(node: GraphNode, mat: Tensor): Tensor {
    return sameJacobianJacTMatJac(this, node, mat);
  }
}

/** Every `step`-th entry along `axis` of a block of extent `(count - 1) · step + 1`. */
function everyStep(x: Tensor, axis: number, { step, count, extent }: AxisPlan): Tensor {
  const [outer, inner] = [x.shape.slice(0, axis), x.shape.slice(axis + 1)];
  const zeros = x.shape.map(() => 0);
  const padded = pad(x, zeros, x.shape.map((_, i) => (i === axis ? count * step - extent : 0)));
  const grouped = reshape(padded, [...outer, count, step, ...inner]);
  const first = slice(grouped, [], [...outer, count, 1, ...inner]);
  return reshape(first, [...outer, count, ...inner]);
}

/** The transpose of {@link everyStep}: `count` entries along `axis` placed `step` apart in a block of extent `(count - 1) · step + 1`. */
function spreadSteps(x: Tensor, axis: number, { step, count, extent }: AxisPlan): Tensor {
  const [outer, inner] = [x.shape.slice(0, axis), x.shape.slice(axis + 1)];
  const grouped = reshape(x, [...outer, count, 1, ...inner]);
  const rank = grouped.rank;
  const spread = pad(grouped, new Array<number>(rank).fill(0), grouped.shape.map((_, i) => (i === axis + 1 ? step - 1 : 0)));
  const flat = reshape(spread, [...outer, count * step, ...inner]);
  return slice(flat, [], [...outer, extent, ...inner]);
}
