import fs from 'node:fs';
import zlib from 'node:zlib';
import { DataError } from '../errors.js';
import { Dataset, validateDataset } from './dataset.js';

/** A parsed IDX file (the MNIST format): unsigned-byte data with its dimensions. */
export interface IdxArray {
  dims: number[];
  data: Uint8Array;
}

/** Reads a file, gunzipping it when it starts with the gzip magic (1f 8b). */
export function readMaybeGzip(file: string): Uint8Array {
  let raw: Buffer;
  try {
    raw = fs.readFileSync(file);
  } catch (e) {
    throw new DataError(`Cannot read ${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}.`);
  }
  if (raw.length >= 2 && raw[0] === 0x1f && raw[1] === 0x8b) {
    try {
      raw = zlib.gunzipSync(raw);
    } catch (e) {
      throw new DataError(`${file} is a corrupt or truncated gzip file (${(e as Error).message}).`);
    }
  }
  return new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength);
}

/**
 * Parses IDX bytes: magic 0x00 0x00 <type> <ndim>, ndim big-endian uint32 dims, then data. Only
 * unsigned bytes (type 0x08) are accepted, as in MNIST. `expectedDims` (1 for labels, 3 for
 * images) is checked. Errors name `file`.
 */
export function parseIdx(bytes: Uint8Array, file: string, expectedDims?: number): IdxArray {
  if (bytes.length < 4 || bytes[0] !== 0 || bytes[1] !== 0) {
    throw new DataError(`${file} is not an IDX file: bad magic number (expected 0x0000 08 0N, got ${hex(bytes.subarray(0, 4))}).`);
  }
  if (bytes[2] !== 0x08)
    throw new DataError(`${file}: IDX data type 0x${bytes[2].toString(16)} is not supported (only unsigned bytes, 0x08).`);
  const ndim = bytes[3];
  if (expectedDims !== undefined && ndim !== expectedDims) {
    throw new DataError(
      `${file}: wrong magic number 0x${hex(bytes.subarray(0, 4))}: expected ${expectedDims}-D ${expectedDims === 1 ? 'labels (0x00000801)' : 'images (0x00000803)'}, found ${ndim}-D.`,
    );
  }
  const header = 4 + 4 * ndim;
  if (bytes.length < header) throw new DataError(`${file} is truncated: ${bytes.length} bytes, shorter than its header.`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims: number[] = [];
  for (let i = 0; i < ndim; i++) dims.push(view.getUint32(4 + 4 * i, false));
  const count = dims.reduce((a, b) => a * b, 1);
  if (bytes.length - header < count) {
    throw new DataError(
      `${file} is truncated: its header promises ${dims.join('x')} = ${count} bytes of data, found ${bytes.length - header}.`,
    );
  }
  if (bytes.length - header > count)
    throw new DataError(`${file} has ${bytes.length - header - count} bytes of trailing garbage after ${dims.join('x')} values.`);
  return { dims, data: bytes.subarray(header, header + count) };
}

function hex(b: Uint8Array): string {
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
}

/** Loads an IDX image file ([N, H, W]) and label file ([N]) as a 1-channel data set. */
export function loadIdx(imagesFile: string, labelsFile: string, classes: string[]): Dataset {
  const img = parseIdx(readMaybeGzip(imagesFile), imagesFile, 3);
  const lab = parseIdx(readMaybeGzip(labelsFile), labelsFile, 1);
  if (img.dims[0] !== lab.dims[0]) {
    throw new DataError(`${imagesFile} has ${img.dims[0]} images but ${labelsFile} has ${lab.dims[0]} labels: the counts must match.`);
  }
  const d: Dataset = { images: img.data, labels: lab.data, shape: [img.dims[1], img.dims[2], 1], classes, source: imagesFile };
  validateDataset(d, labelsFile, (m) => new DataError(m));
  return d;
}

/** Writes an IDX file of unsigned bytes (for tests and tools). */
export function encodeIdx(dims: number[], data: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length + data.length);
  const view = new DataView(out.buffer);
  out[2] = 0x08;
  out[3] = dims.length;
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  out.set(data, 4 + 4 * dims.length);
  return out;
}
