/**
 * Errors that a user of the importer or the command line can act on: a
 * malformed file, an operator that is not supported, an input that does not
 * fit. The CLI prints their message alone (no stack trace) and exits with
 * code 2; anything else is a bug and is printed with its stack.
 */
export class UserError extends Error {
  /** `'UserError'`, to tell the error apart without `instanceof`. */
  override name = 'UserError';
}

/** An ONNX model that cannot be imported: names the node, its op type and what is supported. */
export class OnnxImportError extends UserError {
  /** `'OnnxImportError'`, to tell the error apart without `instanceof`. */
  override name = 'OnnxImportError';
}

/** An input tensor (or target) that does not fit the imported model. */
export class OnnxInputError extends UserError {
  /** `'OnnxInputError'`, to tell the error apart without `instanceof`. */
  override name = 'OnnxInputError';
}

/**
 * An import refused because it would allocate more memory than its limit
 * (`ImportOptions.memoryLimitBytes`, the CLI's `--memory-limit`). Thrown
 * before the allocation; the message gives the estimate and what to change.
 */
export class OnnxMemoryLimitError extends UserError {
  /** `'OnnxMemoryLimitError'`, to tell the error apart without `instanceof`. */
  override name = 'OnnxMemoryLimitError';

  constructor(
    message: string,
    /** What the import would have held at this point, in bytes (an estimate). */
    readonly estimateBytes: number,
    /** The limit it exceeds, in bytes. */
    readonly limitBytes: number,
  ) {
    super(message);
  }
}

/** Whether `error` is one the user can fix (message only, exit code 2). */
export function isUserError(error: unknown): error is Error {
  return error instanceof UserError;
}
