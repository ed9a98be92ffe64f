/** Turning what the user gives (an image file, a sample, a drawing) into a 28x28 grey Fashion-MNIST-like image. */
import { PageError } from './nets';

/** 28x28 grey pixels (0 = black background, like Fashion-MNIST) plus a note on what was done. */
export interface Grey28 {
  pixels: Uint8Array;
  note: string;
}

/**
 * Scales the image to fit 28x28 on black, converts to grey; if the border is mostly light (a photo
 * of a dark object on a white background) it is inverted, because Fashion-MNIST is light-on-dark.
 */
export function toGrey28(source: CanvasImageSource, width: number, height: number): Grey28 {
  const canvas = document.createElement('canvas');
  canvas.width = canvas.height = 28;
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  if (!ctx) throw new PageError('This browser gives no 2D canvas to read images with.');
  ctx.fillStyle = '#000';
  ctx.fillRect(0, 0, 28, 28);
  const scale = 28 / Math.max(width, height);
  const w = Math.max(1, Math.round(width * scale));
  const h = Math.max(1, Math.round(height * scale));
  ctx.imageSmoothingQuality = 'high';
  ctx.drawImage(source, Math.floor((28 - w) / 2), Math.floor((28 - h) / 2), w, h);
  const rgba = ctx.getImageData(0, 0, 28, 28).data;
  const pixels = new Uint8Array(28 * 28);
  for (let i = 0; i < pixels.length; i++) pixels[i] = Math.round(0.299 * rgba[4 * i] + 0.587 * rgba[4 * i + 1] + 0.114 * rgba[4 * i + 2]);
  // Only a square image fills the border; letterboxed images have black bars there.
  let border = 0;
  let n = 0;
  const x0 = Math.floor((28 - w) / 2);
  const y0 = Math.floor((28 - h) / 2);
  for (let y = y0; y < y0 + h; y++) {
    for (let x = x0; x < x0 + w; x++) {
      if (y === y0 || y === y0 + h - 1 || x === x0 || x === x0 + w - 1) {
        border += pixels[y * 28 + x];
        n++;
      }
    }
  }
  if (n && border / n > 128) {
    for (let y = y0; y < y0 + h; y++) for (let x = x0; x < x0 + w; x++) pixels[y * 28 + x] = 255 - pixels[y * 28 + x];
    return { pixels, note: 'light background: inverted to light-on-dark like Fashion-MNIST' };
  }
  return { pixels, note: width === 28 && height === 28 ? '28x28 grey' : `scaled from ${width}x${height}` };
}

/** Decodes an image file or blob (PNG, JPEG, ...) with the browser's decoder. */
export async function decodeImage(blob: Blob, name: string): Promise<Grey28> {
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(blob);
  } catch (e) {
    throw new PageError(`Cannot read the image ${name}: the browser could not decode it (${(e as Error).message || 'not an image'}).`);
  }
  try {
    return toGrey28(bitmap, bitmap.width, bitmap.height);
  } finally {
    bitmap.close();
  }
}

/** Draws 28x28 grey pixels, enlarged, on a canvas. */
export function showGrey(canvas: HTMLCanvasElement, pixels: Uint8Array): void {
  const small = document.createElement('canvas');
  small.width = small.height = 28;
  const sctx = small.getContext('2d')!;
  const img = sctx.createImageData(28, 28);
  for (let i = 0; i < 784; i++) img.data.set([pixels[i], pixels[i], pixels[i], 255], 4 * i);
  sctx.putImageData(img, 0, 0);
  const ctx = canvas.getContext('2d')!;
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(small, 0, 0, canvas.width, canvas.height);
}
