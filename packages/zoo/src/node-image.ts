/**
 * Node's image decoder: sharp decodes (JPEG, PNG, WebP, ...; EXIF orientation applied), converts to
 * the model's channels and resizes to the size {@link planResize} gives; crop, pad and normalisation
 * are the shared {@link toModelInput}.
 */
import * as tf from '@tensorflow/tfjs-core';
import sharp from 'sharp';
import { SpecError } from '@resnet-ts/core';
import { ImagePreprocessing, planResize, toModelInput } from './preprocess.js';

/** An image in Node: a file path, or the bytes of an encoded image. */
export type NodeImageInput = string | Uint8Array;

/**
 * sharp's resize options closest to torchvision's antialiased bilinear resize of PIL images
 * (measured on the skimage photos, see the zoo README): the linear kernel, with shrink-on-load off
 * so JPEGs are not pre-reduced by libjpeg's DCT scaling.
 */
export const SHARP_RESIZE = { kernel: 'linear', fit: 'fill', fastShrinkOnLoad: false } as const;

/** Decoded, resized HWC uint8 pixels of `input` for `p`, with the plan that produced them. */
export async function decodePixels(input: NodeImageInput, p: ImagePreprocessing): Promise<{ pixels: Uint8Array; plan: ReturnType<typeof planResize> }> {
  const what = typeof input === 'string' ? `'${input}'` : 'the image bytes';
  try {
    const img = sharp(input, { failOn: 'error' }).rotate();
    const meta = await img.metadata();
    const oriented = (meta.orientation ?? 1) >= 5;
    const [h, w] = oriented ? [meta.width ?? 0, meta.height ?? 0] : [meta.height ?? 0, meta.width ?? 0];
    const plan = planResize(h, w, p);
    let pipe = img.removeAlpha();
    if (plan.resizeHeight !== h || plan.resizeWidth !== w) pipe = pipe.resize(plan.resizeWidth, plan.resizeHeight, SHARP_RESIZE);
    pipe = p.channels === 1 ? pipe.grayscale() : pipe.toColourspace('srgb');
    const { data, info } = await pipe.raw().toBuffer({ resolveWithObject: true });
    if (info.width !== plan.resizeWidth || info.height !== plan.resizeHeight || info.channels !== p.channels) {
      throw new Error(`decoded to ${info.width}x${info.height}x${info.channels}`);
    }
    return { pixels: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), plan };
  } catch (e) {
    if (e instanceof SpecError) throw e;
    const msg = (e as Error).message.split('\n')[0];
    throw new SpecError(`Cannot decode ${what} as an image (${msg}). Give a JPEG, PNG or WebP file, or a tensor.`);
  }
}

/** Decodes and preprocesses one image to `[H, W, C]` float32 model input. */
export async function decodeImageNode(input: NodeImageInput, p: ImagePreprocessing): Promise<tf.Tensor3D> {
  if (typeof input !== 'string' && !(input instanceof Uint8Array)) {
    throw new SpecError('classify accepts a file path, a Buffer/Uint8Array of an encoded image, or a tensor.');
  }
  const { pixels, plan } = await decodePixels(input, p);
  return tf.tensor3d(toModelInput(pixels, plan, p), [plan.height, plan.width, p.channels]);
}
