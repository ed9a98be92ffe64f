/**
 * Preprocessing as data stored with the weights, and the one implementation of it that Node (sharp
 * decode) and the browser (canvas decode) share: a decoder only produces RGB pixels at the image's
 * own size; {@link preprocessRgb} does the rest (grayscale, Pillow's resize, crop, pad, normalise).
 */
import { SpecError } from '@resnet-ts/core';
import { resizeBilinear, rgbToGray } from './resample.js';
import type { Preprocessing as CheckpointPreprocessing, ResNetSpec } from '@resnet-ts/core';

/**
 * A model that images cannot feed (an input of 2, 4 or more channels): `fromPretrained` and the
 * image preprocessing refuse it; `modelFromPretrained` loads its network for tensors.
 */
export class NotAnImageModelError extends SpecError {}

/** How an image becomes network input (NHWC float32). Steps run in this order. */
export interface ImagePreprocessing {
  /**
   * Resize: a number resizes the short side to it keeping the aspect ratio (torchvision's
   * `Resize(256)`; the long side is `floor(size * long / short)`); `[h, w]` resizes to exactly that.
   * Absent: the image keeps its size.
   */
  resize?: number | [number, number];
  /** Centre crop to [h, w] (torchvision's `CenterCrop`: offset `round((H - h) / 2)`, zero fill if larger). */
  crop?: [number, number];
  /** Centre pad with black pixels to [h, w] (offset `floor((H - h) / 2)`), before normalising. */
  padTo?: [number, number];
  /** Per-channel mean and standard deviation on the [0, 1] scale: x = (pixel / 255 - mean) / std. */
  mean: number[];
  std: number[];
  /** 1 (grayscale) or 3 (RGB). */
  channels: 1 | 3;
  /** Resampling filter of the resize (bilinear with antialiasing, as torchvision on PIL images). */
  interpolation?: 'bilinear';
}

const IMAGENET_MEAN = [0.485, 0.456, 0.406];
const IMAGENET_STD = [0.229, 0.224, 0.225];

/** torchvision's `IMAGENET1K_V1` transforms: resize the short side to 256, centre crop 224, ImageNet mean/std. */
export const IMAGENET_V1: ImagePreprocessing = { resize: 256, crop: [224, 224], mean: IMAGENET_MEAN, std: IMAGENET_STD, channels: 3, interpolation: 'bilinear' };

/** torchvision's `IMAGENET1K_V2` transforms: resize the short side to 232, centre crop 224, ImageNet mean/std. */
export const IMAGENET_V2: ImagePreprocessing = { ...IMAGENET_V1, resize: 232 };

/** The usual CIFAR-10 normalisation (per-channel mean/std of the training set) at 32x32 (short side resized, centre crop). */
export const CIFAR10: ImagePreprocessing = { resize: 32, crop: [32, 32], mean: [0.4914, 0.4822, 0.4465], std: [0.247, 0.2435, 0.2616], channels: 3 };

/** Where the decoder resizes to, and the offsets that crop/pad the result to the model's input. */
export interface ResizePlan {
  /** Size the decoder resizes the image to (the image's own size when there is no resize). */
  resizeHeight: number;
  resizeWidth: number;
  /** Output size. */
  height: number;
  width: number;
  /** Output (y, x) reads resized pixel (y + top, x + left); outside the resized image is black. */
  top: number;
  left: number;
  /**
   * With a crop padded to `padTo`: the part of the output that shows the crop (output coordinates);
   * the padding around it is black, as torchvision's CenterCrop then Pad make it, even where the
   * resized image goes on beyond the crop.
   */
  window?: { top: number; left: number; height: number; width: number };
}

/** Python's round(): halves to even (torchvision computes crop offsets with it). */
function pyRound(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

function checkSize(name: string, v: unknown): void {
  const ok = (n: unknown) => Number.isInteger(n) && (n as number) > 0;
  if (!(ok(v) || (Array.isArray(v) && v.length === 2 && v.every(ok)))) {
    throw new SpecError(`preprocessing.${name} must be a positive integer or [height, width]; got ${JSON.stringify(v)}.`);
  }
}

/** Checks a preprocessing object and returns it; a SpecError that names the bad field otherwise. */
export function validatePreprocessing(p: ImagePreprocessing): ImagePreprocessing {
  if (p.channels !== 1 && p.channels !== 3) throw new NotAnImageModelError(`preprocessing.channels must be 1 or 3; got ${JSON.stringify(p.channels)}.`);
  for (const k of ['mean', 'std'] as const) {
    const v = p[k];
    if (!Array.isArray(v) || v.length !== p.channels || !v.every((x) => Number.isFinite(x)) || (k === 'std' && v.some((x) => x <= 0))) {
      throw new SpecError(
        `preprocessing.${k} must list ${p.channels} finite numbers${k === 'std' ? ' > 0' : ''} (one per input channel of the model); got ${JSON.stringify(v)}.`,
      );
    }
  }
  if (p.resize !== undefined) checkSize('resize', p.resize);
  if (p.crop !== undefined) checkSize('crop', p.crop);
  if (p.padTo !== undefined) checkSize('padTo', p.padTo);
  return p;
}

/** The resize size, crop/pad offsets and output size for an image of `height` x `width`. */
export function planResize(height: number, width: number, p: ImagePreprocessing): ResizePlan {
  let rh = height;
  let rw = width;
  if (typeof p.resize === 'number') {
    const short = Math.min(height, width);
    const long = Math.max(height, width);
    const newLong = Math.floor((p.resize * long) / short);
    [rh, rw] = height <= width ? [p.resize, newLong] : [newLong, p.resize];
  } else if (p.resize) {
    [rh, rw] = p.resize;
  }
  let [h, w, top, left] = [rh, rw, 0, 0];
  if (p.crop) {
    const [ch, cw] = p.crop;
    top = ch <= h ? pyRound((h - ch) / 2) : -Math.floor((ch - h) / 2);
    left = cw <= w ? pyRound((w - cw) / 2) : -Math.floor((cw - w) / 2);
    [h, w] = [ch, cw];
  }
  let window: ResizePlan['window'];
  if (p.padTo) {
    const [ph, pw] = p.padTo;
    if (ph < h || pw < w) throw new SpecError(`preprocessing.padTo ${ph}x${pw} is smaller than the image after resize/crop (${h}x${w}).`);
    const [padTop, padLeft] = [(ph - h) >> 1, (pw - w) >> 1];
    if (p.crop) window = { top: padTop, left: padLeft, height: h, width: w };
    top -= padTop;
    left -= padLeft;
    [h, w] = [ph, pw];
  }
  return { resizeHeight: rh, resizeWidth: rw, height: h, width: w, top, left, ...(window ? { window } : {}) };
}

/**
 * Crops/pads resized pixels as `plan` says into `out` (`plan.height x plan.width x c`): a pixel the
 * output shows becomes `pixel * scale[k] + shift[k]`, the rest (padding, outside the image) `shift[k]`.
 * The one crop-and-pad loop of {@link toModelInput} and {@link resizeCropPadRgb}.
 */
function placeResized<T extends Float32Array | Uint8Array>(
  pixels: ArrayLike<number>,
  plan: ResizePlan,
  c: number,
  out: T,
  scale: readonly number[],
  shift: readonly number[],
): T {
  const { resizeHeight: rh, resizeWidth: rw, height: H, width: W, top, left, window: win } = plan;
  const [y0, y1, x0, x1] = win ? [win.top, win.top + win.height, win.left, win.left + win.width] : [0, H, 0, W];
  if (pixels.length !== rh * rw * c) {
    throw new SpecError(`toModelInput: got ${pixels.length} values for a ${rh}x${rw}x${c} image.`);
  }
  for (let y = 0; y < H; y++) {
    const sy = y + top;
    for (let x = 0; x < W; x++) {
      const sx = x + left;
      const o = (y * W + x) * c;
      const inside = sy >= 0 && sy < rh && sx >= 0 && sx < rw && y >= y0 && y < y1 && x >= x0 && x < x1;
      const s = (sy * rw + sx) * c;
      for (let k = 0; k < c; k++) out[o + k] = inside ? pixels[s + k] * scale[k] + shift[k] : shift[k];
    }
  }
  return out;
}

/**
 * Network input from resized pixels: `pixels` is HWC uint8 (or [0, 1] floats) of
 * `plan.resizeHeight x plan.resizeWidth x p.channels`; returns `plan.height x plan.width x channels`
 * float32, cropped/padded and normalised (black padding becomes `-mean / std`).
 */
export function toModelInput(pixels: ArrayLike<number>, plan: ResizePlan, p: ImagePreprocessing): Float32Array {
  const raw = pixels instanceof Uint8Array || pixels instanceof Uint8ClampedArray ? 1 / 255 : 1;
  const scale = p.std.map((s) => raw / s);
  const shift = p.mean.map((m, k) => -m / p.std[k]);
  return placeResized(pixels, plan, p.channels, new Float32Array(plan.height * plan.width * p.channels), scale, shift);
}

/** The steps before cropping: `p`'s plan for the image, and its pixels in `p.channels` channels resized (Pillow's filter). */
function resizeRgb(rgb: Uint8Array, height: number, width: number, p: ImagePreprocessing): { resized: Uint8Array; plan: ResizePlan } {
  if (rgb.length !== height * width * 3) throw new SpecError(`preprocessRgb: got ${rgb.length} bytes for a ${height}x${width} RGB image.`);
  const plan = planResize(height, width, p);
  const px = p.channels === 1 ? rgbToGray(rgb) : rgb;
  return { resized: resizeBilinear(px, height, width, p.channels, plan.resizeHeight, plan.resizeWidth), plan };
}

/**
 * The pixels {@link preprocessRgb} normalises: `rgb` (HWC uint8 RGB of `height` x `width`) in
 * `p.channels` channels (Pillow's luma for 1), resized with Pillow's antialiased bilinear filter,
 * centre cropped and padded with black (0) as `p` says; mean and std are not used. Returns HWC uint8
 * pixels of `height x width x channels` (the model's input size), e.g. to hold a data set of images
 * prepared as a classifier prepares them, normalised per batch.
 */
export function resizeCropPadRgb(
  rgb: Uint8Array,
  height: number,
  width: number,
  p: ImagePreprocessing,
): { pixels: Uint8Array; height: number; width: number; channels: number } {
  const { resized, plan } = resizeRgb(rgb, height, width, p);
  const c = p.channels;
  const [ones, zeros] = [new Array<number>(c).fill(1), new Array<number>(c).fill(0)];
  const pixels = placeResized(resized, plan, c, new Uint8Array(plan.height * plan.width * c), ones, zeros);
  return { pixels, height: plan.height, width: plan.width, channels: c };
}

/**
 * Model input from decoded pixels: `rgb` is HWC uint8 RGB of `height` x `width` (no alpha). Converts
 * to grayscale for 1-channel models (Pillow's luma), resizes with Pillow's antialiased bilinear filter
 * as torchvision does, then crops, pads and normalises: the steps of {@link resizeCropPadRgb}, with
 * the normalisation in its crop-and-pad pass. Returns `[H, W, C]` float32 data and its size.
 */
export function preprocessRgb(rgb: Uint8Array, height: number, width: number, p: ImagePreprocessing): { data: Float32Array; height: number; width: number; channels: number } {
  const { resized, plan } = resizeRgb(rgb, height, width, p);
  return { data: toModelInput(resized, plan, p), height: plan.height, width: plan.width, channels: p.channels };
}

/**
 * The preprocessing of a resnet-ts checkpoint's `preprocessing` metadata (written by `resnet train`:
 * `{mean, std, imageSize, padTo}` or this module's fields), for a model with `spec`.
 */
export function preprocessingFromMetadata(meta: CheckpointPreprocessing, spec: ResNetSpec): ImagePreprocessing {
  const channels = (meta.channels ?? spec.inChannels ?? 3) as 1 | 3;
  const m = meta as CheckpointPreprocessing & Partial<ImagePreprocessing> & { imageSize?: [number, number] };
  return validatePreprocessing({
    resize: m.resize ?? m.imageSize ?? (m.padTo ? undefined : m.inputSize),
    crop: m.crop,
    padTo: m.padTo,
    mean: m.mean ?? new Array<number>(channels).fill(0.5),
    std: m.std ?? new Array<number>(channels).fill(0.5),
    channels,
  });
}

/**
 * The preprocessing a checkpoint without preprocessing metadata gets: torchvision's ImageNet V1
 * transforms for an ImageNet-stem 3-channel model, the CIFAR-10 normalisation for a CIFAR-stem
 * 3-channel one, else mean/std 0.5 at the model's input size.
 */
export function defaultPreprocessing(spec: ResNetSpec): ImagePreprocessing {
  const channels = spec.inChannels ?? 3;
  if (channels === 3 && spec.stem !== 'cifar') return IMAGENET_V1;
  if (channels === 3) return CIFAR10;
  if (channels !== 1)
    throw new NotAnImageModelError(
      `Images can feed 1- or 3-channel models; this one takes ${channels}: give it tensors instead (resnet forward --input x.npy, or modelFromPretrained and model.forward).`,
    );
  return { resize: spec.inputSize, mean: [0.5], std: [0.5], channels: 1 };
}
