/**
 * Weights files from disk: any format {@link readWeights} reads (safetensors, PyTorch `.pth`/`.pt`/
 * `.bin` in the zip or legacy `torch.save` format), with file-system problems as one-line FileErrors.
 */
import fs from 'node:fs';
import zlib from 'node:zlib';
import type { LoadReport } from '../module.js';
import { ResNet } from '../resnet.js';
import { inferSpec } from '../io/infer-spec.js';
import { adaptStateDict } from '../io/conventions.js';
import { LoadRawOptions, loadRawStateDict } from '../io/load-raw.js';
import {
  RawStateDict,
  ReadWeightsOptions,
  WeightsFormat,
  WEIGHTS_FORMAT_HEAD_BYTES,
  detectWeightsFormat,
  readTorchZipWeights,
  readWeights,
  safetensorsStateDict,
} from '../io/weights.js';
import { ResNetError } from '../errors.js';
import { openSafetensors } from './safetensors-file.js';
import { fileError, openForRead } from './files.js';
import { readAt, registerFileRereader } from './reread.js';
import { type ZipSource, setZipCrc32 } from '../io/zip.js';

// PyTorch zip checkpoints are checked entry by entry against their CRC-32s: a flipped bit in a weight
// is an error, not a slightly different model (PyTorch 1.13's torch.load does not check). Node's
// zlib.crc32 (Node 20.15+, ~10-30 ms for a ResNet-50's 100 MB); older Nodes skip the check.
const zlibCrc32 = (zlib as unknown as { crc32?: (data: Uint8Array) => number }).crc32;
if (typeof zlibCrc32 === 'function') setZipCrc32((data) => zlibCrc32(data));

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
 * the allow-listed unpickler; wrapper dicts and wrapper key prefixes (`module.`, `model.`...) are
 * undone, a note going to `options.warn` where a checkpoint holds several state dicts. A FileError for
 * file-system problems, then `readWeights`' FormatErrors (which name the file).
 */
export function readWeightsFile(file: string, options: ReadWeightsOptions = {}): RawStateDict {
  const source = options.source ?? file;
  const format = weightsFileFormat(file);
  if (format === 'torch-zip') return readTorchZipFile(file, source, options.warn);
  if (format !== 'safetensors') return readWeights(readFileBytes(file), { source, warn: options.warn });
  // safetensors: the header, then one positioned read per tensor into its own buffer, so the file is
  // never held whole next to its tensors (a ResNet-50: 100 MB less at the peak of a load).
  const f = openSafetensors(file);
  try {
    return safetensorsStateDict(f.header, (e) => f.rawBytes(e), source);
  } finally {
    f.close();
  }
}

/** Below this size a storage is not worth reading again later (core's io/rereadable.ts). */
const REREAD_MIN_BYTES = 64 * 1024;

/**
 * A PyTorch zip checkpoint read in parts: its central directory, then each storage by one positioned
 * read into a buffer of its own when a tensor needs it (and registered as readable again), so the
 * file is never held whole next to its tensors.
 */
function readTorchZipFile(file: string, source: string, warn?: (message: string) => void): RawStateDict {
  const fd = openForRead(file);
  try {
    const stat = fs.fstatSync(fd);
    const src: ZipSource = {
      size: stat.size,
      read: (offset, length) => {
        const bytes = readAt(fd, length, offset);
        if (length >= REREAD_MIN_BYTES) registerFileRereader(bytes, file, stat, offset, `stored bytes at offset ${offset}`);
        return bytes;
      },
    };
    return readTorchZipWeights(src, source, warn);
  } catch (e) {
    throw e instanceof ResNetError ? e : fileError(e, file, 'read');
  } finally {
    fs.closeSync(fd);
  }
}

/** The format of a weights file from its first bytes (undefined when it is none resnet-ts reads). */
export function weightsFileFormat(file: string): WeightsFormat | undefined {
  const fd = openForRead(file);
  try {
    const head = new Uint8Array(WEIGHTS_FORMAT_HEAD_BYTES);
    const n = fs.readSync(fd, head, 0, head.length, 0);
    return detectWeightsFormat(head.subarray(0, n));
  } catch (e) {
    throw fileError(e, file, 'read');
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Puts the weights of a PyTorch checkpoint file (or any file {@link readWeightsFile} reads) into
 * `options.model`, or into a model built from the architecture they imply (`inferSpec` with the
 * convention's hints): read, names mapped by the best-fitting convention (`adaptStateDict`), the
 * one loader (`loadRawStateDict`). A model built here is freed again if loading fails. The wrapper
 * dict's scalar entries are the returned metadata.
 */
export function modelFromWeightsFile(
  file: string,
  options: LoadRawOptions & { model?: ResNet; convention?: string } = {},
): { model: ResNet; report: LoadReport; convention: string; metadata: Record<string, string> } {
  const raw = readWeightsFile(file, { warn: options.warn });
  const { convention, stateDict, hints } = adaptStateDict(raw, { convention: options.convention });
  const model = options.model ?? new ResNet(inferSpec(stateDict, hints), { initialize: options.strict === false });
  try {
    const report = loadRawStateDict(model, stateDict, { ...options, hints, convention, source: options.source ?? file });
    return { model, report, convention, metadata: raw.metadata };
  } catch (e) {
    if (!options.model) model.dispose();
    throw e;
  }
}
