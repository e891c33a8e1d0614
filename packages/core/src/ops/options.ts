/** The options of a constructor that takes none: any key is rejected (by TypeScript, and at run time by {@link rejectUnknownOptions}). */
export type NoOptions = Readonly<Record<string, never>>;

/**
 * Throws unless every key of `options` is one of `known`: a misspelt or
 * unsupported option (`{ subsamplng: [0] }`) is an error naming the owner,
 * the unknown names and the known ones, rather than silently ignored.
 * Keys whose value is `undefined` count too (they were written).
 */
export function rejectUnknownOptions(owner: string, options: object, known: readonly string[]): void {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new TypeError(`${owner}: options must be an object, got ${Array.isArray(options) ? 'an array' : String(options)}`);
  }
  const unknown = Object.keys(options).filter((key) => !known.includes(key));
  if (unknown.length === 0) return;
  const list = unknown.map((key) => `'${key}'`).join(', ');
  const accepted = known.length === 0 ? 'it takes no options' : `known options: ${known.join(', ')}`;
  throw new TypeError(`${owner}: unknown option${unknown.length > 1 ? 's' : ''} ${list} (${accepted})`);
}
