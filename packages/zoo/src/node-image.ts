/**
 * Node's image decoder: sharp decodes (JPEG, PNG, WebP, ...; EXIF orientation applied) to RGB at the
 * image's own size, and bitmap-formats.ts what sharp's libvips lacks (BMP, PPM/PGM/PBM); everything
 * after that is the shared {@link preprocessRgb}.
 */
import fs from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import type Sharp from 'sharp';
import { SpecError } from '@resnet-ts/core';
import { ImagePreprocessing, preprocessRgb } from './preprocess.js';
import { BITMAP_FORMATS, PIXEL_LIMIT, RgbPixels, decodeBitmap } from './bitmap-formats.js';
import { EMPTY_IMAGE_FILE, ImageDecodeError, sharpFailureReason } from './decode-error.js';
import { alone, reasonLost, shared } from './decode-gate.js';
import { gifFirstFrame, rgbAsPil } from './gif-first-frame.js';

/**
 * sharp, loaded on the first decode: loading its native library costs ~80 ms, which every command
 * that decodes no image (`resnet forward`, `eval` on IDX data, ...) would otherwise pay at start.
 */
let sharpModule: typeof Sharp | undefined;
const sharpLib = (): typeof Sharp => (sharpModule ??= require('sharp') as typeof Sharp);
function sharp(...args: Parameters<typeof Sharp>): ReturnType<typeof Sharp> {
  return sharpLib()(...args);
}

/**
 * The decoder that turns image files into pixels here, with its version, e.g. `sharp 0.34.5, libvips
 * 8.17.3`: another version may decode a JPEG to slightly other pixels (a training checkpoint stores it,
 * so that a resume can tell a decoder update from edited images).
 */
export function imageDecoderVersion(): string {
  const { versions } = sharpLib();
  return `sharp ${versions.sharp}, libvips ${versions.vips}`;
}

/** An image in Node: a file path, or the bytes of an encoded image. */
export type NodeImageInput = string | Uint8Array;

/**
 * Decodes an image file or encoded bytes to HWC uint8 RGB with sharp (alpha dropped and an embedded
 * ICC profile ignored, as PIL's `convert('RGB')` on which torchvision models were trained). CMYK
 * images (print JPEGs) take PIL's arithmetic too, not a colour-managed conversion (see {@link cmykToRgb}),
 * and a GIF's transparent pixels PIL's colour, that of their palette index (see {@link gifRgbAsPil}).
 * An image that cannot be decoded, or is over the pixel limit, is an {@link ImageDecodeError}.
 */
export async function decodeRgb(input: NodeImageInput): Promise<DecodedRgb> {
  if (typeof input !== 'string' && !(input instanceof Uint8Array)) {
    throw new SpecError('classify accepts a file path, a Buffer/Uint8Array of an encoded image, or a tensor.');
  }
  const size: { width?: number; height?: number } = {};
  try {
    try {
      return await shared(() => decodeOnce(input, size));
    } catch (e) {
      if (!reasonLost(e)) throw e;
      return await alone(() => decodeOnce(input, size));
    }
  } catch (e) {
    throw decodeFailure(input, e, size);
  }
}

/** {@link decodeRgb}'s pixels, and the EXIF orientation (2 to 8) it applied, when it applied one (see {@link exifOrientation}). */
export interface DecodedRgb extends RgbPixels {
  orientation?: number;
}

/** {@link decodeRgb}'s work, throwing the decoder's own errors; `size` gets the header's width and height. */
async function decodeOnce(input: NodeImageInput, size: { width?: number; height?: number }): Promise<DecodedRgb> {
  const bitmap = decodeBitmap(input, PIXEL_LIMIT);
  if (bitmap) return bitmap;
  // The header only (no pixel limit here: the decode below applies it, and the error can then give the size).
  const meta = await sharp(input, { failOn: 'error', limitInputPixels: false }).metadata();
  Object.assign(size, { width: meta.width, height: meta.height });
  const px = await decodeWithSharp(input, meta);
  const o = meta.orientation;
  return o !== undefined && o >= 2 && o <= 8 ? { ...px, orientation: o } : px;
}

/** The pixels of an image sharp reads, upright by its EXIF orientation: CMYK as PIL, a GIF's first frame as PIL, else sRGB. */
async function decodeWithSharp(input: NodeImageInput, meta: Sharp.Metadata): Promise<RgbPixels> {
  const cmyk = meta.space === 'cmyk';
  const img = sharp(input, { failOn: 'error', ignoreIcc: true }).rotate();
  if (cmyk) {
    const { data, info } = await img.pipelineColourspace('cmyk').toColourspace('cmyk').raw().toBuffer({ resolveWithObject: true });
    if (info.channels !== 4) throw new Error(`decoded CMYK to ${info.channels} channels`);
    return { rgb: cmykToRgb(data), height: info.height, width: info.width };
  }
  if (meta.format === 'gif') {
    const gif = gifFirstFrame(typeof input === 'string' ? fs.readFileSync(input) : input);
    const { data, info } = await img.ensureAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
    if (info.channels !== 4) throw new Error(`decoded to ${info.channels} channels`);
    return { rgb: rgbAsPil(data, info.width, info.height, gif), height: info.height, width: info.width };
  }
  const { data, info } = await img.removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels`);
  return { rgb: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), height: info.height, width: info.width };
}

/** The {@link ImageDecodeError} of a decode that failed with `e`: an empty file, one over the pixel limit, or the decoder's reason. */
function decodeFailure(input: NodeImageInput, e: unknown, size: { width?: number; height?: number }): ImageDecodeError {
  const what = typeof input === 'string' ? `'${input}'` : 'the image bytes';
  if (byteLength(input) === 0) return new ImageDecodeError(what, `it is ${EMPTY_IMAGE_FILE}`, 'empty');
  const message = (e as Error).message;
  if (/pixel limit/.test(message)) return new ImageDecodeError(what, tooLargeReason(size), 'size');
  return new ImageDecodeError(what, sharpFailureReason(message), 'format', `JPEG, PNG, WebP, TIFF, GIF, AVIF, ${BITMAP_FORMATS}`);
}

/** The size in bytes of a file or bytes; -1 when a file cannot be read. */
function byteLength(input: NodeImageInput): number {
  if (typeof input !== 'string') return input.length;
  try {
    return fs.statSync(input).size;
  } catch {
    return -1;
  }
}

/**
 * The EXIF orientation that {@link decodeRgb} applies to an image: 2 to 8 (3, 6, 8: turned by 180,
 * 90 or 270 degrees; 2, 4, 5, 7: mirrored, and turned for 5 and 7), or 1 when it applies none (no
 * EXIF orientation, or a file sharp does not read). PIL, and so torchvision, applies none. Reads the
 * header only; never throws (an unreadable image is {@link decodeRgb}'s to report).
 */
export async function exifOrientation(input: NodeImageInput): Promise<number> {
  if (typeof input !== 'string' && !(input instanceof Uint8Array)) return 1;
  try {
    const { orientation } = await sharp(input, { failOn: 'error', limitInputPixels: false }).metadata();
    return orientation !== undefined && orientation >= 2 && orientation <= 8 ? orientation : 1;
  } catch {
    return 1;
  }
}

/** Why an image over {@link PIXEL_LIMIT} is refused: its format is fine, its size is not. */
function tooLargeReason(size: { width?: number; height?: number }): string {
  const { width, height } = size;
  const dims = width && height ? ` is ${width}x${height} pixels (${Math.round((width * height) / 1e6)} megapixels), which` : '';
  return (
    `it${dims} exceeds the decoder's limit of ${Math.round(PIXEL_LIMIT / 1e6)} megapixels (about 16383x16383). ` +
    `Downscale it first (e.g. \`vips resize in.png out.png 0.1\`); the model sees it at its input size anyway.`
  );
}

/**
 * CMYK (as stored, Adobe inversion undone by the decoder) to RGB with PIL's `convert('RGB')`
 * arithmetic, channel = (255 - k) - round((255 - k) * c / 255), rounded exactly as Pillow's
 * MULDIV255. A colour-managed conversion (libvips' default CMYK profile) differs from it by up to
 * ~40 levels, and models trained through torchvision saw PIL's colours.
 */
export function cmykToRgb(cmyk: Uint8Array): Uint8Array {
  const n = cmyk.length / 4;
  const rgb = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) {
    const nk = 255 - cmyk[4 * i + 3];
    for (let c = 0; c < 3; c++) {
      const t = cmyk[4 * i + c] * nk + 128;
      rgb[3 * i + c] = nk - (((t >> 8) + t) >> 8);
    }
  }
  return rgb;
}

/** Decodes and preprocesses one image to `[H, W, C]` float32 model input. */
export async function decodeImageNode(input: NodeImageInput, p: ImagePreprocessing): Promise<tf.Tensor3D> {
  const { rgb, height, width } = await decodeRgb(input);
  const x = preprocessRgb(rgb, height, width, p);
  return tf.tensor3d(x.data, [x.height, x.width, x.channels]);
}
