/**
 * The files an import reads: the model file the caller names, and the
 * external data of its tensors. A model file is untrusted, so external data
 * is read only from regular files inside the model's folder (symbolic links
 * resolved, for the folder and the file), only the byte range the tensor
 * needs, and only after the file's type and size are checked: devices, FIFOs
 * and sockets are refused before they are opened (opening some has effects,
 * reading others never ends), absolute locations and paths leaving the
 * folder are refused outright.
 */
import type { Stats } from 'node:fs';
import { OnnxImportError } from '../errors.js';
import type { MemoryBudget } from './memory-budget.js';
import { nodeBuiltin } from './node-builtins.js';

type Fs = typeof import('node:fs');
type Path = typeof import('node:path');

/** Node's `fs` and `path`, or an error saying that files cannot be read here. */
function fileSystem(what: string): { fs: Fs; path: Path } {
  const fs = nodeBuiltin('node:fs');
  const path = nodeBuiltin('node:path');
  if (fs === undefined || path === undefined) throw new OnnxImportError(`${what}: no file system here (pass the model's bytes instead)`);
  return { fs, path };
}

/** A file system error in words. */
function reason(error: unknown): string {
  const code = (error as { code?: string }).code;
  if (code === 'ENOENT') return 'no such file';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'ELOOP') return 'too many levels of symbolic links';
  return (error as Error).message;
}

/** What kind of file `stat` describes, for messages about files that are not regular. */
function kindOf(stat: Stats): string {
  if (stat.isDirectory()) return 'a directory';
  if (stat.isFIFO()) return 'a FIFO (named pipe)';
  if (stat.isCharacterDevice()) return 'a character device';
  if (stat.isBlockDevice()) return 'a block device';
  if (stat.isSocket()) return 'a socket';
  return 'not a regular file';
}

/** `fs.realpathSync`, with failures as import errors. */
function realPath(fs: Fs, path: string, fail: (problem: string) => string): string {
  try {
    return fs.realpathSync(path);
  } catch (error) {
    throw new OnnxImportError(fail(reason(error)));
  }
}

/**
 * Opens `path` (symbolic links already resolved) for reading when it is a
 * regular file. The type is checked before the open and again on the open
 * descriptor (the file could have been replaced in between); the open does
 * not block on a FIFO and does not follow a link.
 */
function openRegularFile(fs: Fs, path: string, fail: (problem: string) => string): { fd: number; size: number } {
  let before: Stats;
  try {
    before = fs.statSync(path);
  } catch (error) {
    throw new OnnxImportError(fail(reason(error)));
  }
  if (!before.isFile()) throw new OnnxImportError(fail(`it is ${kindOf(before)}; only regular files are read`));
  const { O_RDONLY, O_NONBLOCK, O_NOFOLLOW } = fs.constants;
  let fd: number;
  try {
    fd = fs.openSync(path, O_RDONLY | (O_NONBLOCK ?? 0) | (O_NOFOLLOW ?? 0));
  } catch (error) {
    throw new OnnxImportError(fail(reason(error)));
  }
  try {
    const after = fs.fstatSync(fd);
    if (!after.isFile() || after.ino !== before.ino || after.dev !== before.dev) {
      throw new OnnxImportError(fail('the file changed while it was opened'));
    }
    return { fd, size: after.size };
  } catch (error) {
    fs.closeSync(fd);
    throw error;
  }
}

/** Reads `length` bytes at `offset` of the open file `fd`. */
function readRange(fs: Fs, fd: number, offset: number, length: number, fail: (problem: string) => string): Uint8Array {
  const out = new Uint8Array(length);
  for (let done = 0; done < length; ) {
    const count = fs.readSync(fd, out, done, length - done, offset + done);
    if (count === 0) throw new OnnxImportError(fail(`the file ended after ${offset + done} bytes (it shrank while being read)`));
    done += count;
  }
  return out;
}

/**
 * Reads the whole file at `path` (the caller's choice, so it may be a
 * symbolic link), which must be a regular file: a FIFO, device or directory
 * is refused before it is opened. `checkSize` sees the size before anything
 * is read.
 */
export function readFileBytes(path: string, checkSize: (bytes: number) => void = () => {}): Uint8Array {
  const fail = (problem: string) => `cannot read '${path}': ${problem}`;
  const { fs } = fileSystem(`cannot read '${path}'`);
  const { fd, size } = openRegularFile(fs, realPath(fs, path, fail), fail);
  try {
    checkSize(size);
    return readRange(fs, fd, 0, size, fail);
  } finally {
    fs.closeSync(fd);
  }
}

/** Reads the model file at `path`, its size reserved in `budget` first. */
export function readModelFile(path: string, budget: MemoryBudget): Uint8Array {
  return readFileBytes(path, (size) => budget.reserve(size, `the model file '${path}'`));
}

/** The folder of the model file `path`: where its external data may be. */
export function modelFolder(path: string): string {
  const { path: paths } = fileSystem(`cannot read '${path}'`);
  return paths.dirname(paths.resolve(path));
}

/** An `offset` or `length` entry of external data: a decimal integer (a string in the file). */
function byteCount(text: string | undefined, name: string, what: string): number | undefined {
  if (text === undefined) return undefined;
  const value = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(value)) {
    throw new OnnxImportError(`${what}: external data ${name} '${text}' is not an integer in [0, ${Number.MAX_SAFE_INTEGER}]`);
  }
  return value;
}

/**
 * The `byteLength` bytes of a tensor's external data (`what` names the
 * tensor): from the file `location` relative to `modelFolder`, starting at
 * `offset` (default 0), `length` bytes if given (it must equal
 * `byteLength`). Refused, naming the tensor and the path: no model folder
 * (the model came as bytes), an absolute location, a location that resolves
 * (through `..` or symbolic links) outside the model's folder, anything but
 * a regular file, and a file too short for the range.
 */
export function readExternalData(
  external: ReadonlyMap<string, string>,
  modelFolder: string | undefined,
  byteLength: number,
  what: string,
): Uint8Array {
  const location = external.get('location');
  if (location === undefined || location === '') throw new OnnxImportError(`${what}: external data without a location`);
  if (modelFolder === undefined) {
    throw new OnnxImportError(
      `${what}: its data is stored in the external file '${location}'; import the model from its path (not from bytes) so the file can be found`,
    );
  }
  const { fs, path } = fileSystem(`${what}: external data '${location}'`);
  if (location.includes('\0')) throw new OnnxImportError(`${what}: external data location '${location.replace(/\0/g, '\\0')}' contains a NUL character`);
  if (path.isAbsolute(location) || path.win32.isAbsolute(location)) {
    throw new OnnxImportError(
      `${what}: external data location '${location}' is an absolute path; only files inside the model's folder '${modelFolder}' are read, named relative to it`,
    );
  }
  const offset = byteCount(external.get('offset'), 'offset', what) ?? 0;
  const length = byteCount(external.get('length'), 'length', what);
  if (length !== undefined && length !== byteLength) {
    throw new OnnxImportError(`${what}: external data length ${length} differs from the ${byteLength} bytes its shape and element type need`);
  }
  const folder = realPath(fs, modelFolder, (problem) => `${what}: the model's folder '${modelFolder}': ${problem}`);
  const file = realPath(fs, path.resolve(folder, location), (problem) => `${what}: external data file '${location}' in '${folder}': ${problem}`);
  const relative = path.relative(folder, file);
  if (relative === '' || relative === '..' || relative.startsWith(`..${path.sep}`) || path.isAbsolute(relative)) {
    throw new OnnxImportError(
      `${what}: external data location '${location}' resolves to '${file}', outside the model's folder '${folder}'; only regular files inside the model's folder are read`,
    );
  }
  const fail = (problem: string) => `${what}: external data file '${file}': ${problem}`;
  const { fd, size } = openRegularFile(fs, file, fail);
  try {
    if (offset + byteLength > size) {
      throw new OnnxImportError(fail(`it has ${size} bytes, but the tensor needs bytes [${offset}, ${offset + byteLength}) (${byteLength} bytes from offset ${offset})`));
    }
    return readRange(fs, fd, offset, byteLength, fail);
  } finally {
    fs.closeSync(fd);
  }
}
