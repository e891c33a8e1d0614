/**
 * A minimal reader of the protobuf wire format, enough for ONNX's ModelProto.
 *
 * Every read is bounds-checked against the message it belongs to, so a
 * truncated or corrupted file ends in an {@link OnnxFormatError} naming the
 * field and the byte offset, never in a hang, an out-of-memory or a crash.
 * Lengths are checked before anything is allocated and nesting is limited.
 */

import { UserError } from '../errors.js';

/** The bytes do not form a valid ONNX model (truncated, corrupted, or another file type). */
export class OnnxFormatError extends UserError {
  /** `'OnnxFormatError'`, to tell the error apart without `instanceof`. */
  override name = 'OnnxFormatError';
}

/** Wire types of the protobuf encoding. */
export const enum WireType {
  Varint = 0,
  Fixed64 = 1,
  LengthDelimited = 2,
  StartGroup = 3,
  EndGroup = 4,
  Fixed32 = 5,
}

/** Nested messages deeper than this are refused (a corrupted file could otherwise recurse without end). */
export const MAX_DEPTH = 100;

const TWO_32 = 2 ** 32;
const utf8 = new TextDecoder('utf-8', { fatal: false });

/**
 * A cursor over one message: `[start, end)` of `bytes`. Offsets in messages
 * are absolute (from the start of the file), which makes errors findable.
 */
export class ProtoReader {
  pos: number;

  constructor(
    readonly bytes: Uint8Array,
    start = 0,
    readonly end = bytes.length,
    /** What is being read, for messages (e.g. `"GraphProto"`). */
    readonly what = 'ModelProto',
    readonly depth = 0,
  ) {
    if (depth > MAX_DEPTH) throw new OnnxFormatError(`${what} is nested more than ${MAX_DEPTH} levels deep: the file is corrupted`);
    this.pos = start;
  }

  get done(): boolean {
    return this.pos >= this.end;
  }

  private fail(message: string): never {
    throw new OnnxFormatError(`${this.what}: ${message} at byte ${this.pos}`);
  }

  /** Reads a field key; returns the field number and wire type. */
  key(): { field: number; wire: number } {
    const at = this.pos;
    const key = this.varint();
    const field = Math.floor(key / 8);
    const wire = key % 8;
    if (field === 0) throw new OnnxFormatError(`${this.what}: invalid field number 0 at byte ${at} (not a protobuf message, or corrupted)`);
    return { field, wire };
  }

  /**
   * The low and high 32 bits of a varint (up to 64 bits, as int32 bit
   * patterns): what the unsigned and the signed reading share.
   */
  private varintHalves(): { lo: number; hi: number } {
    let lo = 0;
    let hi = 0;
    let shift = 0;
    for (let i = 0; ; i++) {
      if (this.pos >= this.end) this.fail('truncated varint');
      if (i >= 10) this.fail('varint longer than 10 bytes');
      const b = this.bytes[this.pos++]!;
      if (shift < 28) lo |= (b & 0x7f) << shift;
      else if (shift === 28) {
        lo |= (b & 0x0f) << 28;
        hi |= (b & 0x7f) >>> 4;
      } else hi |= (b & 0x7f) << (shift - 32);
      shift += 7;
      if ((b & 0x80) === 0) break;
    }
    return { lo, hi };
  }

  /** An unsigned varint as a number (exact below 2^53; larger values lose precision). */
  varint(): number {
    const { lo, hi } = this.varintHalves();
    return (hi >>> 0) * TWO_32 + (lo >>> 0);
  }

  /** A signed 64-bit varint (int64 in two's complement) as a number; exact when |value| < 2^53. */
  int64(): number {
    const { lo, hi } = this.varintHalves();
    if ((hi & 0x80000000) !== 0) {
      // Negative: -(~value + 1).
      const nlo = ~lo >>> 0;
      const nhi = ~hi >>> 0;
      return -(nhi * TWO_32 + nlo + 1);
    }
    return (hi >>> 0) * TWO_32 + (lo >>> 0);
  }

  /** A signed 32-bit varint (int32, enums). */
  int32(): number {
    return this.int64() | 0;
  }

  private need(n: number, what: string): void {
    if (n > this.end - this.pos) {
      this.fail(`truncated ${what}: needs ${n} bytes, only ${Math.max(0, this.end - this.pos)} remain`);
    }
  }

  fixed32Float(): number {
    this.need(4, 'float');
    const value = new DataView(this.bytes.buffer, this.bytes.byteOffset + this.pos, 4).getFloat32(0, true);
    this.pos += 4;
    return value;
  }

  fixed64Double(): number {
    this.need(8, 'double');
    const value = new DataView(this.bytes.buffer, this.bytes.byteOffset + this.pos, 8).getFloat64(0, true);
    this.pos += 8;
    return value;
  }

  /** The bounds `[start, end)` of a length-delimited field, advancing past it. */
  span(what: string): { start: number; end: number } {
    const length = this.varint();
    this.need(length, what);
    const start = this.pos;
    this.pos += length;
    return { start, end: this.pos };
  }

  /** A length-delimited field's bytes (a view, not a copy). */
  bytesField(what: string): Uint8Array {
    const { start, end } = this.span(what);
    return this.bytes.subarray(start, end);
  }

  string(what: string): string {
    return utf8.decode(this.bytesField(what));
  }

  /** A reader for an embedded message. */
  message(what: string): ProtoReader {
    const { start, end } = this.span(what);
    return new ProtoReader(this.bytes, start, end, what, this.depth + 1);
  }

  /** Skips a field of the given wire type. */
  skip(wire: number, field: number): void {
    switch (wire) {
      case WireType.Varint:
        this.varint();
        return;
      case WireType.Fixed64:
        this.need(8, `field ${field}`);
        this.pos += 8;
        return;
      case WireType.LengthDelimited:
        this.span(`field ${field}`);
        return;
      case WireType.Fixed32:
        this.need(4, `field ${field}`);
        this.pos += 4;
        return;
      case WireType.StartGroup: {
        // Deprecated groups: skip to the matching end-group key. A stack of the
        // open groups instead of recursion, so deep nesting cannot overflow the call stack.
        const open = [field];
        while (open.length > 0) {
          if (this.done) this.fail(`unterminated group (field ${open[open.length - 1]})`);
          const inner = this.key();
          if (inner.wire === WireType.StartGroup) {
            if (this.depth + open.length >= MAX_DEPTH) this.fail(`groups nested more than ${MAX_DEPTH} levels deep (the file is corrupted)`);
            open.push(inner.field);
          } else if (inner.wire === WireType.EndGroup) {
            const expected = open.pop()!;
            if (inner.field !== expected) this.fail(`group of field ${expected} closed by field ${inner.field}`);
          } else this.skip(inner.wire, inner.field);
        }
        return;
      }
      default:
        this.fail(`invalid wire type ${wire} for field ${field} (not an ONNX file, or corrupted)`);
    }
  }

  /** Checks a field's wire type, failing with the field's name. */
  expect(wire: number, expected: number, name: string): void {
    if (wire !== expected) this.fail(`field '${name}' has wire type ${wire}, expected ${expected}`);
  }

  /**
   * A repeated scalar field, packed (one length-delimited run) or not (one
   * value per key): protobuf readers must accept both.
   */
  repeated(wire: number, scalarWire: number, read: () => number, out: number[], name: string): void {
    if (wire === WireType.LengthDelimited) {
      const { start, end } = this.span(name);
      const inner = new ProtoReader(this.bytes, start, end, `${this.what}.${name}`, this.depth + 1);
      while (!inner.done) out.push(read.call(inner));
      return;
    }
    this.expect(wire, scalarWire, name);
    out.push(read.call(this));
  }
}
