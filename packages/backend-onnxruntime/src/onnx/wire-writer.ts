/**
 * The protobuf wire format, written: field keys, varints (negative int64 in
 * ten bytes of two's complement), fixed-width floats, length-delimited bytes,
 * strings and nested messages, and packed repeated numbers.
 */

const VARINT = 0;
const LENGTH_DELIMITED = 2;
const FIXED32 = 5;

const textEncoder = new TextEncoder();

/** Appends protobuf fields to a growing byte list; {@link finish} returns the message. */
export class WireWriter {
  private readonly bytes: number[] = [];

  /** An int32, int64 or enum field (unpacked: one key per value when repeated). */
  int(field: number, value: number): this {
    this.key(field, VARINT);
    this.varint(value);
    return this;
  }

  /** A float field (fixed32). */
  float(field: number, value: number): this {
    this.key(field, FIXED32);
    this.fixed(value, 4);
    return this;
  }

  bytesField(field: number, value: Uint8Array | readonly number[]): this {
    this.key(field, LENGTH_DELIMITED);
    this.varint(value.length);
    for (let i = 0; i < value.length; i++) this.bytes.push(value[i]!);
    return this;
  }

  string(field: number, value: string): this {
    return this.bytesField(field, textEncoder.encode(value));
  }

  /** A nested message, written by `build`. */
  message(field: number, build: (w: WireWriter) => void): this {
    const inner = new WireWriter();
    build(inner);
    return this.bytesField(field, inner.bytes);
  }

  /** A packed repeated varint field (int32, int64). */
  packedInts(field: number, values: readonly number[]): this {
    return this.message(field, (w) => {
      for (const v of values) w.varint(v);
    });
  }

  /** A packed repeated float (4 bytes) or double (8 bytes) field. */
  packedFloats(field: number, values: readonly number[], width: 4 | 8): this {
    return this.message(field, (w) => {
      for (const v of values) w.fixed(v, width);
    });
  }

  finish(): Uint8Array {
    return Uint8Array.from(this.bytes);
  }

  private key(field: number, wire: number): void {
    this.varint(field * 8 + wire);
  }

  private varint(value: number): void {
    // Any whole number is exact as a BigInt (int64 attributes beyond 2^53 included); negative
    // values take ten bytes of two's complement.
    if (!Number.isInteger(value) || Math.abs(value) >= 2 ** 64) throw new RangeError(`protobuf: ${value} is not a 64-bit integer`);
    let v = BigInt.asUintN(64, BigInt(value));
    while (v >= 0x80n) {
      this.bytes.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    this.bytes.push(Number(v));
  }

  /** Little-endian IEEE 754, single (4) or double (8) precision. */
  private fixed(value: number, width: 4 | 8): void {
    const view = new DataView(new ArrayBuffer(width));
    if (width === 4) view.setFloat32(0, value, true);
    else view.setFloat64(0, value, true);
    for (let i = 0; i < width; i++) this.bytes.push(view.getUint8(i));
  }
}
