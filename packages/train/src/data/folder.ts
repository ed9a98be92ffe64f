import os from 'node:os';
import path from 'node:path';
import { ImageDecodeError, decodeRgb, imageDecoderVersion, resizeCropPadRgb } from '@resnet-ts/zoo/node';
import type { ImagePreprocessing } from '@resnet-ts/zoo';
import { DataError } from '../errors.js';
import { Dataset } from './dataset.js';
import { IMAGE_FORMATS, folderItems, folderNotes, listImageFolder } from './listing.js';

/** Options of {@link loadImageFolder} and {@link decodeImage}. */
export interface ImageDecodeOptions {
  /** Output [height, width]. */
  size: [number, number];
  /** 1 (grayscale) or 3 (RGB). Default 3. */
  channels?: 1 | 3;
  /** How to fit another aspect ratio: 'cover' (scale + centre crop, default) or 'fill' (stretch). */
  fit?: 'cover' | 'fill';
}

/** Options of {@link loadImageFolder}: decoding for training ({@link ImageDecodeOptions}) or as a classifier does. */
export interface FolderDecodeOptions extends Omit<ImageDecodeOptions, 'size'> {
  /** Output [height, width]: required, unless `preprocessing` is given (then not used). */
  size?: [number, number];
  /**
   * Decode each image exactly as a classifier with this preprocessing prepares it (`resnet predict`,
   * `Classifier.classify`; see {@link decodeForClassifier}) instead of resizing to `size`: the
   * images are the preprocessing's output (resize, crop, pad) before normalisation, and `size`,
   * `channels` and `fit` are not used. What `resnet eval` reads folders with; training does not.
   */
  preprocessing?: ImagePreprocessing;
}

/** Options of {@link loadImageFolder}. */
export interface ImageFolderOptions extends FolderDecodeOptions {
  /**
   * The class list labels index (e.g. the train split's, so that val/ and test/ labels mean the same
   * classes): every class folder must be in it. Default: this folder's own sorted class folders.
   */
  classes?: string[];
  /** Called for each image that cannot be decoded (it is skipped), with why (without the file's name). */
  onSkip?: (file: string, reason: string) => void;
  /**
   * Called with one `note: ...` line per kind of thing left out (see {@link folderNotes}): empty
   * class folders, files that are not images by their extension, symlinked folders leading back up;
   * and one for the images turned by their EXIF orientation.
   */
  onNote?: (message: string) => void;
  /** False: no notes on what the listing leaves out (a second part of a folder already listed), only on its images. Default true. */
  listingNotes?: boolean;
  /** The folder that paths in notes are relative to (default: the image folder itself). */
  notesRelativeTo?: string;
  /** Called as images are decoded (a few at a time): a large folder of photos takes minutes. */
  onProgress?: (progress: FolderProgress) => void;
  /**
   * Decode only some of the images: `candidates` are indices into the folder's listing (class
   * folders in sorted order, the files of each sorted), taken in that order until `count` have
   * decoded (one that cannot be decoded is skipped and the next taken). The data set holds them in
   * that order. How a quick run's `--limit` decodes only the images it uses.
   */
  pick?: { candidates: ArrayLike<number>; count: number };
}

/** How far the decoding of one image folder has got (see {@link ImageFolderOptions.onProgress}). */
export interface FolderProgress {
  /** The folder being decoded. */
  folder: string;
  /** Images done (decoded or skipped) and in all. */
  done: number;
  total: number;
}

/**
 * Decodes one image file (any of {@link IMAGE_FORMATS}) to HWC uint8 pixels of the given size and
 * channels, with the classifier's decoder (zoo's `decodeRgb` and `resizeCropPadRgb`: Pillow's
 * antialiased bilinear resize, Pillow's luma for grayscale, alpha dropped, CMYK as PIL), so that
 * the images a model trains and validates on are the ones `resnet predict` and `resnet eval` give it
 * with the decoding stored in its weights. The size is reached as `fitToSize` says.
 */
export async function decodeImage(file: string, options: ImageDecodeOptions): Promise<Uint8Array> {
  return (await decodeAndPrepare(file, (height, width) => fitToSize(height, width, options))).pixels;
}

/**
 * The classifier preprocessing (before normalisation) that brings an `height` x `width` image to
 * `options.size`: 'fill' resizes to it exactly; 'cover' to a square size is torchvision's
 * `Resize(size)` + `CenterCrop(size)`, the decoding a folder-trained model stores for predict; 'cover'
 * to another shape scales by the larger of the two ratios, then crops the centre.
 */
function fitToSize(height: number, width: number, options: ImageDecodeOptions): ImagePreprocessing {
  const [h, w] = options.size;
  const channels = options.channels ?? 3;
  const base = { mean: new Array<number>(channels).fill(0), std: new Array<number>(channels).fill(1), channels };
  if (options.fit === 'fill') return { ...base, resize: [h, w] };
  if (h === w) return { ...base, resize: h, crop: [h, w] };
  const scale = Math.max(h / height, w / width);
  return { ...base, resize: [Math.max(h, Math.round(height * scale)), Math.max(w, Math.round(width * scale))], crop: [h, w] };
}

/** An image file of a folder that could not be decoded; `reason` says why, without the file's name. */
export class ImageDecodeFailure extends DataError {
  readonly reason: string;
  constructor(
    readonly file: string,
    reason: string,
  ) {
    const why = reason.replace(/\.$/, '');
    super(`Cannot decode image ${file}: ${why}. Supported: ${IMAGE_FORMATS}.`);
    this.reason = why;
  }
}

/**
 * A decode failure of {@link decodeForClassifier}, as {@link decodeImage}'s: the reason of zoo's
 * {@link ImageDecodeError} (without zoo's advice, which names tensors), else the error's message (e.g. a
 * crop or padding that does not fit the image).
 */
function decodeError(file: string, e: unknown): ImageDecodeFailure {
  return new ImageDecodeFailure(file, e instanceof ImageDecodeError ? e.reason : (e as Error).message);
}

/**
 * One image file as a classifier with preprocessing `p` feeds it to the model (`resnet predict`),
 * before normalisation: zoo's `decodeRgb` (EXIF orientation, CMYK as PIL, BMP/PPM/PGM/PBM), then
 * zoo's `resizeCropPadRgb` (grayscale, Pillow's antialiased bilinear resize, centre crop, black
 * padding: the steps of `preprocessRgb` before it normalises), so that normalising with `p`'s
 * mean/std afterwards (the Batcher) gives the classifier's input.
 * Returns HWC uint8 pixels (`p.channels` channels) and their size.
 */
export async function decodeForClassifier(file: string, p: ImagePreprocessing): Promise<DecodedImage> {
  return decodeAndPrepare(file, () => p);
}

/** zoo's decoder, then the preprocessing `prepare` picks for the image's size, before normalisation. */
async function decodeAndPrepare(file: string, prepare: (height: number, width: number) => ImagePreprocessing): Promise<DecodedImage> {
  try {
    const { rgb, height, width, orientation } = await decodeRgb(file);
    const x = resizeCropPadRgb(rgb, height, width, prepare(height, width));
    return { pixels: x.pixels, height: x.height, width: x.width, ...(orientation ? { orientation } : {}) };
  } catch (e) {
    throw decodeError(file, e);
  }
}

/**
 * An image folder: one sub-folder per class (sorted names are the classes, unless `classes` gives
 * the list to index), image files inside ({@link IMAGE_FORMATS}), decoded and resized to `size` as a
 * classifier would ({@link decodeImage}: 'cover', the shorter side scaled, then a centre crop), or
 * with `preprocessing` exactly as a classifier prepares them ({@link decodeForClassifier}). An
 * image that cannot be decoded (corrupt, truncated, not really an image) is skipped and reported
 * through `onSkip`; what the listing leaves out, through `onNote` ({@link folderNotes}; empty class folders only when the
 * folder makes its own classes: a split indexed by `classes` reports its missing classes itself); a
 * folder with no readable image is an error.
 */
export async function loadImageFolder(dir: string, options: ImageFolderOptions): Promise<Dataset> {
  const size = trainingSize(options); // without options (a JS caller): the DataError saying what to give
  const listed = listImageFolder(dir);
  const classes = options.classes ?? listed.classes;
  const unknown = listed.classes.filter((c) => !classes.includes(c));
  if (unknown.length)
    throw new DataError(
      `${dir} has class folder(s) ${unknown.map((c) => `'${c}'`).join(', ')} that the training set lacks (${classes.join(', ')}): add them to train/ or remove them.`,
    );
  if (options.listingNotes !== false)
    for (const note of folderNotes(dir, options.classes ? { ...listed, empty: [] } : listed, options.notesRelativeTo))
      options.onNote?.(note);
  const listedItems = folderItems(dir, listed, classes);
  if (listed.classes.length === 0 || listedItems.length === 0) {
    throw new DataError(
      `Image folder ${dir} has no images: expected one sub-folder per class with ${IMAGE_FORMATS} files inside (e.g. ${dir}/cat/1.jpg).`,
    );
  }
  const { pick } = options;
  const items = pick ? Array.from(pick.candidates, (i) => listedItems[i]) : listedItems;
  const wanted = pick ? Math.min(pick.count, items.length) : items.length;
  const { images, labels, n, skipped, shape } = await decodeAll(dir, items, wanted, options, size, (done) =>
    options.onProgress?.({ folder: dir, done, total: wanted }),
  );
  if (n === 0)
    throw new DataError(
      `Image folder ${dir}: none of its ${items.length} images could be decoded (e.g. ${skipped[0]}). Supported: ${IMAGE_FORMATS}.`,
    );
  const [h, w, c] = shape;
  // How training decoded (stored with its weights); a classifier's decoding is its own preprocessing.
  const decoding = h === w && !options.preprocessing ? { decoding: { resize: h, crop: [h, w] as [number, number] } } : {};
  return {
    images: images.subarray(0, n * h * w * c),
    labels: labels.subarray(0, n),
    shape,
    classes,
    source: dir,
    decoder: imageDecoderVersion(),
    ...decoding,
  };
}

/** A decoded image before normalisation; `orientation`: the EXIF orientation (2 to 8) the decoder applied, if any. */
export interface DecodedImage {
  pixels: Uint8Array;
  height: number;
  width: number;
  orientation?: number;
}

/**
 * The most bytes the decoded images of one folder may take: half the machine's memory (training needs
 * the rest), and never more than one typed array holds (4 GiB).
 */
function maxImageBytes(): number {
  return Math.min(2 ** 32 - 1, Math.floor(os.totalmem() / 2));
}

/** The buffer of `count` decoded images of `shape` (none yet: empty), or a {@link DataError} when they would not fit in memory. */
function allocateImages(count: number, shape: [number, number, number] | undefined, folder = 'the image folder'): Uint8Array {
  if (!shape) return new Uint8Array(0);
  const [h, w, c] = shape;
  const bytes = count * h * w * c;
  const max = maxImageBytes();
  const gib = (b: number) => `${(b / 2 ** 30).toFixed(1)} GiB`;
  if (bytes > max)
    throw new DataError(
      `${folder}: ${count} images of ${h}x${w}x${c} need ${gib(bytes)} in memory, more than the ${gib(max)} one data set may take here: ` +
        `use --limit <n>, a smaller --image-size, or fewer images.`,
    );
  return new Uint8Array(bytes);
}

/**
 * Decodes `items` of folder `dir` into one buffer, up to 8 at a time and kept in order,, resized to `size` (see {@link trainingSize}),
 * or with `preprocessing`; undecodable ones are skipped (and reported through `onSkip`). With `preprocessing` the images' size is the first decoded one's, which every other
 * must share (one batch, one size): a preprocessing without crop or exact size can give others.
 */
async function decodeAll(
  dir: string,
  items: { file: string; label: number }[],
  wanted: number,
  options: ImageFolderOptions,
  size: [number, number] | undefined,
  onDone: (done: number) => void,
) {
  const p = options.preprocessing;
  // Without preprocessing, trainingSize has made sure of a size.
  const decode = (file: string): Promise<DecodedImage> =>
    size ? decodeAndPrepare(file, (height, width) => fitToSize(height, width, { ...options, size })) : decodeForClassifier(file, p!);
  let shape: [number, number, number] | undefined = size ? [size[0], size[1], options.channels ?? 3] : undefined;
  let per = shape ? shape[0] * shape[1] * shape[2] : 0;
  let images = allocateImages(wanted, shape, dir);
  let first = '';
  const labels = new Int32Array(wanted);
  let n = 0;
  const skipped: string[] = [];
  const turned: string[] = [];
  const take = (px: DecodedImage | Error, item: { file: string; label: number }) => {
    const file = item.file;
    if (px instanceof Error) {
      skipped.push(file);
      options.onSkip?.(file, px instanceof ImageDecodeFailure ? px.reason : px.message);
      return;
    }
    if (px.orientation) turned.push(file);
    if (!shape) {
      shape = [px.height, px.width, px.pixels.length / (px.height * px.width)];
      per = px.pixels.length;
      images = allocateImages(wanted, shape, dir);
      first = file;
    } else if (px.height !== shape[0] || px.width !== shape[1]) {
      const crop = p?.resize === undefined ? '--resize <N> --crop <N>' : `--crop ${String(p.resize)}`;
      throw new DataError(
        `${file} is ${px.width}x${px.height} after the model's preprocessing, ${first} ${shape[1]}x${shape[0]}: ` +
          `${p?.resize === undefined ? "without resize or crop it keeps each image's size" : `its resize to short side ${p.resize} without a crop keeps each image's aspect ratio`}, and a batch needs one size. ` +
          `Give a crop (resnet eval ${crop}, or store it with the weights: resnet convert <weights> <out> ${crop}), or images of one aspect ratio.`,
      );
    }
    images.set(px.pixels, n * per);
    labels[n++] = item.label;
  };
  // Up to 8 decodes in flight (sharp decodes on libuv's threads while this thread resizes), taken
  // in listing order; only as many as are still wanted: the rest of `items` are spares for images that fail.
  const inFlight: { item: { file: string; label: number }; result: Promise<DecodedImage | Error> }[] = [];
  let next = 0;
  let reported = 0;
  const fill = () => {
    while (inFlight.length < 8 && next < items.length && n + inFlight.length < wanted) {
      const item = items[next++];
      inFlight.push({ item, result: decode(item.file).catch((e: Error) => e) });
    }
  };
  for (fill(); inFlight.length; fill()) {
    const { item, result } = inFlight.shift()!;
    take(await result, item);
    const done = Math.min(wanted, n + skipped.length);
    if (done - reported >= 8 || !inFlight.length) onDone((reported = done));
  }
  if (reported < wanted) onDone(wanted); // done, whatever was skipped
  if (turned.length) options.onNote?.(orientationNote(turned, options.notesRelativeTo ?? dir));
  return { images, labels, n, skipped, shape: shape ?? [0, 0, options.channels ?? 3] };
}

/** One note for the images of a folder that the decoder turned or mirrored by their EXIF orientation (torchvision would not). */
function orientationNote(files: string[], relativeTo: string): string {
  const n = files.length;
  const [was, its, them] = n === 1 ? ['was', 'its', 'it'] : ['were', 'their', 'them'];
  return (
    `note: ${n} image${n === 1 ? '' : 's'} (e.g. ${path.relative(relativeTo, files[0])}) ${was} turned upright or mirrored by ${its} EXIF ` +
    `orientation, as photo viewers show ${them}; torchvision's PIL pipeline would not turn ${them}.`
  );
}

/**
 * The size a folder decoded for training is resized to; undefined with `preprocessing` (the
 * classifier's decoding sets it). A {@link DataError} when neither is given, or `size` is not two
 * whole numbers of at least 1.
 */
function trainingSize(options: FolderDecodeOptions | undefined): [number, number] | undefined {
  if (options?.preprocessing) return undefined;
  const size: unknown = options?.size;
  const ok = Array.isArray(size) && size.length === 2 && size.every((d) => Number.isInteger(d) && d >= 1);
  if (!ok)
    throw new DataError(
      `loadImageFolder: give size [height, width] (whole numbers of at least 1) to decode for training, or preprocessing to decode as a classifier does; got size ${JSON.stringify(size)}.`,
    );
  return size as [number, number];
}
