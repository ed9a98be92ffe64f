/**
 * @resnet-ts/zoo: named ResNet architectures (ImageNet resnet18..152 in the paper's v1 and
 * torchvision's v1.5 layout, CIFAR resnet20..1202, the plain counterparts of all of them) and a
 * generic `resnet()` for custom depths.
 */
import '@resnet-ts/blocks';
import '@resnet-ts/shortcuts';
import { ResNet, ResNetSpec, SpecError, fmtValue, getBlock } from '@resnet-ts/core';
import { ARCHITECTURES, ZooEntry, imagenetStages } from './architectures.js';

export { ARCHITECTURES, cifarStages, countParameters, imagenetStages, type ZooEntry, type PaperResult } from './architectures.js';

/** Overrides accepted when building a named model (e.g. `{numClasses: 10, inChannels: 1}`). */
export type SpecOverrides = Partial<ResNetSpec>;

/** All named architectures. */
export function listModels(): ZooEntry[] {
  return ARCHITECTURES;
}

/** The entry called `name`; an error listing the known names if there is none. */
export function getEntry(name: string): ZooEntry {
  const entry = ARCHITECTURES.find((e) => e.name === name);
  if (!entry) {
    throw new SpecError(
      `Unknown model '${name}'. Known models: ${ARCHITECTURES.map((e) => e.name).join(', ')}. ` +
        'For another depth use resnet({block, layers}) or a spec file.',
    );
  }
  return entry;
}

/** The spec of a named model with overrides applied. */
export function getModelSpec(name: string, overrides: SpecOverrides = {}): ResNetSpec {
  const { spec } = getEntry(name);
  return { ...spec, stages: spec.stages.map((s) => ({ ...s })), ...overrides };
}

/** Builds a named model, e.g. `createModel('resnet20', {inChannels: 1})`. */
export function createModel(name: string, overrides: SpecOverrides = {}): ResNet {
  return new ResNet(getModelSpec(name, overrides));
}

/** Options of {@link resnet}. */
export interface CustomResNetOptions extends Omit<SpecOverrides, 'stages'> {
  /** 'basic' | 'bottleneck' | a registered block. */
  block: string;
  /** Blocks per stage, e.g. [3, 4, 6, 3] or, for a CIFAR net, [n, n, n]. */
  layers: number[];
  /** Base width per stage, one per entry of `layers` (default 64,128,256,512 for imagenet; 16,32,64 for cifar). */
  widths?: number[];
}

/**
 * A ResNet of any depth: `resnet({block: 'basic', layers: [18, 18, 18], stem: 'cifar'})` is a
 * ResNet-110. Defaults: ImageNet stem, option B for imagenet and A for cifar, 1000 or 10 classes,
 * and the stem and final norms the block type is designed for (a `preact-basic` net: the bare stem
 * conv and a final BN-ReLU).
 */
export function resnet(options: CustomResNetOptions): ResNet {
  return new ResNet(customSpec(options));
}

/** The spec {@link resnet} builds. */
export function customSpec(options: CustomResNetOptions): ResNetSpec {
  const { block, layers, widths, ...rest } = options;
  const norms = getBlock(block).networkNorms ?? {};
  if (!Array.isArray(layers) || layers.length === 0 || layers.some((n) => !Number.isInteger(n) || n < 1)) {
    throw new SpecError(`layers must be a non-empty list of positive integers (blocks per stage); got ${fmtValue(layers)}.`);
  }
  if (
    widths !== undefined &&
    (!Array.isArray(widths) || widths.length !== layers.length || widths.some((w) => !Number.isInteger(w) || w < 1))
  ) {
    throw new SpecError(
      `widths must list one positive integer per stage, as many as layers (${layers.length}); got ${fmtValue(widths)}. ` +
        'Leave widths out for the defaults (64, 128, 256, 512 for imagenet; 16, 32, 64 for cifar).',
    );
  }
  const stem = rest.stem ?? 'imagenet';
  const stages =
    stem === 'cifar'
      ? layers.map((depth, i) => ({ block, width: (widths ?? [16, 32, 64])[i] ?? 16 * 2 ** i, depth, stride: i === 0 ? 1 : 2 }))
      : imagenetStages(block, layers, widths);
  return {
    stem,
    stages,
    shortcut: rest.shortcut ?? (stem === 'cifar' ? 'A' : 'B'),
    numClasses: rest.numClasses ?? (stem === 'cifar' ? 10 : 1000),
    ...norms,
    ...rest,
  };
}

export { PRETRAINED, findPretrained, type PretrainedEntry, type ModelCard } from './pretrained.js';
export { IMAGENET_CLASSES } from './imagenet-classes.js';
export { resizeBilinear, rgbToGray } from './resample.js';
export {
  IMAGENET_V1,
  IMAGENET_V2,
  CIFAR10,
  planResize,
  toModelInput,
  preprocessRgb,
  resizeCropPadRgb,
  validatePreprocessing,
  preprocessingFromMetadata,
  defaultPreprocessing,
  NotAnImageModelError,
  type ImagePreprocessing,
  type ResizePlan,
} from './preprocess.js';
export { EMPTY_IMAGE_FILE, ImageDecodeError, sharpFailureReason, type ImageDecodeProblem } from './decode-error.js';
export { SourceError, streamDownload, downloadBytes, sha256Hex, type ProgressEvent, type DownloadOptions } from './download.js';
export {
  Classifier,
  topK,
  checkTopK,
  type ClassifierOrigin,
  type Classification,
  type ClassifyOptions,
  type ImageDecoder,
} from './classifier.js';
export {
  loadPretrained,
  loadPretrainedModel,
  classifierFrom,
  resolveSource,
  parseHubId,
  ensureBackend,
  type PretrainedOptions,
  type HubConfig,
  type ResolvedSource,
  type SourceEnvironment,
} from './resolve.js';
export { readStateDict, specFor, buildModel, headShape, type LoadedStateDict } from './weights.js';
export {
  fromPretrained,
  browserEnvironment,
  cachedFetch,
  configureBrowserSources,
  decodeImageBrowser,
  decodeRgbBrowser,
  type BrowserImageInput,
  type BrowserSourceSettings,
} from './browser.js';
