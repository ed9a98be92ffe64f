import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { DataError } from '../errors.js';
import { Dataset } from './dataset.js';

const IMAGE_EXT = /\.(jpe?g|png)$/i;

/** Options of {@link loadImageFolder} and {@link decodeImage}. */
export interface ImageDecodeOptions {
  /** Output [height, width]. */
  size: [number, number];
  /** 1 (grayscale) or 3 (RGB). Default 3. */
  channels?: 1 | 3;
  /** How to fit another aspect ratio: 'cover' (scale + centre crop, default) or 'fill' (stretch). */
  fit?: 'cover' | 'fill';
}

/** Decodes one JPEG/PNG file to HWC uint8 pixels of the given size and channels (sharp). */
export async function decodeImage(file: string, options: ImageDecodeOptions): Promise<Uint8Array> {
  const [h, w] = options.size;
  const channels = options.channels ?? 3;
  try {
    let img = sharp(file)
      .rotate()
      .resize(w, h, { fit: options.fit ?? 'cover' })
      .removeAlpha();
    img = channels === 1 ? img.grayscale() : img.toColourspace('srgb');
    const { data, info } = await img.raw().toBuffer({ resolveWithObject: true });
    if (info.channels !== channels || info.width !== w || info.height !== h) {
      throw new Error(`decoded to ${info.width}x${info.height}x${info.channels}`);
    }
    return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  } catch (e) {
    throw new DataError(`Cannot decode image ${file}: ${(e as Error).message}. Only JPEG and PNG files are supported.`);
  }
}

/**
 * An image folder: one sub-folder per class (sorted names are the classes), JPEG/PNG files inside,
 * decoded with sharp and resized to `size`.
 */
export async function loadImageFolder(dir: string, options: ImageDecodeOptions): Promise<Dataset> {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new DataError(`Image folder ${dir} does not exist or is not a folder.`);
  const classes = fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
  const items: { file: string; label: number }[] = [];
  classes.forEach((c, label) => {
    for (const f of fs.readdirSync(path.join(dir, c)).sort()) if (IMAGE_EXT.test(f)) items.push({ file: path.join(dir, c, f), label });
  });
  if (classes.length === 0 || items.length === 0) {
    throw new DataError(
      `Image folder ${dir} has no images: expected one sub-folder per class with .jpg/.jpeg/.png files inside (e.g. ${dir}/cat/1.jpg).`,
    );
  }
  const [h, w] = options.size;
  const c = options.channels ?? 3;
  const per = h * w * c;
  const images = new Uint8Array(items.length * per);
  const labels = new Int32Array(items.length);
  const concurrency = 8;
  for (let i = 0; i < items.length; i += concurrency) {
    const chunk = items.slice(i, i + concurrency);
    const decoded = await Promise.all(chunk.map((it) => decodeImage(it.file, options)));
    decoded.forEach((px, j) => {
      images.set(px, (i + j) * per);
      labels[i + j] = chunk[j].label;
    });
  }
  return { images, labels, shape: [h, w, c], classes, source: dir };
}
