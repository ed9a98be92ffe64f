/**
 * The layouts of an image-folder data set:
 *
 * ```
 * photos/                      photos/
 *   cat/1.jpg 2.jpg ...          train/cat/… train/dog/…
 *   dog/1.jpg ...                val/cat/…   val/dog/…      (optional)
 *                                test/cat/…  test/dog/…     (optional)
 * ```
 *
 * Left: one sub-folder per class; a seeded, stratified validation split is held out (`val`, default
 * 10 %). Right: train/, val/ and test/ splits whose class folders are matched BY NAME to train/'s
 * (sorted) classes, so label k means the same class in every split; a class that val/ or test/ lacks
 * is reported, one that train/ lacks is an error. Without val/, `val` holds out a split of train/.
 * `val: 0` splits nothing (all of a class folder is `train`, e.g. to evaluate on it). A class folder of
 * the training images without images (none, or none that decodes) is an error: the model would have
 * an output it never sees; in the one split `evaluatedSplitOnly` reads it is a note (not measured).
 * `evaluatedSplitOnly` (`resnet eval`) reads one split only, test/ else val/ else train/, with its own classes.
 */
import fs from 'node:fs';
import path from 'node:path';
import { DataError } from '../errors.js';
import type { DataPair, LoadDataOptions } from './index.js';

/** The default validation fraction of a folder of class sub-folders (`val` of {@link loadImageData}). */
export const DEFAULT_VAL_FRACTION = 0.1;
import { loadImageFolder } from './folder.js';
import { folderItems, listImageFolder } from './listing.js';
import { mixOrder, stratifiedSplit, stratifiedSplitIndices } from './split.js';
import type { Dataset } from './dataset.js';

const isDir = (p: string) => fs.existsSync(p) && fs.statSync(p).isDirectory();

/** Loads an image folder in either layout (see the module comment). */
export async function loadImageData(dir: string, options: LoadDataOptions): Promise<DataPair> {
  const log = options.log ?? (() => {});
  const skipped: string[] = [];
  const decode = {
    size: options.imageSize ?? ([32, 32] as [number, number]),
    channels: options.channels ?? 3,
    ...(options.preprocessing ? { preprocessing: options.preprocessing } : {}),
    onSkip: (file: string, reason: string) => {
      skipped.push(file);
      log(`note: skipped ${path.relative(dir, file)}: ${reason}`);
    },
    onNote: log,
    notesRelativeTo: dir,
    onProgress: options.onFolderProgress,
  };
  const splits = ['train', 'val', 'test'].filter((s) => isDir(path.join(dir, s)));
  // `resnet eval`: the one split it evaluates, with its own classes.
  const only =
    splits.length && options.evaluatedSplitOnly ? (['test', 'val', 'train'] as const).find((s) => splits.includes(s))! : undefined;
  let pair: DataPair;
  const limits = options.limits;
  if (only) {
    const data = await loadImageFolder(path.join(dir, only), withLimit(path.join(dir, only), decode, limits?.eval, limits?.seed));
    pair = { kind: 'folder', train: data, ...(only === 'train' ? {} : { [only]: data }), flip: true, split: only };
  } else if (splits.length && !splits.includes('train')) {
    throw new DataError(
      `${dir} has ${splits.map((s) => `${s}/`).join(' and ')} but no train/: put the training images in ${path.join(dir, 'train')}/<class>/.`,
    );
  } else if (splits.includes('train')) {
    // Before any image is decoded: a val/ or test/ class that train/ lacks.
    const trainListing = listImageFolder(path.join(dir, 'train'));
    refuseEmptyClasses(path.join(dir, 'train'), trainListing.empty);
    for (const s of splits.filter((x) => x !== 'train')) checkSplitClasses(path.join(dir, s), trainListing.classes);
    if (splits.includes('val') && options.val) throw new DataError(`${dir} has a val/ folder: leave out --val (or remove val/ to split train/).`);
    const trainDir = path.join(dir, 'train');
    const parts = await loadAndSplit(trainDir, decode, splits.includes('val') ? undefined : options.val, options.seed ?? 0, limits);
    checkClasses(parts.train, trainDir);
    if (!limits?.train) refuseUndecodedClasses(parts.train, trainDir, parts.val);
    const classes = parts.train.classes;
    const other = async (s: string) =>
      splits.includes(s) ? loadSplit(path.join(dir, s), classes, withLimit(path.join(dir, s), decode, limits?.eval, limits?.seed), log) : undefined;
    const [valDir, test] = [await other('val'), await other('test')];
    pair = { kind: 'folder', train: parts.train, val: valDir ?? parts.val, test, flip: true };
  } else {
    // Training (not eval, where a class without images is only not measured): each class needs images.
    const training = !options.evaluatedSplitOnly;
    if (training) refuseEmptyClasses(dir, listImageFolder(dir).empty);
    const parts = await loadAndSplit(dir, decode, options.val ?? DEFAULT_VAL_FRACTION, options.seed ?? 0, limits);
    // Evaluation may measure one class (the model's outputs are paired with the folders by name).
    if (training) checkClasses(parts.train, dir);
    if (training && !limits?.train) refuseUndecodedClasses(parts.train, dir, parts.val);
    pair = { kind: 'folder', flip: true, ...parts };
  }
  if (limits) pair.limited = true;
  if (skipped.length)
    log(
      `note: skipped ${skipped.length} image(s) that could not be decoded (listed above); ${loadedNote(dir, pair, only ? [only] : splits)}`,
    );
  return { ...pair, skipped };
}

type DecodeOptions = Parameters<typeof loadImageFolder>[1];

/**
 * `decode` taking, with a limit `n`, only the seeded mix of `n` images of `dir` that `limitImages`
 * takes of the decoded folder (the same images when all decode): the others are never decoded.
 */
function withLimit(dir: string, decode: DecodeOptions, n: number | undefined, seed = 0): DecodeOptions {
  if (n === undefined) return decode;
  const listed = listImageFolder(dir);
  const count = folderItems(dir, listed, listed.classes).length;
  return { ...decode, pick: { candidates: mixOrder(count, seed), count: n } };
}

/**
 * One folder of class folders, whole, or with `fraction` a stratified split of it (`stratifiedSplit`,
 * seeded by `seed`). With `limits`, the split is made from the listing and each part decodes only
 * the mix of images its limit takes: `--limit 200` on a folder of 20,000 photos decodes ~200
 * photos, not 20,000. Without images that fail to decode, the same images as splitting the decoded
 * folder and limiting each part.
 */
async function loadAndSplit(
  dir: string,
  decode: DecodeOptions,
  fraction: number | undefined,
  seed: number,
  limits: LoadDataOptions['limits'],
): Promise<{ train: Dataset; val?: Dataset }> {
  if (limits?.train === undefined && (limits?.eval === undefined || !fraction)) {
    const all = await loadImageFolder(dir, decode);
    return fraction ? stratifiedSplit(all, fraction, seed) : { train: all };
  }
  const listed = listImageFolder(dir);
  const labels = folderItems(dir, listed, listed.classes).map((it) => it.label);
  const parts = fraction ? stratifiedSplitIndices(labels, listed.classes.length, fraction, seed) : { train: Int32Array.from(labels.keys()) };
  // The first n of a part's mix order, or all of it in listing order.
  const pick = (indices: Int32Array, n: number | undefined) =>
    n === undefined
      ? { candidates: indices, count: indices.length }
      : { candidates: mixOrder(indices.length, limits.seed ?? 0).map((j) => indices[j]), count: n };
  const train = await loadImageFolder(dir, { ...decode, pick: pick(parts.train, limits.train) });
  const val = 'val' in parts ? await loadImageFolder(dir, { ...decode, listingNotes: false, pick: pick(parts.val, limits.eval) }) : undefined;
  return { train, ...(val ? { val } : {}) };
}

/**
 * How many images were loaded from where, for every caller alike (training, evaluation, the lab):
 * `120 images loaded from photos`, or per split folder `90 images loaded from photos/train, 30 from photos/test`.
 */
function loadedNote(dir: string, pair: DataPair, splits: string[]): string {
  const count = (d: Dataset | undefined) => d?.labels.length ?? 0;
  if (!splits.length) return `${count(pair.train) + count(pair.val)} images loaded from ${dir}`;
  // train/ holds the training images and, without a val/ folder, the validation split held out of them.
  const counts: Record<string, number> = {
    train: count(pair.train) + (splits.includes('val') ? 0 : count(pair.val)),
    val: count(pair.val),
    test: count(pair.test),
  };
  return splits.map((s, i) => `${counts[s]}${i ? '' : ' images loaded'} from ${path.join(dir, s)}`).join(', ');
}

/** A one-class folder cannot make a classifier. */
function checkClasses(d: Dataset, dir: string): void {
  if (d.classes.length < 2)
    throw new DataError(
      `${dir} has ${d.classes.length} class folder (${d.classes.join(', ')}): a classifier needs at least 2, one sub-folder of images per class.`,
    );
}

/** `class folder 'photos/blue' has ...` / `class folders 'a', 'b' have ...`: add images or remove. */
function classFoldersError(dir: string, classes: string[], what: string): DataError {
  const names = classes.map((c) => `'${path.join(dir, c)}'`).join(', ');
  const one = classes.length === 1;
  return new DataError(`class folder${one ? '' : 's'} ${names} ${one ? 'has' : 'have'} ${what}: add images or remove the folder${one ? '' : 's'}`);
}

/**
 * Refuses class folders of the training images that hold no image file, before anything is decoded:
 * the model would get an output for a class it never sees (torchvision's ImageFolder refuses them too).
 */
function refuseEmptyClasses(dir: string, empty: string[]): void {
  if (empty.length) throw classFoldersError(dir, empty, 'no images');
}

/** Refuses class folders of the training images (`d` and the validation split held out of them) none of whose images could be decoded (each skip was noted). */
function refuseUndecodedClasses(d: Dataset, dir: string, heldOut?: Dataset): void {
  const seen = new Set([...d.labels, ...(heldOut?.labels ?? [])]);
  const none = d.classes.filter((_, k) => !seen.has(k));
  if (none.length) throw classFoldersError(dir, none, 'no image that could be decoded (see the notes above)');
}

/**
 * Refuses a val/ or test/ class folder that train/ lacks: a model trained on train/ has no output for
 * it, and labelling the split by its own folders (torchvision's ImageFolder on it) would silently
 * give its classes other numbers than train/'s.
 */
function checkSplitClasses(dir: string, trainClasses: string[]): void {
  const extra = listImageFolder(dir).classes.filter((c) => !trainClasses.includes(c));
  if (!extra.length) return;
  const [it, its] = extra.length === 1 ? ['it', 'its'] : ['them', 'their'];
  throw new DataError(
    `${dir} has class folder(s) ${extra.map((c) => `'${c}'`).join(', ')} that train/ lacks (train/ has ${trainClasses.join(', ')}): ` +
      `a model trained on train/ cannot output ${it}. Add ${its} images to train/, or remove ${it} from ${path.basename(dir)}/.`,
  );
}

/** A val/ or test/ split labelled by the training classes; classes it lacks are reported. */
async function loadSplit(
  dir: string,
  classes: string[],
  decode: Parameters<typeof loadImageFolder>[1],
  log: (m: string) => void,
): Promise<Dataset> {
  const { files } = listImageFolder(dir);
  const missing = classes.filter((c) => !files.get(c)?.length);
  if (missing.length) log(`note: ${dir} has no images of ${missing.map((c) => `'${c}'`).join(', ')}: their accuracy there is not measured`);
  return loadImageFolder(dir, { ...decode, classes });
}
