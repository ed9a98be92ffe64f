/**
 * The browser decoder's pixels as the file stores them. A 2D canvas keeps premultiplied alpha, so it
 * gives a pixel of alpha 0 as black whatever colour the file stores there, and pixels of low alpha
 * with rounding errors; PIL's `convert('RGB')` (torchvision's decoder) and the Node decoder drop
 * alpha and keep the stored colour. A bitmap decoded without premultiplication is read through a
 * WebGL texture instead (uploaded unpremultiplied, read back with `readPixels`), which keeps it; a 2D
 * canvas remains the way when WebGL is missing or the image is over its texture size, and for
 * sources whose pixels are already what they are (a canvas). An `<img>` is read the same way, from
 * a bitmap of the element itself (its URL is never fetched again).
 */
import { EMPTY_IMAGE_FILE, ImageDecodeError } from './decode-error.js';
import { dropAlpha, gifFirstFrame, rgbAsPil } from './gif-first-frame.js';

/** RGB pixels of an image, 3 bytes a pixel, top row first. */
export interface BrowserRgb {
  rgb: Uint8Array;
  height: number;
  width: number;
}

type GL = WebGL2RenderingContext | WebGLRenderingContext;

/** The one WebGL context every decode reads through; null once creating one failed. */
let context: GL | null | undefined;

/** The shared WebGL context, made on first use (again after a lost one); null when there is none. */
function glContext(): GL | null {
  if (context === null || (context && !context.isContextLost())) return context;
  context = null;
  if (typeof OffscreenCanvas === 'undefined') return null;
  const canvas = new OffscreenCanvas(1, 1);
  const attributes: WebGLContextAttributes = { alpha: true, antialias: false, depth: false, stencil: false, premultipliedAlpha: false };
  try {
    context = (canvas.getContext('webgl2', attributes) ?? canvas.getContext('webgl', attributes)) as GL | null;
  } catch {
    context = null;
  }
  return context;
}

/**
 * The RGBA of a bitmap decoded with `premultiplyAlpha: 'none'` (or an `<img>`, which WebGL uploads
 * unpremultiplied), exactly as stored (4 bytes a pixel, top row first), through a WebGL texture;
 * null when there is no WebGL, the image is larger than its textures, or the upload fails (out of
 * memory, a cross-origin image), so that the caller reads it another way.
 */
export function webglRgba(image: ImageBitmap | HTMLImageElement, width = image.width, height = image.height): Uint8Array | null {
  const gl = glContext();
  if (!gl || width === 0 || height === 0) return null;
  const max = gl.getParameter(gl.MAX_TEXTURE_SIZE) as number;
  if (width > max || height > max) return null;
  while (gl.getError() !== gl.NO_ERROR && !gl.isContextLost());
  const texture = gl.createTexture();
  const framebuffer = gl.createFramebuffer();
  try {
    gl.bindTexture(gl.TEXTURE_2D, texture);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, gl.NEAREST);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MAG_FILTER, gl.NEAREST);
    gl.pixelStorei(gl.UNPACK_FLIP_Y_WEBGL, false);
    gl.pixelStorei(gl.UNPACK_PREMULTIPLY_ALPHA_WEBGL, false);
    gl.pixelStorei(gl.UNPACK_COLORSPACE_CONVERSION_WEBGL, gl.NONE);
    const internal = typeof WebGL2RenderingContext !== 'undefined' && gl instanceof WebGL2RenderingContext ? gl.RGBA8 : gl.RGBA;
    try {
      gl.texImage2D(gl.TEXTURE_2D, 0, internal, gl.RGBA, gl.UNSIGNED_BYTE, image);
    } catch {
      return null; // a cross-origin image without CORS: a SecurityError
    }
    if (gl.getError() !== gl.NO_ERROR) return null;
    gl.bindFramebuffer(gl.FRAMEBUFFER, framebuffer);
    gl.framebufferTexture2D(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0, gl.TEXTURE_2D, texture, 0);
    if (gl.checkFramebufferStatus(gl.FRAMEBUFFER) !== gl.FRAMEBUFFER_COMPLETE) return null;
    const rgba = new Uint8Array(width * height * 4);
    gl.pixelStorei(gl.PACK_ALIGNMENT, 1);
    // The texture's first row is the image's top row, and readPixels starts at row 0: no flip.
    gl.readPixels(0, 0, width, height, gl.RGBA, gl.UNSIGNED_BYTE, rgba);
    return gl.getError() === gl.NO_ERROR ? rgba : null;
  } finally {
    gl.bindFramebuffer(gl.FRAMEBUFFER, null);
    gl.bindTexture(gl.TEXTURE_2D, null);
    gl.deleteFramebuffer(framebuffer);
    gl.deleteTexture(texture);
  }
}

/** The RGBA of anything a 2D canvas draws, `width` x `height` (premultiplied by the canvas, then undone). */
export function canvasRgba(source: CanvasImageSource | OffscreenCanvas, width: number, height: number): Uint8Array {
  const canvas = new OffscreenCanvas(width, height);
  const ctx = canvas.getContext('2d', { willReadFrequently: true }) as OffscreenCanvasRenderingContext2D;
  ctx.drawImage(source as CanvasImageSource, 0, 0);
  const { data } = ctx.getImageData(0, 0, width, height);
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** The bytes of a blob when it is a GIF, else null (only the first 6 bytes of other files are read). */
async function gifBytes(blob: Blob): Promise<Uint8Array | null> {
  const magic = new TextDecoder('latin1').decode(await blob.slice(0, 6).arrayBuffer());
  return magic === 'GIF87a' || magic === 'GIF89a' ? new Uint8Array(await blob.arrayBuffer()) : null;
}

/**
 * RGB of an encoded image as the Node decoder and PIL's `convert('RGB')` give it: alpha dropped and
 * the colour stored under it kept, EXIF orientation applied, an embedded colour profile ignored, and
 * a GIF's transparent pixels given their palette colour (see {@link gifRgbAsPil}). `image` names it
 * in an {@link ImageDecodeError}: an empty blob (0 bytes) or one the browser cannot decode.
 */
export async function decodeBlobRgb(blob: Blob, image: string): Promise<BrowserRgb> {
  if (blob.size === 0) throw new ImageDecodeError(image, `it is ${EMPTY_IMAGE_FILE}`, 'empty');
  let bitmap: ImageBitmap;
  try {
    bitmap = await storedBitmap(blob);
  } catch (e) {
    throw new ImageDecodeError(image, (e as Error).message, 'format');
  }
  const { width, height } = bitmap;
  const rgba = bitmapRgba(bitmap);
  const bytes = await gifBytes(blob);
  return { rgb: rgbAsPil(rgba, width, height, bytes && gifFirstFrame(bytes)), height, width };
}

/**
 * RGB of an `<img>` (loaded: `decode()` has resolved): the pixels the element shows, never its URL
 * fetched again (a server may send another image the next time: a webcam snapshot, a `no-store`
 * page). Read as {@link decodeBlobRgb} reads a file: a bitmap of the element decoded without
 * premultiplied alpha (the colour stored under alpha 0 kept), EXIF orientation applied, through WebGL;
 * else the element itself through WebGL, else a 2D canvas (black under alpha 0). Unlike a file, a
 * GIF's transparent pixels are not given their palette colour (the element does not keep it).
 */
export async function decodeImageElementRgb(img: HTMLImageElement): Promise<BrowserRgb> {
  const bitmap = await storedBitmap(img).catch(() => undefined); // e.g. an SVG without a size of its own
  if (bitmap) {
    const { width, height } = bitmap;
    return { rgb: dropAlpha(bitmapRgba(bitmap)), height, width };
  }
  // The element itself: an unpremultiplied WebGL upload, else a 2D canvas.
  const [width, height] = [img.naturalWidth, img.naturalHeight];
  return { rgb: dropAlpha(webglRgba(img, width, height) ?? canvasRgba(img, width, height)), height, width };
}

/** A bitmap of an encoded image or an `<img>` as stored: not premultiplied, no colour conversion, EXIF orientation applied. */
function storedBitmap(source: Blob | HTMLImageElement): Promise<ImageBitmap> {
  return createImageBitmap(source, { colorSpaceConversion: 'none', premultiplyAlpha: 'none', imageOrientation: 'from-image' });
}

/** The RGBA of `bitmap` as stored (through WebGL, else a 2D canvas), then closes it. */
function bitmapRgba(bitmap: ImageBitmap): Uint8Array {
  try {
    return webglRgba(bitmap) ?? canvasRgba(bitmap, bitmap.width, bitmap.height);
  } finally {
    bitmap.close();
  }
}
