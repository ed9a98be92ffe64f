/**
 * Weights files from disk: any format {@link readWeights} reads (safetensors, PyTorch `.pth`/`.pt`/
 * `.bin` in the zip or legacy `torch.save` format), with file-system problems as one-line FileErrors.
 */
import fs from 'node:fs';
import { RawStateDict, ReadWeightsOptions, readWeights } from '../io/weights.js';
import { fileError, openForRead } from './files.js';

/** Reads a whole file (FileError for a missing file, a folder, no permission...). */
export function readFileBytes(file: string): Uint8Array {
  const fd = openForRead(file);
  try {
    const buf = fs.readFileSync(fd);
    return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  } catch (e) {
    throw fileError(e, file, 'read');
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Reads a weights file: safetensors or a PyTorch checkpoint (`torch.save`, zip or legacy), through
 * the allow-listed unpickler; wrapper dicts and DataParallel's `module.` prefix are undone. A
 * FileError for file-system problems, then `readWeights`' FormatErrors (which name the file).
 */
export function readWeightsFile(file: string, options: ReadWeightsOptions = {}): RawStateDict {
  return readWeights(readFileBytes(file), { source: options.source ?? file });
}
