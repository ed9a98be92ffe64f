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
import { WEIGHTS_FORMAT_HEAD_BYTES, WeightsFormat, detectWeightsFormat } from '../io/weights.js';
import { openForRead } from './files.js';
import { readAt, registerFileRereader } from './reread.js';

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
      const format = detectWeightsFormat(readAt(this.fd, WEIGHTS_FORMAT_HEAD_BYTES, 0));
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
    if (entry.dtype === 'F32')
      registerFileRereader(bytes, this.file, this.stat, this.header.dataStart + entry.begin, `tensor '${entry.name}'`);
    return bytes;
  }

  /** Reads one tensor (the caller owns it). */
  read(entry: SafetensorsEntry | string): tf.Tensor {
    const e = typeof entry === 'string' ? this.entry(entry) : entry;
    if (!e) throw new FormatError(`${this.file}: no tensor named '${entry}'.`);
    return decodeSafetensorsTensor(e, this.rawBytes(e), this.file);
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
