/** An open safetensors file (Node): the validated header first, then each tensor's bytes by positioned reads. */
import fs from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { FormatError } from '../errors.js';
import {
  SafetensorsEntry,
  SafetensorsHeader,
  decodeSafetensorsTensor,
  parseSafetensorsHeader,
  readSafetensorsHeaderLength,
} from '../io/safetensors.js';
import { WeightsFormat, detectWeightsFormat } from '../io/weights.js';
import { setRereader } from '../io/rereadable.js';
import { FileError, openForRead } from './files.js';

/** Up to `length` bytes of `fd` from `position`, in a fresh buffer. */
export function readAt(fd: number, length: number, position: number): Uint8Array {
  const buf = new Uint8Array(length);
  let done = 0;
  while (done < length) {
    const n = fs.readSync(fd, buf, done, length - done, position + done);
    if (n === 0) break;
    done += n;
  }
  return done === length ? buf : buf.subarray(0, done);
}

/** The one-line error of a safetensors-only path handed a PyTorch checkpoint: what it is, what reads it. */
export function notSafetensorsError(file: string, format: WeightsFormat): FormatError {
  return new FormatError(
    `'${file}' is a PyTorch checkpoint (torch.save, ${format === 'torch-zip' ? 'zip' : 'legacy'} format), not safetensors: ` +
      'read it with readWeightsFile(file) or loadWeightsInto(model, file), fromPretrained(file) from @resnet-ts/zoo, ' +
      'or turn it into a resnet-ts checkpoint with `resnet convert`.',
  );
}

/** An open safetensors file: the validated header, and tensors read on demand. Close it when done. */
export class SafetensorsFile {
  private fd: number;
  private readonly stat: fs.Stats;
  readonly header: SafetensorsHeader;
  readonly size: number;

  constructor(readonly file: string) {
    this.fd = openForRead(file);
    try {
      this.stat = fs.fstatSync(this.fd);
      this.size = this.stat.size;
      const format = detectWeightsFormat(readAt(this.fd, 16, 0));
      if (format === 'torch-zip' || format === 'torch-legacy') throw notSafetensorsError(file, format);
      const n = readSafetensorsHeaderLength(readAt(this.fd, 8, 0), this.size, file);
      const h = parseSafetensorsHeader(readAt(this.fd, n, 8), this.size - 8 - n, file);
      this.header = { ...h, dataStart: 8 + n };
    } catch (e) {
      fs.closeSync(this.fd);
      throw e;
    }
  }

  get metadata(): Record<string, string> {
    return this.header.metadata;
  }

  get entries(): SafetensorsEntry[] {
    return this.header.entries;
  }

  /** The header entry of the tensor called `name`, if the file has one. */
  entry(name: string): SafetensorsEntry | undefined {
    return this.header.entries.find((e) => e.name === name);
  }

  /** The raw bytes of one tensor, in a buffer of their own (float32 ones readable again: core's io/rereadable.ts). */
  rawBytes(entry: SafetensorsEntry): Uint8Array {
    const bytes = readAt(this.fd, entry.end - entry.begin, this.header.dataStart + entry.begin);
    if (bytes.length !== entry.end - entry.begin) throw new FormatError(`${this.file}: tensor '${entry.name}' is truncated.`);
    this.registerRereader(entry, bytes);
    return bytes;
  }

  /** Reads one tensor (the caller owns it). */
  read(entry: SafetensorsEntry | string): tf.Tensor {
    const e = typeof entry === 'string' ? this.entry(entry) : entry;
    if (!e) throw new FormatError(`${this.file}: no tensor named '${entry}'.`);
    return decodeSafetensorsTensor(e, this.rawBytes(e), this.file);
  }

  /**
   * Lets an engine drop a float32 tensor's values and read them again later (core's
   * io/rereadable.ts): from this file, at the same place, while it is unchanged.
   */
  private registerRereader(entry: SafetensorsEntry, bytes: Uint8Array): void {
    if (entry.dtype !== 'F32' || bytes.byteOffset !== 0 || bytes.byteLength !== bytes.buffer.byteLength) return;
    const { file, stat } = this;
    const position = this.header.dataStart + entry.begin;
    const length = bytes.length;
    setRereader(bytes.buffer, () => {
      let fd: number;
      try {
        fd = openForRead(file);
      } catch (e) {
        throw new FileError(
          `'${file}', which the model's weights were read from, cannot be read again (${(e as Error).message}); keep the file while the model is in use, or load the model again.`,
        );
      }
      try {
        const now = fs.fstatSync(fd);
        if (now.size !== stat.size || now.mtimeMs !== stat.mtimeMs || now.ino !== stat.ino) {
          throw new FileError(
            `'${file}' has changed since the model's weights were read from it (its tensor '${entry.name}' is needed again); load the model again.`,
          );
        }
        const again = readAt(fd, length, position);
        if (again.length !== length) throw new FormatError(`${file}: tensor '${entry.name}' is truncated.`);
        return new Float32Array(again.buffer, 0, length / 4);
      } finally {
        fs.closeSync(fd);
      }
    });
  }

  /** Closes the file (idempotent). */
  close(): void {
    if (this.fd >= 0) fs.closeSync(this.fd);
    this.fd = -1;
  }
}

/** Opens a safetensors file (header validated, no tensor read yet). */
export function openSafetensors(file: string): SafetensorsFile {
  return new SafetensorsFile(file);
}
