/**
 * Writing a result of `backpack-ts quantities`, in one of three formats:
 *
 * - `json`: `{"loss", "output", "quantities"}`, streamed in chunks (never one
 *   giant string); NaN, Infinity and -Infinity are written as the strings
 *   `"NaN"`, `"Infinity"` and `"-Infinity"`, which `parseJsonTensor` reads back.
 * - `npz`: a zip (stored, no compression; ZIP64 where sizes, offsets or the
 *   number of entries need it) of `.npy` arrays that `numpy.load` reads:
 *   `loss`, `output`, `<extension>/<parameter>` and, for Kronecker factors,
 *   `<extension>/<parameter>.<i>`, plus `index.json` (see below).
 * - `npy-dir`: a folder with the same `.npy` files and `index.json`.
 *
 * Names in the binary formats are percent-encoded (`encodeURIComponent`),
 * so a parameter name is always one path component; `index.json` maps the
 * names as they are to the files. Binary formats keep every value exactly.
 *
 * Files are written atomically: into a temporary file (or folder) next to
 * the target, flushed to disk, then renamed over it; on any error the
 * temporary is removed and a previous result is left as it was.
 */
import * as nodeFs from 'node:fs';
import { randomBytes } from 'node:crypto';
import { endianness } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { crc32 } from 'node:zlib';
import { UserError } from '../errors.js';
import type { QuantitiesResult, ResultQuantity, ResultTensor } from '../quantities.js';
import { jsonNumber } from '../tensor-io.js';

/** The output formats of `--format`. */
export const OUTPUT_FORMATS = ['json', 'npz', 'npy-dir'] as const;
/** One of {@link OUTPUT_FORMATS}. */
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/** The file-system calls the writers make: `node:fs` by default; tests pass one that fails on purpose. */
export type OutputFileSystem = Pick<
  typeof nodeFs,
  'openSync' | 'writeSync' | 'fsyncSync' | 'closeSync' | 'renameSync' | 'rmSync' | 'mkdirSync' | 'statSync' | 'accessSync' | 'constants'
>;

/**
 * The format for `--out path` and `--format`: the one named, else from the
 * path (`.npz`: npz; ending in `/` or an existing folder: npy-dir; else
 * json). Binary formats need a path (they are not written to standard output).
 */
export function resolveOutputFormat(path: string | undefined, format: string | undefined, fs: OutputFileSystem = nodeFs): OutputFormat {
  if (format !== undefined) {
    const known = OUTPUT_FORMATS.find((f) => f === format);
    if (known === undefined) throw new UserError(`--format must be one of ${OUTPUT_FORMATS.join(', ')}, got '${format}'`);
    if (known !== 'json' && path === undefined) throw new UserError(`--format ${known} writes files: give --out <${known === 'npz' ? 'file.npz' : 'folder/'}>`);
    return known;
  }
  if (path === undefined) return 'json';
  if (/\.npz$/i.test(path)) return 'npz';
  if (/[/\\]$/.test(path) || isDirectory(fs, path)) return 'npy-dir';
  return 'json';
}

function isDirectory(fs: OutputFileSystem, path: string): boolean {
  return fs.statSync(path, { throwIfNoEntry: false })?.isDirectory() === true;
}

/**
 * Checks, before anything is computed, that `path` can receive a result in
 * `format`: its folder exists and is writable, and an existing `path` is a
 * file (json, npz) or a folder (npy-dir). Throws a UserError naming `--out`.
 */
export function checkOutputTarget(path: string, format: OutputFormat, fs: OutputFileSystem = nodeFs, shown = path): void {
  const target = stripSlash(path);
  const folder = dirname(target);
  if (!isDirectory(fs, folder)) throw new UserError(`--out ${shown}: the folder ${folder} does not exist`);
  try {
    fs.accessSync(folder, fs.constants.W_OK);
  } catch {
    throw new UserError(`--out ${shown}: the folder ${folder} is not writable`);
  }
  const existing = fs.statSync(target, { throwIfNoEntry: false });
  if (existing === undefined) return;
  if (format === 'npy-dir' && !existing.isDirectory()) throw new UserError(`--out ${shown}: exists and is not a folder (npy-dir writes a folder)`);
  if (format !== 'npy-dir' && existing.isDirectory()) {
    throw new UserError(`--out ${shown}: is a folder; name a file, or write a folder of .npy files with --format npy-dir`);
  }
}

function stripSlash(path: string): string {
  return path.length > 1 ? path.replace(/[/\\]+$/, '') : path;
}

// ---------------------------------------------------------------- JSON

/** Numbers per chunk of the JSON writer (about a megabyte of text). */
const JSON_CHUNK = 1 << 16;

function jsonValues(data: Float64Array, write: (text: string) => void): void {
  write('[');
  for (let start = 0; start < data.length; start += JSON_CHUNK) {
    const chunk = data.subarray(start, Math.min(data.length, start + JSON_CHUNK));
    let finite = true;
    for (let i = 0; i < chunk.length && finite; i++) finite = Number.isFinite(chunk[i]!);
    // join() writes numbers as JSON does; only NaN and ±Infinity need the strings.
    const text = finite ? chunk.join(',') : Array.from(chunk, jsonNumber).join(',');
    write(start === 0 ? text : `,${text}`);
  }
  write(']');
}

function jsonTensor(t: ResultTensor, write: (text: string) => void): void {
  write(`{"shape":${JSON.stringify(t.shape)},"data":`);
  jsonValues(t.data, write);
  write('}');
}

function jsonQuantity(q: ResultQuantity, write: (text: string) => void): void {
  if (!Array.isArray(q)) return jsonTensor(q, write);
  write('[');
  q.forEach((t, i) => {
    if (i > 0) write(',');
    jsonTensor(t, write);
  });
  write(']');
}

/**
 * Writes `result` as JSON through `write`, in chunks of at most about a
 * megabyte: `{"loss": number, "output": {shape, data}, "quantities":
 * {extension: {parameter: {shape, data} | [{shape, data}, ...]}}}`, with
 * NaN, Infinity and -Infinity as the strings `"NaN"`, `"Infinity"`, `"-Infinity"`.
 */
export function writeResultJson(result: QuantitiesResult, write: (text: string) => void): void {
  write(`{"loss":${jsonNumber(result.loss)},"output":`);
  jsonTensor(result.output, write);
  write(',"quantities":{');
  Object.keys(result.quantities).forEach((extension, i) => {
    write(`${i > 0 ? ',' : ''}${JSON.stringify(extension)}:{`);
    const byParameter = result.quantities[extension]!;
    Object.keys(byParameter).forEach((parameter, j) => {
      write(`${j > 0 ? ',' : ''}${JSON.stringify(parameter)}:`);
      jsonQuantity(byParameter[parameter]!, write);
    });
    write('}');
  });
  write('}}');
}

// ---------------------------------------------------------------- arrays of the binary formats

/** One array of a result: what it is, where it goes in the binary formats, and its values. */
export interface ResultArray {
  /** For messages: `loss`, `output`, `BatchGrad 1.weight`, `KFLR 1.weight factor 0`. */
  readonly label: string;
  /** Relative path in the npz or the folder, e.g. `BatchGrad/1.weight.npy`. */
  readonly file: string;
  /** Dimensions. */
  readonly shape: readonly number[];
  /** The elements, row-major. */
  readonly data: Float64Array;
}

/** A file of `index.json`: where an array is and what it holds. */
interface IndexEntry {
  readonly file: string;
  readonly shape: readonly number[];
  readonly dtype: 'float64';
}

/**
 * Every array of `result` in order (loss, output, then each quantity), and
 * the `index.json` that maps the names as they are to the files.
 */
export function resultArrays(result: QuantitiesResult): {
  /** Every array, in order. */
  arrays: ResultArray[];
  /** The content of `index.json`. */
  index: object;
} {
  const arrays: ResultArray[] = [];
  const add = (label: string, file: string, t: ResultTensor): IndexEntry => {
    arrays.push({ label, file, shape: t.shape, data: t.data });
    return { file, shape: t.shape, dtype: 'float64' };
  };
  add('loss', 'loss.npy', { shape: [], data: Float64Array.of(result.loss) });
  const output = add('output', 'output.npy', result.output);
  const quantities: Record<string, Record<string, IndexEntry | IndexEntry[]>> = Object.create(null);
  for (const extension of Object.keys(result.quantities)) {
    const byParameter = result.quantities[extension]!;
    const entries: Record<string, IndexEntry | IndexEntry[]> = (quantities[extension] = Object.create(null));
    for (const parameter of Object.keys(byParameter)) {
      const q = byParameter[parameter]!;
      const stem = `${encodeURIComponent(extension)}/${encodeURIComponent(parameter)}`;
      entries[parameter] = Array.isArray(q)
        ? q.map((t, i) => add(`${extension} ${parameter} factor ${i}`, `${stem}.${i}.npy`, t))
        : add(`${extension} ${parameter}`, `${stem}.npy`, q);
    }
  }
  const loss = Number.isFinite(result.loss) ? result.loss : String(result.loss);
  const index = { format: 'backpack-ts quantities 1', loss, output, quantities };
  return { arrays, index };
}

/** The `.npy` header (format 1.0, float64 little- or big-endian as this machine) of an array; data follows it, aligned to 64 bytes. */
export function npyHeader(shape: readonly number[]): Uint8Array {
  const descr = `${endianness() === 'LE' ? '<' : '>'}f8`;
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  const dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  const padding = (64 - ((10 + dict.length + 1) % 64)) % 64;
  const text = `${dict}${' '.repeat(padding)}\n`;
  const header = new Uint8Array(10 + text.length);
  header.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  new DataView(header.buffer).setUint16(8, text.length, true);
  header.set(new TextEncoder().encode(text), 10);
  return header;
}

/** Bytes per view of an array's bytes: a byte view cannot be longer than 2^32 - 1. */
const VIEW_BYTES = 2 ** 30;

/** The bytes of `data`, as views of at most {@link VIEW_BYTES}. */
function bytesOf(data: Float64Array): Uint8Array[] {
  const views: Uint8Array[] = [];
  for (let at = 0; at < data.byteLength; at += VIEW_BYTES) {
    views.push(new Uint8Array(data.buffer, data.byteOffset + at, Math.min(VIEW_BYTES, data.byteLength - at)));
  }
  return views;
}

// ---------------------------------------------------------------- sinks

/** Where the zip writer puts bytes, in order, and how many it has put. */
export interface ByteSink {
  /** Appends `data`. */
  bytes(data: Uint8Array): void;
  /** Bytes written so far. */
  readonly position: number;
}

/** Buffered sequential writes to an open file; counts the bytes written. */
class FileSink implements ByteSink {
  private readonly buffer = new Uint8Array(1 << 20);
  private used = 0;
  /** Bytes written so far (buffered ones included). */
  position = 0;

  constructor(
    private readonly fs: OutputFileSystem,
    private readonly fd: number,
  ) {}

  bytes(data: Uint8Array): void {
    if (this.used + data.length > this.buffer.length) this.flush();
    if (data.length >= this.buffer.length) this.writeAll(data);
    else {
      this.buffer.set(data, this.used);
      this.used += data.length;
    }
    this.position += data.length;
  }

  text(text: string): void {
    this.bytes(Buffer.from(text, 'utf8'));
  }

  flush(): void {
    this.writeAll(this.buffer.subarray(0, this.used));
    this.used = 0;
  }

  private writeAll(data: Uint8Array): void {
    for (let offset = 0; offset < data.length; ) {
      offset += this.fs.writeSync(this.fd, data, offset, Math.min(data.length - offset, VIEW_BYTES));
    }
  }
}

/** Creates `path` (which must not exist), writes it through a sink, flushes it to disk and closes it. */
function writeNewFile(fs: OutputFileSystem, path: string, write: (sink: FileSink) => void): void {
  const fd = fs.openSync(path, 'wx');
  try {
    const sink = new FileSink(fs, fd);
    write(sink);
    sink.flush();
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

// ---------------------------------------------------------------- zip

const U32 = 0xffffffff;
const U16 = 0xffff;

/** MS-DOS time and date of `when` (the zip's timestamps). */
function dosDateTime(when: Date): { time: number; date: number } {
  const year = Math.max(1980, when.getFullYear());
  return {
    time: (when.getHours() << 11) | (when.getMinutes() << 5) | Math.floor(when.getSeconds() / 2),
    date: ((year - 1980) << 9) | ((when.getMonth() + 1) << 5) | when.getDate(),
  };
}

/** Little-endian record builder. */
class LittleEndian {
  private readonly parts: number[] = [];
  u16(v: number): this {
    this.parts.push(v & 0xff, (v >>> 8) & 0xff);
    return this;
  }
  u32(v: number): this {
    return this.u16(v % 0x10000).u16(Math.floor(v / 0x10000));
  }
  u64(v: number): this {
    return this.u32(v % 0x100000000).u32(Math.floor(v / 0x100000000));
  }
  bytes(b: Uint8Array): this {
    for (const x of b) this.parts.push(x);
    return this;
  }
  finish(): Uint8Array {
    return Uint8Array.from(this.parts);
  }
}

interface ZipMember {
  readonly name: string;
  readonly parts: readonly Uint8Array[];
}

/**
 * Writes a zip of stored (uncompressed) members: sizes, CRC-32 and offsets
 * in the local and central headers, ZIP64 extra fields for members whose
 * size or offset does not fit 32 bits, and the ZIP64 end records when the
 * directory's offset, size or member count does not fit the classic ones.
 */
function writeZip(sink: ByteSink, members: Iterable<ZipMember>): void {
  const { time, date } = dosDateTime(new Date());
  const central: Uint8Array[] = [];
  let count = 0;
  for (const member of members) {
    const name = Buffer.from(member.name, 'utf8');
    const size = member.parts.reduce((s, p) => s + p.length, 0);
    const crc = member.parts.reduce((c, p) => crc32(p, c), 0) >>> 0;
    const offset = sink.position;
    const bigSize = size >= U32;
    const bigOffset = offset >= U32;
    const version = bigSize || bigOffset ? 45 : 20;
    const local = new LittleEndian()
      .u32(0x04034b50)
      .u16(version)
      .u16(0x0800) // names are UTF-8
      .u16(0) // stored
      .u16(time)
      .u16(date)
      .u32(crc)
      .u32(bigSize ? U32 : size)
      .u32(bigSize ? U32 : size)
      .u16(name.length)
      .u16(bigSize ? 20 : 0)
      .bytes(name);
    if (bigSize) local.u16(0x0001).u16(16).u64(size).u64(size);
    sink.bytes(local.finish());
    for (const part of member.parts) sink.bytes(part);
    const extra = new LittleEndian();
    if (bigSize) extra.u64(size).u64(size);
    if (bigOffset) extra.u64(offset);
    const extraBytes = extra.finish();
    const header = new LittleEndian()
      .u32(0x02014b50)
      .u16(version)
      .u16(version)
      .u16(0x0800)
      .u16(0)
      .u16(time)
      .u16(date)
      .u32(crc)
      .u32(bigSize ? U32 : size)
      .u32(bigSize ? U32 : size)
      .u16(name.length)
      .u16(extraBytes.length === 0 ? 0 : extraBytes.length + 4)
      .u16(0) // comment
      .u16(0) // disk
      .u16(0) // internal attributes
      .u32(0) // external attributes
      .u32(bigOffset ? U32 : offset)
      .bytes(name);
    if (extraBytes.length > 0) header.u16(0x0001).u16(extraBytes.length).bytes(extraBytes);
    central.push(header.finish());
    count++;
  }
  const directoryOffset = sink.position;
  for (const header of central) sink.bytes(header);
  const directorySize = sink.position - directoryOffset;
  const zip64 = count >= U16 || directoryOffset >= U32 || directorySize >= U32;
  if (zip64) {
    const recordOffset = sink.position;
    sink.bytes(
      new LittleEndian()
        .u32(0x06064b50)
        .u64(44) // size of the rest of this record
        .u16(45)
        .u16(45)
        .u32(0)
        .u32(0)
        .u64(count)
        .u64(count)
        .u64(directorySize)
        .u64(directoryOffset)
        .finish(),
    );
    sink.bytes(new LittleEndian().u32(0x07064b50).u32(0).u64(recordOffset).u32(1).finish());
  }
  sink.bytes(
    new LittleEndian()
      .u32(0x06054b50)
      .u16(0)
      .u16(0)
      .u16(zip64 ? U16 : count)
      .u16(zip64 ? U16 : count)
      .u32(zip64 ? U32 : directorySize)
      .u32(zip64 ? U32 : directoryOffset)
      .u16(0)
      .finish(),
  );
}

/**
 * Writes `result` as a `.npz` to an open sink (see the module comment for
 * the member names). Exported for tests that check ZIP64 on sinks that do
 * not keep the bytes; {@link writeResult} is the way to write a file.
 */
export function writeResultNpz(result: QuantitiesResult, sink: ByteSink): void {
  const { arrays, index } = resultArrays(result);
  function* members(): Generator<ZipMember> {
    for (const a of arrays) yield { name: a.file, parts: [npyHeader(a.shape), ...bytesOf(a.data)] };
    yield { name: 'index.json', parts: [Buffer.from(JSON.stringify(index, null, 1), 'utf8')] };
  }
  writeZip(sink, members());
}

// ---------------------------------------------------------------- atomic writing

function temporaryName(path: string, suffix: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}-${randomBytes(4).toString('hex')}.${suffix}`);
}

function writeNpyFolder(fs: OutputFileSystem, folder: string, result: QuantitiesResult): void {
  const { arrays, index } = resultArrays(result);
  fs.mkdirSync(folder);
  const made = new Set<string>();
  for (const a of arrays) {
    const sub = dirname(a.file);
    if (sub !== '.' && !made.has(sub)) {
      fs.mkdirSync(join(folder, sub));
      made.add(sub);
    }
    writeNewFile(fs, join(folder, a.file), (sink) => {
      sink.bytes(npyHeader(a.shape));
      for (const view of bytesOf(a.data)) sink.bytes(view);
    });
  }
  writeNewFile(fs, join(folder, 'index.json'), (sink) => sink.text(JSON.stringify(index, null, 1)));
}

/** Flushes a folder's entries (the renames) to disk, where the platform can. */
function syncFolder(fs: OutputFileSystem, folder: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(folder, 'r');
    fs.fsyncSync(fd);
  } catch {
    // Some platforms cannot open or flush a folder; the rename itself is done.
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/**
 * Writes `result` to `path` in `format`, atomically: into a temporary file
 * (npy-dir: folder) beside `path`, flushed to disk, then renamed to `path`.
 * On any error the temporary is removed, `path` is left as it was, and the
 * error is rethrown. `fs` is `node:fs` unless a test injects failures.
 */
export function writeResult(result: QuantitiesResult, path: string, format: OutputFormat, fs: OutputFileSystem = nodeFs): void {
  const target = stripSlash(path);
  const temporary = temporaryName(target, 'tmp');
  let previous: string | undefined;
  try {
    if (format === 'npy-dir') writeNpyFolder(fs, temporary, result);
    else writeNewFile(fs, temporary, (sink) => (format === 'json' ? writeResultJson(result, (text) => sink.text(text)) : writeResultNpz(result, sink)));
    if (format === 'npy-dir' && isDirectory(fs, target)) {
      // A folder cannot be renamed over a non-empty one: the previous result steps aside first, and comes back on failure.
      previous = temporaryName(target, 'old');
      fs.renameSync(target, previous);
    }
    fs.renameSync(temporary, target);
  } catch (error) {
    if (previous !== undefined) fs.renameSync(previous, target);
    fs.rmSync(temporary, { recursive: true, force: true });
    throw error;
  }
  if (previous !== undefined) fs.rmSync(previous, { recursive: true, force: true });
  syncFolder(fs, dirname(target));
}
