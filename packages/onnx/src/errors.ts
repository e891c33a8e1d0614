/**
 * Errors that a user of the importer or the command line can act on: a
 * malformed file, an operator that is not supported, an input that does not
 * fit. The CLI prints their message alone (no stack trace) and exits with
 * code 2; anything else is a bug and is printed with its stack.
 */
export class UserError extends Error {
  override name = 'UserError';
}

/** An ONNX model that cannot be imported: names the node, its op type and what is supported. */
export class OnnxImportError extends UserError {
  override name = 'OnnxImportError';
}

/** An input tensor (or target) that does not fit the imported model. */
export class OnnxInputError extends UserError {
  override name = 'OnnxInputError';
}

/** Whether `error` is one the user can fix (message only, exit code 2). */
export function isUserError(error: unknown): error is Error {
  return error instanceof UserError;
}
