/**
 * What an exported file says about itself in its `metadata_props`, beside the graph: the resnet-ts
 * spec and input layout, and, when known, how images are prepared for the network and what its
 * outputs are called. A runtime that feeds the file (onnxruntime, Triton, a browser app) needs both
 * to give the right answer: the graph alone takes any float tensor and returns plausible logits for
 * an image normalised the wrong way.
 */
import type { ResNetSpec } from '@resnet-ts/core';
import { ResNetError } from '@resnet-ts/core';
import { modelProtoType } from './schema.js';

/** The `metadata_props` keys resnet-ts writes (every key under the `resnet-ts.` prefix is its own). */
export const ONNX_METADATA_KEYS = {
  spec: 'resnet-ts.spec',
  layout: 'resnet-ts.layout',
  preprocessing: 'resnet-ts.preprocessing',
  labels: 'resnet-ts.labels',
  /** One sentence for people reading the file in a viewer (Netron): the input the graph expects. */
  input: 'resnet-ts.input',
} as const;

/**
 * How images are prepared for the network (the fields of the zoo's `ImagePreprocessing`, which a
 * classifier's `preprocessing` is): the decoded image turned upright by its EXIF orientation (every
 * resnet-ts decoder does this first; the field is not stored, so that the entry reads back as the
 * classifier's own), pixels in [0, 1] (`value / 255`), resized (`resize`: the short side, or exactly
 * `[h, w]`; bilinear with antialiasing, as torchvision on PIL images, also where `interpolation` is
 * absent), centre cropped (`crop`) or padded (`padTo`), then `(x - mean) / std` per channel.
 */
export interface OnnxPreprocessing {
  resize?: number | [number, number];
  crop?: [number, number];
  padTo?: [number, number];
  mean: number[];
  std: number[];
  /** 1 (grayscale, Pillow's luma) or 3 (RGB). */
  channels: 1 | 3;
  interpolation?: 'bilinear';
}

/** What {@link readOnnxMetadata} finds in an exported file. */
export interface OnnxMetadata {
  /** The resnet-ts spec of the network (absent in a file resnet-ts did not write). */
  spec?: ResNetSpec;
  /** The graph's input layout. */
  layout?: 'nchw' | 'nhwc';
  /** How images are prepared for it; absent when the export was not told (a bare model, weights that do not store it). */
  preprocessing?: OnnxPreprocessing;
  /** Class names, one per output; absent when the outputs have no names. */
  labels?: string[];
  /** Every `metadata_props` entry as stored, those above included. */
  props: Record<string, string>;
}

/** Metadata an export cannot store: it would describe another network than the graph. */
export class OnnxMetadataError extends ResNetError {
  constructor(message: string) {
    super(message, 'ONNX_METADATA');
  }
}

const positiveInt = (v: unknown) => Number.isInteger(v) && (v as number) > 0;
const sizePair = (v: unknown) => Array.isArray(v) && v.length === 2 && v.every(positiveInt);

/** Refuses preprocessing that cannot feed a network of `channels` input channels, or is malformed. */
function checkPreprocessing(p: OnnxPreprocessing, channels: number): void {
  const bad = (what: string) => new OnnxMetadataError(`preprocessing: ${what}; got ${JSON.stringify(p)}.`);
  if (p.channels !== channels) throw bad(`prepares ${p.channels}-channel images, but the network takes ${channels} input channels`);
  for (const k of ['mean', 'std'] as const) {
    const v = p[k];
    if (!Array.isArray(v) || v.length !== channels || !v.every(Number.isFinite) || (k === 'std' && v.some((x) => x <= 0)))
      throw bad(`${k} must list ${channels} finite numbers${k === 'std' ? ' > 0' : ''}`);
  }
  if (p.resize !== undefined && !positiveInt(p.resize) && !sizePair(p.resize))
    throw bad('resize must be a positive integer or [height, width]');
  for (const k of ['crop', 'padTo'] as const) if (p[k] !== undefined && !sizePair(p[k])) throw bad(`${k} must be [height, width]`);
}

/** The one-sentence description of the expected input, e.g. for Netron's model properties. */
function describeInput(p: OnnxPreprocessing | undefined, layout: 'nchw' | 'nhwc', channels: number): string {
  const shape = layout === 'nchw' ? `[batch, ${channels}, height, width]` : `[batch, height, width, ${channels}]`;
  if (!p) return `float32 ${shape}; how images were normalised for this network was not stored.`;
  const size = (s: number | [number, number]) => (Array.isArray(s) ? `${s[0]}x${s[1]}` : `short side ${s}`);
  const round = (v: number[]) => v.map((x) => +x.toFixed(6)).join(', ');
  const steps = [
    p.channels === 1 ? 'a grayscale image (luma)' : 'an RGB image',
    'turned upright by its EXIF orientation',
    p.resize !== undefined ? `resized to ${size(p.resize)} (bilinear, antialiased)` : undefined,
    p.crop ? `centre-cropped to ${size(p.crop)}` : undefined,
    p.padTo ? `centre-padded with black to ${size(p.padTo)}` : undefined,
    `pixel / 255`,
    `minus mean [${round(p.mean)}]`,
    `divided by std [${round(p.std)}] per channel`,
  ].filter(Boolean);
  return `float32 ${shape}: ${steps.join(', ')}.`;
}

/**
 * The `metadata_props` of an export: the spec and layout, the preprocessing and labels when given
 * (checked against the network), the input sentence, then `extra` (which may not use the `resnet-ts.`
 * prefix: those keys describe the graph).
 */
export function exportMetadata(
  spec: ResNetSpec,
  layout: 'nchw' | 'nhwc',
  given: { preprocessing?: OnnxPreprocessing; labels?: readonly string[]; extra?: Record<string, string> },
): { key: string; value: string }[] {
  const channels = spec.inChannels ?? 3;
  const { preprocessing, labels, extra = {} } = given;
  if (preprocessing) checkPreprocessing(preprocessing, channels);
  const classes = spec.numClasses ?? 1000;
  if (labels && (labels.length !== classes || !labels.every((l) => typeof l === 'string')))
    throw new OnnxMetadataError(`labels must list ${classes} names, one per output of the network; got ${labels.length}.`);
  const reserved = Object.keys(extra).filter((k) => k.toLowerCase().startsWith('resnet-ts.'));
  if (reserved.length)
    throw new OnnxMetadataError(
      `metadata keys starting with 'resnet-ts.' are the exporter's own (${reserved.join(', ')}); give preprocessing and labels as options, or use another key.`,
    );
  const props: Record<string, string> = {
    [ONNX_METADATA_KEYS.spec]: JSON.stringify(spec),
    [ONNX_METADATA_KEYS.layout]: layout,
    ...(preprocessing ? { [ONNX_METADATA_KEYS.preprocessing]: JSON.stringify(preprocessing) } : {}),
    ...(labels ? { [ONNX_METADATA_KEYS.labels]: JSON.stringify(labels) } : {}),
    [ONNX_METADATA_KEYS.input]: describeInput(preprocessing, layout, channels),
    ...extra,
  };
  return Object.entries(props).map(([key, value]) => ({ key, value }));
}

/** Parses one JSON entry, naming the key in the error of a damaged file. */
function parseEntry<T>(props: Record<string, string>, key: string): T | undefined {
  if (props[key] === undefined) return undefined;
  try {
    return JSON.parse(props[key]) as T;
  } catch {
    throw new OnnxMetadataError(`the ONNX file's metadata entry '${key}' is not valid JSON; the file is damaged or was edited.`);
  }
}

/**
 * Reads what an exported ONNX file says about itself (the spec, layout, preprocessing and labels
 * resnet-ts stored, and every other `metadata_props` entry), e.g. to prepare images for
 * onnxruntime the way the network was trained. Throws on bytes that are not an ONNX model.
 */
export function readOnnxMetadata(bytes: Uint8Array): OnnxMetadata {
  let decoded: { metadata_props?: { key: string; value: string }[]; graph?: unknown };
  try {
    decoded = modelProtoType().decode(bytes) as unknown as typeof decoded;
  } catch (e) {
    throw new OnnxMetadataError(`not an ONNX model (${(e as Error).message}).`);
  }
  if (!decoded.graph) throw new OnnxMetadataError('not an ONNX model: it has no graph.');
  const props = Object.fromEntries((decoded.metadata_props ?? []).map((p) => [p.key, p.value]));
  const layout = props[ONNX_METADATA_KEYS.layout];
  return {
    spec: parseEntry<ResNetSpec>(props, ONNX_METADATA_KEYS.spec),
    layout: layout === 'nchw' || layout === 'nhwc' ? layout : undefined,
    preprocessing: parseEntry<OnnxPreprocessing>(props, ONNX_METADATA_KEYS.preprocessing),
    labels: parseEntry<string[]>(props, ONNX_METADATA_KEYS.labels),
    props,
  };
}
