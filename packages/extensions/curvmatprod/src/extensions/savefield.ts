/** The options every curvature-product extension takes. */
export interface CurvatureProductOptions {
  /**
   * The parameter field the products are stored under (BackPACK's
   * `savefield`; default the extension's own: `hmp`, `ggnmp`, `pchmp`).
   * Another name lets two of the same extension run in one backward pass,
   * e.g. `PCHMP({ modify: 'abs', savefield: 'pchmpAbs' })` next to
   * `PCHMP()`. TypeScript does not know the new field: declare it by module
   * augmentation (see the README).
   */
  readonly savefield?: string;
}

/** Members of every `Parameter` (core's), which a stored quantity must not overwrite. */
const PARAMETER_MEMBERS: readonly string[] = ['data', 'grad', 'version', 'requiresGrad'];

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/**
 * The field `extension` stores its products under: `savefield` if given,
 * else `fallback`. Refuses a name that is not an identifier, or that is a
 * member of `Parameter` or of every object (`constructor`, `__proto__`, ...),
 * naming the extension and the field.
 */
export function curvatureProductSavefield(extension: string, savefield: string | undefined, fallback: string): string {
  if (savefield === undefined) return fallback;
  if (typeof savefield !== 'string' || !IDENTIFIER.test(savefield)) {
    throw new RangeError(`${extension}: savefield must be a non-empty identifier (letters, digits, _ or $, not starting with a digit), got ${JSON.stringify(savefield)}`);
  }
  if (PARAMETER_MEMBERS.includes(savefield) || savefield in Object.prototype) {
    throw new RangeError(
      `${extension}: savefield '${savefield}' is taken by every Parameter (its members ${PARAMETER_MEMBERS.join(', ')} and those of Object.prototype); choose another name`,
    );
  }
  return savefield;
}
