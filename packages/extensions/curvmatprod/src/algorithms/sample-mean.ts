/** The mean of samples and its standard error (the sample standard deviation over √count). */
export interface SampleMean {
  /** The mean of the samples. */
  readonly mean: number;
  /** The sample standard deviation over √count. */
  readonly standardError: number;
}

/** The mean and standard error of `samples` (at least two). */
export function sampleMean(samples: ArrayLike<number>): SampleMean {
  const count = samples.length;
  let mean = 0;
  for (let i = 0; i < count; i++) mean += samples[i]!;
  mean /= count;
  let squares = 0;
  for (let i = 0; i < count; i++) squares += (samples[i]! - mean) ** 2;
  return { mean, standardError: Math.sqrt(squares / (count - 1) / count) };
}
