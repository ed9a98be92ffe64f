/**
 * @resnet-ts/onnx: export resnet-ts models to ONNX (eval mode, batch norm folded or kept, dynamic
 * batch), for ONNX Runtime, TensorRT, Triton and friends. The protobuf encoding uses protobufjs with
 * the needed subset of onnx.proto embedded (src/schema.ts).
 */
import { exportOnnx, OnnxExportOptions, OnnxSource } from './export.js';

export { exportOnnx, ONNX_OPSETS, OnnxExportError, type OnnxExportOptions, type OnnxSource } from './export.js';
export { ONNX_METADATA_KEYS, OnnxMetadataError, readOnnxMetadata, type OnnxMetadata, type OnnxPreprocessing } from './metadata.js';
export { ONNX_PROTO, onnxRoot, modelProtoType } from './schema.js';

/** Exports `source` (a model, or a classifier with its preprocessing and labels) and writes it to `file` atomically (Node only). */
export async function saveOnnx(file: string, source: OnnxSource, options: OnnxExportOptions = {}): Promise<void> {
  const bytes = exportOnnx(source, options);
  // Required lazily so that browser bundles of exportOnnx never pull in node:fs.
  const { writeBytesAtomic } = require('@resnet-ts/core/node') as typeof import('@resnet-ts/core/node');
  await writeBytesAtomic(file, bytes);
}
