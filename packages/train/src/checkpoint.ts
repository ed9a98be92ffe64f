/**
 * Checkpoint file I/O behind one small interface ({@link CheckpointIO}), so the codec can be
 * switched to core's safetensors module with a one-line change of {@link checkpointIO}.
 *
 * Format: safetensors (8-byte little-endian header length, JSON header with dtype/shape/offsets
 * and a string-to-string `__metadata__`, then the raw little-endian data). Writes are atomic:
 * a temporary file in the same folder, fsync, then rename.
 */
import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { decodeSafetensors, encodeSafetensors } from '@resnet-ts/core';
import { TrainError } from './errors.js';

/** One tensor's raw data. */
export interface TensorRecord {
  dtype: 'float32' | 'int32';
  shape: number[];
  data: Float32Array | Int32Array;
}

/** What a checkpoint file holds. */
export interface CheckpointFile {
  tensors: Map<string, TensorRecord>;
  metadata: Record<string, string>;
}

/** The codec used by the trainer. */
export interface CheckpointIO {
  /** Writes atomically (temp file + rename). */
  save(file: string, tensors: Map<string, TensorRecord>, metadata: Record<string, string>): Promise<void>;
  /** Reads and decodes a checkpoint file synchronously; throws a TrainError (code CHECKPOINT) if it cannot be read or is not valid safetensors. */
  load(file: string): CheckpointFile;
}

const DTYPES: Record<string, { name: 'float32' | 'int32'; bytes: number }> = {
  F32: { name: 'float32', bytes: 4 },
  I32: { name: 'int32', bytes: 4 },
};

/** Encodes tensors and string metadata as safetensors bytes. */
export function encodeSafetensorsLocal(tensors: Map<string, TensorRecord>, metadata: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  const names = [...tensors.keys()].sort();
  for (const name of names) {
    const t = tensors.get(name)!;
    const size = t.data.byteLength;
    header[name] = { dtype: t.dtype === 'float32' ? 'F32' : 'I32', shape: t.shape, data_offsets: [offset, offset + size] };
    offset += size;
  }
  let json = Buffer.from(JSON.stringify(header), 'utf8');
  const padded = Math.ceil(json.length / 8) * 8;
  if (padded !== json.length) json = Buffer.concat([json, Buffer.alloc(padded - json.length, 0x20)]);
  const out = new Uint8Array(8 + json.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let o = 8 + json.length;
  for (const name of names) {
    const t = tensors.get(name)!;
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), o);
    o += t.data.byteLength;
  }
  return out;
}

/** Decodes safetensors bytes (F32 and I32 tensors; I64 is narrowed to int32). `file` names errors. */
export function decodeSafetensorsLocal(bytes: Uint8Array, file = 'checkpoint'): CheckpointFile {
  const bad = (m: string) => new TrainError(`${file} is not a valid safetensors file: ${m}`, 'CHECKPOINT');
  if (bytes.length < 8) throw bad('shorter than its 8-byte header length.');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = Number(view.getBigUint64(0, true));
  if (n > bytes.length - 8) throw bad(`header length ${n} exceeds the file size (truncated?).`);
  let header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] } | Record<string, string>>;
  try {
    header = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset + 8, n).toString('utf8'));
  } catch (e) {
    throw bad(`header is not JSON (${(e as Error).message}).`);
  }
  const base = 8 + n;
  const tensors = new Map<string, TensorRecord>();
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = entry as Record<string, string>;
      continue;
    }
    const e = entry as { dtype: string; shape: number[]; data_offsets: [number, number] };
    const [begin, end] = e.data_offsets;
    if (base + end > bytes.length) throw bad(`tensor '${name}' runs past the end of the file (truncated?).`);
    const count = e.shape.reduce((a, b) => a * b, 1);
    const slice = bytes.slice(base + begin, base + end);
    if (e.dtype === 'I64') {
      const big = new BigInt64Array(slice.buffer, 0, count);
      tensors.set(name, { dtype: 'int32', shape: e.shape, data: Int32Array.from(big, (v) => Number(v)) });
      continue;
    }
    const dt = DTYPES[e.dtype];
    if (!dt) throw bad(`tensor '${name}' has unsupported dtype ${e.dtype}.`);
    if (end - begin !== count * dt.bytes) throw bad(`tensor '${name}' has ${end - begin} bytes for shape [${e.shape.join(', ')}].`);
    const data = dt.name === 'float32' ? new Float32Array(slice.buffer, 0, count) : new Int32Array(slice.buffer, 0, count);
    tensors.set(name, { dtype: dt.name, shape: e.shape, data });
  }
  return { tensors, metadata };
}

/** Writes `bytes` to `file` atomically: temp file in the same folder, fsync, rename. */
export function writeFileAtomic(file: string, bytes: Uint8Array | string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${Date.now()}.tmp`);
  const fd = fs.openSync(tmp, 'w');
  try {
    const buf = typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : bytes;
    let off = 0;
    while (off < buf.length) off += fs.writeSync(fd, buf, off, buf.length - off);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  try {
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}

/** The local codec. */
export const localSafetensorsIO: CheckpointIO = {
  save: async (file, tensors, metadata) => writeFileAtomic(file, encodeSafetensorsLocal(tensors, metadata)),
  load: (file) => {
    let bytes: Buffer;
    try {
      bytes = fs.readFileSync(file);
    } catch (e) {
      throw new TrainError(`Cannot read checkpoint ${file}: ${(e as Error).message}`, 'CHECKPOINT');
    }
    return decodeSafetensorsLocal(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), file);
  },
};

function readBytes(file: string): Uint8Array {
  try {
    const b = fs.readFileSync(file);
    return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  } catch (e) {
    throw new TrainError(
      `Cannot read checkpoint ${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}.`,
      'CHECKPOINT',
    );
  }
}

/** Core's safetensors codec (`encodeSafetensors`/`decodeSafetensors` of @resnet-ts/core): I64 num_batches_tracked as PyTorch. */
export const coreSafetensorsIO: CheckpointIO = {
  save: async (file, records, metadata) => {
    const tensors = new Map<string, tf.Tensor>();
    for (const [k, r] of records) tensors.set(k, tf.tensor(r.data, r.shape, r.dtype));
    try {
      writeFileAtomic(file, await encodeSafetensors(tensors, metadata));
    } finally {
      tf.dispose([...tensors.values()]);
    }
  },
  load: (file) => {
    const { tensors, metadata } = decodeSafetensors(readBytes(file), file);
    const out = new Map<string, TensorRecord>();
    try {
      for (const [k, t] of tensors) {
        const data = t.dataSync();
        out.set(
          k,
          t.dtype === 'float32'
            ? { dtype: 'float32', shape: t.shape, data: Float32Array.from(data) }
            : { dtype: 'int32', shape: t.shape, data: Int32Array.from(data) },
        );
      }
    } finally {
      tf.dispose([...tensors.values()]);
    }
    return { tensors: out, metadata };
  },
};

/** The codec in use. To switch codecs (localSafetensorsIO / coreSafetensorsIO), change this one line. */
export const checkpointIO: CheckpointIO = coreSafetensorsIO;
