/**
 * Re-reading float32 values from the weights file they were first read from (core's
 * io/rereadable.ts), for the Node readers of safetensors files and PyTorch zip checkpoints.
 */
import fs from 'node:fs';
import { FormatError } from '../errors.js';
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

/**
 * Registers `bytes` — all of a fresh buffer, read from `position` of `file` when it looked like
 * `stat` — as readable again: the same bytes from the same place, while the file is unchanged
 * (size, mtime, inode); a one-line FileError when it has changed or is gone. `what` names the
 * values in that error (e.g. "tensor 'fc.weight'").
 */
export function registerFileRereader(bytes: Uint8Array, file: string, stat: fs.Stats, position: number, what: string): void {
  if (bytes.byteOffset !== 0 || bytes.byteLength !== bytes.buffer.byteLength || bytes.length % 4 !== 0) return;
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
          `'${file}' has changed since the model's weights were read from it (its ${what} is needed again); load the model again.`,
        );
      }
      const again = readAt(fd, length, position);
      if (again.length !== length) throw new FormatError(`${file}: ${what} is truncated.`);
      return new Float32Array(again.buffer, 0, length / 4);
    } finally {
      fs.closeSync(fd);
    }
  });
}
