/**
 * Checkpoint file I/O behind one small interface ({@link CheckpointIO}) over core's safetensors
 * codec (one reader and writer for checkpoints, weights and `@resnet-ts/core/node`).
 *
 * Format: safetensors (8-byte little-endian header length, JSON header with dtype/shape/offsets
 * and a string-to-string `__metadata__`, then the raw little-endian data). Writes go through core's
 * one atomic writer (`writeFileAtomic` of `@resnet-ts/core/node`: temporary file, fsync, rename).
 */
import fs from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { decodeSafetensors, encodeSafetensors } from '@resnet-ts/core';
import { writeBytesAtomic } from '@resnet-ts/core/node';
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
      await writeBytesAtomic(file, await encodeSafetensors(tensors, metadata));
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

/** The codec the trainer uses. */
export const checkpointIO: CheckpointIO = coreSafetensorsIO;
