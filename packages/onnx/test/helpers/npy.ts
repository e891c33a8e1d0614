/** Writes `.npy` bytes (format 1.0) for tests. */
export function npyBytes(descr: '<f4' | '<f8' | '<i8' | '>f8' | '<i4' | '<u2', shape: readonly number[], data: readonly number[], fortran = false): Uint8Array {
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': ${fortran ? 'True' : 'False'}, 'shape': ${shapeText}, }`;
  const unpadded = 10 + header.length + 1;
  header += ' '.repeat((64 - (unpadded % 64)) % 64) + '\n';
  const size = descr.endsWith('8') ? 8 : descr.endsWith('4') ? 4 : 2;
  const out = new Uint8Array(10 + header.length + data.length * size);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(new TextEncoder().encode(header), 10);
  const view = new DataView(out.buffer, 10 + header.length);
  data.forEach((v, i) => {
    const at = i * size;
    if (descr === '<f4') view.setFloat32(at, v, true);
    else if (descr === '<f8') view.setFloat64(at, v, true);
    else if (descr === '>f8') view.setFloat64(at, v, false);
    else if (descr === '<i8') view.setBigInt64(at, BigInt(v), true);
    else if (descr === '<i4') view.setInt32(at, v, true);
    else view.setUint16(at, v, true);
  });
  return out;
}
