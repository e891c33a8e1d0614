/** Histograms of per-sample gradient norms, as plain arrays (the page's state is read as JSON by the browser test). */
export interface Histogram {
  /** `bins + 1` bin edges from 0 to the upper end. */
  readonly edges: number[];
  /** Values per bin; they add up to the number of values. */
  readonly counts: number[];
}

/**
 * `bins` equal bins over [0, upper]: a value v goes to bin floor(v / width),
 * the upper end itself to the last bin. Throws on a value outside [0, upper].
 */
export function histogram(values: ArrayLike<number>, bins: number, upper: number): Histogram {
  if (!Number.isInteger(bins) || bins < 1) throw new RangeError(`histogram: bins must be a positive integer, got ${bins}`);
  if (!(upper > 0) || !Number.isFinite(upper)) throw new RangeError(`histogram: the upper end must be a finite number > 0, got ${upper}`);
  const width = upper / bins;
  const counts = new Array<number>(bins).fill(0);
  for (let i = 0; i < values.length; i++) {
    const value = values[i]!;
    if (!(value >= 0 && value <= upper)) throw new RangeError(`histogram: value ${value} is outside [0, ${upper}]`);
    counts[Math.min(Math.floor(value / width), bins - 1)]!++;
  }
  return { edges: Array.from({ length: bins + 1 }, (_, i) => i * width), counts };
}
