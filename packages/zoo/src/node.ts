/**
 * @resnet-ts/zoo/node: everything of `@resnet-ts/zoo` plus the Node side of it: `fromPretrained`
 * with a disk cache and sharp decoding, and file access to the trained weights, model cards and
 * sample images shipped in this package.
 *
 * ```js
 * import '@resnet-ts/backend-node';
 * import { fromPretrained } from '@resnet-ts/zoo/node';
 * const clf = await fromPretrained('resnet20-fashion-mnist');
 * console.log(await clf.classify('shirt.png', { topk: 3 }));
 * ```
 */
import path from 'node:path';
import fs from 'node:fs';
import { ResNet, SpecError } from '@resnet-ts/core';
import { ModelCard, PRETRAINED, findPretrained } from './pretrained.js';
import { Classifier } from './classifier.js';
import { PretrainedOptions, SourceEnvironment, loadPretrained, loadPretrainedModel } from './resolve.js';
import { cachedDownload, checkLocalSha256, hubEndpoint, readLocalFile, readLocalWeights } from './node-sources.js';
import { NodeImageInput, decodeImageNode } from './node-image.js';

export * from './index.js';
export { cacheDir, cachePath, cachedDownload, hubEndpoint, readLocalFile } from './node-sources.js';
export { cmykToRgb, decodeImageNode, decodeRgb, exifOrientation, imageDecoderVersion, type DecodedRgb, type NodeImageInput } from './node-image.js';
export { BITMAP_FORMATS, bitmapFormat, decodeBitmap, type RgbPixels } from './bitmap-formats.js';

const PACKAGE_DIR = path.join(__dirname, '..');

const WEIGHTS_DIR = path.join(PACKAGE_DIR, 'weights');

/**
 * The path of the weights file of a shipped model (Node only; in a browser serve the file from
 * `node_modules/@resnet-ts/zoo/weights/` as a static asset). The file is a resnet-ts checkpoint:
 * `loadCheckpoint(path)` from `@resnet-ts/core/node` rebuilds the model from its stored spec.
 */
export function pretrainedWeightsPath(name: string): string {
  const entry = findPretrained(name);
  if (!entry) {
    throw new SpecError(`No shipped weights called '${name}'. Shipped: ${PRETRAINED.map((e) => e.name).join(', ')}.`);
  }
  const file = path.join(WEIGHTS_DIR, entry.file);
  if (!fs.existsSync(file)) {
    throw new SpecError(`The weights of '${name}' are missing from this install (${file}); reinstall @resnet-ts/zoo.`);
  }
  return file;
}

/** The model card of a shipped model (accuracy measured, recipe, command and time to reproduce). */
export function modelCard(name: string): ModelCard {
  const file = pretrainedWeightsPath(name).replace(/\.safetensors$/, '.card.json');
  return JSON.parse(fs.readFileSync(file, 'utf8')) as ModelCard;
}

/**
 * Bundled sample images of a shipped model (PNG, from the data set's test split; see
 * samples/<name>/labels.json) with their true labels.
 */
export function sampleImages(name: string): { file: string; label: string }[] {
  pretrainedWeightsPath(name);
  const dir = path.join(PACKAGE_DIR, 'samples', name);
  const labelsFile = path.join(dir, 'labels.json');
  if (!fs.existsSync(labelsFile)) return [];
  const labels = JSON.parse(fs.readFileSync(labelsFile, 'utf8')) as Record<string, string>;
  return Object.keys(labels)
    .sort()
    .map((f) => ({ file: path.join(dir, f), label: labels[f] }));
}

/** Node's source environment: local files, shipped weights, a disk cache for URLs, sharp decoding. */
export const nodeEnvironment: SourceEnvironment<NodeImageInput> = {
  shipped: async (entry, o) => {
    checkLocalSha256(pretrainedWeightsPath(entry.name), o.sha256);
    const bytes = readLocalFile(pretrainedWeightsPath(entry.name));
    o.onProgress?.({ source: entry.name, loaded: bytes.byteLength, total: bytes.byteLength });
    return bytes;
  },
  file: async (file, o) => {
    const { weights, size } = readLocalWeights(file);
    checkLocalSha256(file, o.sha256);
    o.onProgress?.({ source: file, loaded: size, total: size });
    return weights;
  },
  url: cachedDownload,
  hubEndpoint,
  decode: decodeImageNode,
  backendPackage: '@resnet-ts/backend-node',
};

/**
 * A ready classifier from a source: a shipped zoo name (`resnet20-fashion-mnist`), a weights file
 * (safetensors, resnet-ts checkpoint, PyTorch `.pth`), an http(s) URL (downloaded once into the disk
 * cache, see {@link cacheDir}) or `hf:owner/name`. The model is in eval mode and bound to its
 * preprocessing and labels; `classify` takes file paths, image bytes or preprocessed tensors.
 * Picks the best backend when the app has not chosen one (import `@resnet-ts/backend-node` first).
 */
export function fromPretrained(source: string, options: PretrainedOptions = {}): Promise<Classifier<NodeImageInput>> {
  return loadPretrained(source, nodeEnvironment, options);
}

/**
 * The network of any source `fromPretrained` takes (zoo name, shipped model, file, URL,
 * hf:owner/name), with its weights, in eval mode, and nothing for images: no preprocessing or labels.
 * For tensors in and logits out (`model.forward`, ONNX export, summaries), including models that
 * images cannot feed (2, 4 or more input channels). The caller disposes it.
 */
export function modelFromPretrained(source: string, options: PretrainedOptions = {}): Promise<ResNet> {
  return loadPretrainedModel(source, nodeEnvironment, options);
}
