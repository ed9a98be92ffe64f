/**
 * NumPy `.npy` files (format versions 1, 2 and 3), for tensors exchanged with Python. Pure and
 * browser-safe; `saveNpy`/`loadNpy` in `@resnet-ts/core/node` work on files.
 */
import * as tf from '@tensorflow/tfjs-core';
import { FormatError, fmtShape } from '../errors.js';
import { floatToHalf, halfToFloat } from './half.js';

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

/** dtype descriptors read; floats become float32 tensors, integers int32, `|b1` bool. */
const DESCR_BYTES: Record<string, number> = {
  '<f4': 4,
  '<f8': 8,
  '<f2': 2,
  '<i4': 4,
  '<i8': 8,
  '<i2': 2,
  '|i1': 1,
  '|u1': 1,
  '<u2': 2,
  '|b1': 1,
};

/** A parsed `.npy` header. */
export interface NpyHeader {
  descr: string;
  shape: number[];
  /** Byte offset of the data. */
  dataStart: number;
}

/** Parses the header of a `.npy` file (needs at least the header's bytes). */
export function parseNpyHeader(bytes: Uint8Array, source = '.npy data'): NpyHeader {
  if (bytes.length < 10 || !MAGIC.every((b, i) => bytes[i] === b)) {
    throw new FormatError(`${source}: not a .npy file (missing the \\x93NUMPY magic).`);
  }
  const major = bytes[6];
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let len: number;
  let start: number;
  if (major === 1) {
    len = dv.getUint16(8, true);
    start = 10;
  } else if (major === 2 || major === 3) {
    if (bytes.length < 12) throw new FormatError(`${source}: truncated .npy header.`);
    len = dv.getUint32(8, true);
    start = 12;
  } else {
    throw new FormatError(`${source}: unsupported .npy format version ${major}.${bytes[7]} (1, 2 and 3 are read).`);
  }
  if (start + len > bytes.length)
    throw new FormatError(`${source}: the .npy header (${len} bytes) runs past the end of the file; truncated.`);
  const text = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(start, start + len));
  const descr = /['"]descr['"]\s*:\s*['"]([^'"]+)['"]/.exec(text)?.[1];
  const fortran = /['"]fortran_order['"]\s*:\s*(True|False)/.exec(text)?.[1];
  const shapeText = /['"]shape['"]\s*:\s*\(([^)]*)\)/.exec(text)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) {
    throw new FormatError(`${source}: malformed .npy header ${JSON.stringify(text.trim())}.`);
  }
  if (fortran === 'True') {
    throw new FormatError(`${source}: Fortran-ordered arrays are not supported; save with np.ascontiguousarray(a).`);
  }
  const norm =
    descr === '=f4'
      ? '<f4'
      : descr === '=f8'
        ? '<f8'
        : descr === '=i4'
          ? '<i4'
          : descr === '=i8'
            ? '<i8'
            : descr === '<u1' || descr === '=u1'
              ? '|u1'
              : descr;
  if (!(norm in DESCR_BYTES)) {
    throw new FormatError(
      `${source}: dtype '${descr}' is not supported (read: ${Object.keys(DESCR_BYTES).join(', ')}; little-endian only).`,
    );
  }
  const parts = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  const shape = parts.map((p) => Number(p.replace(/L$/, '')));
  if (!shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw new FormatError(`${source}: invalid shape (${shapeText}).`);
  return { descr: norm, shape, dataStart: start + len };
}

/** Decodes a `.npy` file into a tensor (float32, int32 or bool). The caller owns it. */
export function decodeNpy(bytes: Uint8Array, source = '.npy data'): tf.Tensor {
  const { descr, shape, dataStart } = parseNpyHeader(bytes, source);
  const n = shape.reduce((a, b) => a * b, 1);
  const size = DESCR_BYTES[descr];
  const have = bytes.length - dataStart;
  if (have !== n * size) {
    throw new FormatError(
      `${source}: a ${descr} array of shape ${fmtShape(shape)} needs ${n * size} data bytes; the file has ${have}${have < n * size ? ' (truncated)' : ''}.`,
    );
  }
  const buf = new ArrayBuffer(n * size);
  new Uint8Array(buf).set(bytes.subarray(dataStart));
  switch (descr) {
    case '<f4':
      return tf.tensor(new Float32Array(buf), shape, 'float32');
    case '<f8':
      return tf.tensor(Float32Array.from(new Float64Array(buf)), shape, 'float32');
    case '<f2': {
      const h = new Uint16Array(buf);
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = halfToFloat(h[i]);
      return tf.tensor(out, shape, 'float32');
    }
    case '<i4':
      return tf.tensor(new Int32Array(buf), shape, 'int32');
    case '<i8': {
      const b = new BigInt64Array(buf);
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) {
        if (b[i] > 2147483647n || b[i] < -2147483648n)
          throw new FormatError(`${source}: int64 value ${b[i]} is outside the int32 range tfjs supports.`);
        out[i] = Number(b[i]);
      }
      return tf.tensor(out, shape, 'int32');
    }
    case '<i2':
      return tf.tensor(Int32Array.from(new Int16Array(buf)), shape, 'int32');
    case '|i1':
      return tf.tensor(Int32Array.from(new Int8Array(buf)), shape, 'int32');
    case '|u1':
      return tf.tensor(Int32Array.from(new Uint8Array(buf)), shape, 'int32');
    case '<u2':
      return tf.tensor(Int32Array.from(new Uint16Array(buf)), shape, 'int32');
    case '|b1':
      return tf.tensor(new Uint8Array(buf), shape, 'bool');
  }
  throw new FormatError(`${source}: dtype '${descr}' is not supported.`);
}

/** Options of {@link encodeNpy}. */
export interface NpyWriteOptions {
  /** Write float tensors as '<f2' instead of '<f4'. */
  half?: boolean;
}

/** The header bytes (version 1.0, padded to 64 bytes) of an array. */
export function npyHeader(descr: string, shape: readonly number[]): Uint8Array {
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  const total = 10 + dict.length + 1;
  dict += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const out = new Uint8Array(10 + dict.length);
  out.set(MAGIC, 0);
  out[6] = 1;
  out[7] = 0;
  new DataView(out.buffer).setUint16(8, dict.length, true);
  for (let i = 0; i < dict.length; i++) out[10 + i] = dict.charCodeAt(i);
  return out;
}

/** Serialises a tensor as `.npy` ('<f4' for float32, '<i4' for int32, '|b1' for bool). */
export async function encodeNpy(t: tf.Tensor, options: NpyWriteOptions = {}): Promise<Uint8Array> {
  const data = await t.data();
  let descr: string;
  let body: Uint8Array;
  if (t.dtype === 'float32' && options.half) {
    const h = new Uint16Array(data.length);
    for (let i = 0; i < data.length; i++) h[i] = floatToHalf(data[i] as number);
    descr = '<f2';
    body = new Uint8Array(h.buffer);
  } else if (t.dtype === 'float32') {
    descr = '<f4';
    body = new Uint8Array(Float32Array.from(data as Float32Array).buffer);
  } else if (t.dtype === 'int32') {
    descr = '<i4';
    body = new Uint8Array(Int32Array.from(data as Int32Array).buffer);
  } else if (t.dtype === 'bool') {
    descr = '|b1';
    body = new Uint8Array(Uint8Array.from(data as Uint8Array).buffer);
  } else {
    throw new FormatError(`Cannot write a ${t.dtype} tensor as .npy (float32, int32 and bool are supported).`);
  }
  const header = npyHeader(descr, t.shape);
  const out = new Uint8Array(header.length + body.length);
  out.set(header, 0);
  out.set(body, header.length);
  return out;
}
