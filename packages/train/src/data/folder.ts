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

/** Options of {@link loadImageFolder}. */
export interface ImageFolderOptions extends ImageDecodeOptions {
  /**
   * The class list labels index (e.g. the train split's, so that val/ and test/ labels mean the same
   * classes): every class folder must be in it. Default: this folder's own sorted class folders.
   */
  classes?: string[];
  /** Called for each image that cannot be decoded (it is skipped). */
  onSkip?: (file: string, reason: string) => void;
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

/** The sorted class sub-folders of `dir` and their image files (JPEG/PNG by extension). */
export function listImageFolder(dir: string): { classes: string[]; files: Map<string, string[]> } {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new DataError(`Image folder ${dir} does not exist or is not a folder.`);
  const classes = fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
    .map((e) => e.name)
    .sort();
  const files = new Map(classes.map((c) => [c, fs.readdirSync(path.join(dir, c)).filter((f) => IMAGE_EXT.test(f)).sort()]));
  return { classes, files };
}

/**
 * An image folder: one sub-folder per class (sorted names are the classes, unless `classes` gives
 * the list to index), JPEG/PNG files inside, decoded with sharp and resized to `size` ('cover': the
 * shorter side scaled, then a centre crop). An image that cannot be decoded (corrupt, truncated, not
 * really an image) is skipped and reported through `onSkip`; a folder with no readable image is an
 * error.
 */
export async function loadImageFolder(dir: string, options: ImageFolderOptions): Promise<Dataset> {
  const listed = listImageFolder(dir);
  const classes = options.classes ?? listed.classes;
  const unknown = listed.classes.filter((c) => !classes.includes(c));
  if (unknown.length)
    throw new DataError(`${dir} has class folder(s) ${unknown.map((c) => `'${c}'`).join(', ')} that the training set lacks (${classes.join(', ')}): add them to train/ or remove them.`);
  const items = listed.classes.flatMap((c) => listed.files.get(c)!.map((f) => ({ file: path.join(dir, c, f), label: classes.indexOf(c) })));
  if (listed.classes.length === 0 || items.length === 0) {
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
  let n = 0;
  const skipped: string[] = [];
  for (let i = 0; i < items.length; i += concurrency) {
    const chunk = items.slice(i, i + concurrency);
    const decoded = await Promise.all(chunk.map((it) => decodeImage(it.file, options).catch((e: Error) => e)));
    decoded.forEach((px, j) => {
      if (px instanceof Error) {
        skipped.push(chunk[j].file);
        options.onSkip?.(chunk[j].file, px.message);
        return;
      }
      images.set(px, n * per);
      labels[n++] = chunk[j].label;
    });
  }
  if (n === 0) throw new DataError(`Image folder ${dir}: none of its ${items.length} images could be decoded (e.g. ${skipped[0]}). Only JPEG and PNG files are supported.`);
  const decoding = h === w ? { decoding: { resize: h, crop: [h, w] as [number, number] } } : {};
  return { images: images.subarray(0, n * per), labels: labels.subarray(0, n), shape: [h, w, c], classes, source: dir, ...decoding };
}
