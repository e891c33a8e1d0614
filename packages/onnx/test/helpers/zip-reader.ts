/**
 * A minimal reader of zip archives of stored members and of `.npy` float64
 * arrays, written for the tests from the formats' specifications (PKWARE's
 * APPNOTE, numpy's NEP 1), independent of the writer under test.
 */
import { crc32 } from 'node:zlib';

/** Reads `length` bytes at `position` of the archive. */
export type ReadAt = (position: number, length: number) => Uint8Array;

export interface ZipMemberInfo {
  readonly name: string;
  /** Where the member's data starts. */
  readonly dataOffset: number;
  readonly size: number;
  readonly crc: number;
  /** Whether a ZIP64 extra field held its size or offset. */
  readonly zip64: boolean;
}

function view(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

function u64(v: DataView, at: number): number {
  return Number(v.getBigUint64(at, true));
}

/** The members of a zip of `size` bytes (no archive comment), from its central directory, ZIP64 records included. */
export function readZipDirectory(read: ReadAt, size: number): { members: ZipMemberInfo[]; zip64End: boolean } {
  const end = view(read(size - 22, 22));
  if (end.getUint32(0, true) !== 0x06054b50) throw new Error('no end of central directory record');
  let count = end.getUint16(10, true);
  let directorySize = end.getUint32(12, true);
  let directoryOffset = end.getUint32(16, true);
  const zip64End = count === 0xffff || directorySize === 0xffffffff || directoryOffset === 0xffffffff;
  if (zip64End) {
    const locator = view(read(size - 22 - 20, 20));
    if (locator.getUint32(0, true) !== 0x07064b50) throw new Error('no ZIP64 end of central directory locator');
    const record = view(read(u64(locator, 8), 56));
    if (record.getUint32(0, true) !== 0x06064b50) throw new Error('no ZIP64 end of central directory record');
    count = u64(record, 32);
    directorySize = u64(record, 40);
    directoryOffset = u64(record, 48);
  }
  const directory = read(directoryOffset, directorySize);
  const d = view(directory);
  const members: ZipMemberInfo[] = [];
  let at = 0;
  for (let i = 0; i < count; i++) {
    if (d.getUint32(at, true) !== 0x02014b50) throw new Error(`central header ${i}: bad signature`);
    if (d.getUint16(at + 10, true) !== 0) throw new Error(`central header ${i}: not stored`);
    const crc = d.getUint32(at + 16, true);
    let compressed = d.getUint32(at + 20, true);
    let uncompressed = d.getUint32(at + 24, true);
    const nameLength = d.getUint16(at + 28, true);
    const extraLength = d.getUint16(at + 30, true);
    const commentLength = d.getUint16(at + 32, true);
    let offset = d.getUint32(at + 42, true);
    const name = new TextDecoder().decode(directory.subarray(at + 46, at + 46 + nameLength));
    let zip64 = false;
    for (let e = at + 46 + nameLength; e < at + 46 + nameLength + extraLength; ) {
      const id = d.getUint16(e, true);
      const length = d.getUint16(e + 2, true);
      if (id === 0x0001) {
        zip64 = true;
        let field = e + 4;
        if (uncompressed === 0xffffffff) (uncompressed = u64(d, field)), (field += 8);
        if (compressed === 0xffffffff) (compressed = u64(d, field)), (field += 8);
        if (offset === 0xffffffff) offset = u64(d, field);
      }
      e += 4 + length;
    }
    if (compressed !== uncompressed) throw new Error(`${name}: stored sizes differ`);
    const local = view(read(offset, 30));
    if (local.getUint32(0, true) !== 0x04034b50) throw new Error(`${name}: no local header at ${offset}`);
    const localName = new TextDecoder().decode(read(offset + 30, local.getUint16(26, true)));
    if (localName !== name) throw new Error(`${name}: the local header names ${localName}`);
    members.push({ name, dataOffset: offset + 30 + local.getUint16(26, true) + local.getUint16(28, true), size: uncompressed, crc, zip64 });
    at += 46 + nameLength + extraLength + commentLength;
  }
  return { members, zip64End };
}

/** A member's bytes, checked against its CRC-32. */
export function memberBytes(read: ReadAt, member: ZipMemberInfo): Uint8Array {
  const bytes = read(member.dataOffset, member.size);
  if (crc32(bytes) >>> 0 !== member.crc) throw new Error(`${member.name}: CRC-32 mismatch`);
  return bytes;
}

/** A float64 `.npy` array: shape and values. */
export function readNpyFloat64(bytes: Uint8Array): { shape: number[]; data: Float64Array } {
  const magic = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];
  if (magic.some((b, i) => bytes[i] !== b)) throw new Error('not a .npy file');
  if (bytes[6] !== 1) throw new Error(`.npy version ${bytes[6]}`);
  const headerLength = view(bytes).getUint16(8, true);
  const header = new TextDecoder('latin1').decode(bytes.subarray(10, 10 + headerLength));
  if (!header.endsWith('\n') || (10 + headerLength) % 64 !== 0) throw new Error('header not padded to 64 bytes');
  if (!/'descr': '<f8'/.test(header) || !/'fortran_order': False/.test(header)) throw new Error(`unexpected header ${header}`);
  const shape = /'shape': \(([^)]*)\)/
    .exec(header)![1]!
    .split(',')
    .filter((s) => s.trim() !== '')
    .map(Number);
  const body = new Uint8Array(bytes.subarray(10 + headerLength)); // a copy: aligned, and not a Buffer view of a pool
  const data = new Float64Array(body.buffer, 0, body.length / 8);
  if (data.length !== shape.reduce((a, b) => a * b, 1)) throw new Error('data does not fill the shape');
  return { shape, data };
}
