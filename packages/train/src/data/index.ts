import fs from 'node:fs';
import path from 'node:path';
import { fileError } from '@resnet-ts/core/node';
import type { ImagePreprocessing } from '@resnet-ts/zoo';
import { DataError } from '../errors.js';
import { loadCifar10, loadCifar100 } from './cifar.js';
import { Dataset, FASHION_MNIST_CLASSES, MNIST_CLASSES, validateDataset } from './dataset.js';
import { loadIdx } from './idx.js';
import { identifyIdx } from './identify.js';
import { loadImageData } from './layout.js';
import type { FolderProgress } from './folder.js';
import { stratifiedSplit } from './split.js';
import { identifyDataSource } from './source.js';

export * from './dataset.js';
export * from './idx.js';
export * from './cifar.js';
export * from './folder.js';
export * from './listing.js';
export * from './split.js';
export * from './identify.js';
export * from './layout.js';
export * from './resize.js';
export * from './classes.js';
export * from './source.js';

/** Where Debian's `dataset-fashion-mnist` package installs Fashion-MNIST. */
export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

/** A train/test pair and what kind of data it is. */
export interface DataPair {
  /** 'fashion-mnist' | 'mnist' | 'cifar10' | 'cifar100' | 'folder'. */
  kind: string;
  train: Dataset;
  /** The validation split (a val/ folder, `val` held out, or a class folder's default split). */
  val?: Dataset;
  test?: Dataset;
  /** Image files that could not be decoded and were skipped. */
  skipped?: string[];
  /** Whether horizontal flips are a valid augmentation (false for digits). */
  flip: boolean;
  /**
   * The split folder an image folder's data came from when `evaluatedSplitOnly` read one of its
   * train/ val/ test/ folders (test, else val, else train); 'test' too for IDX or CIFAR files of
   * which `evaluatedSplitOnly` found only the test files (then `train` holds them as well); absent
   * for a folder of class folders and for other data.
   */
  split?: 'train' | 'val' | 'test';
  /** Whether the image folder's loader applied `limits` (the parts hold only the images they take). */
  limited?: boolean;
}

function findIdx(dir: string, stem: string): string | undefined {
  for (const name of [`${stem}.gz`, stem, stem.replace(/-(idx\d)-/, '.$1-')]) {
    const f = path.join(dir, name);
    if (fs.existsSync(f)) return f;
  }
  return undefined;
}

/** Loads the MNIST-style IDX files of `dir` (train-images-idx3-ubyte[.gz], t10k-..., ...). */
export function loadIdxFolder(dir: string, split: 'train' | 'test', classes: string[], howToGet: string): Dataset {
  const prefix = split === 'train' ? 'train' : 't10k';
  const images = findIdx(dir, `${prefix}-images-idx3-ubyte`);
  const labels = findIdx(dir, `${prefix}-labels-idx1-ubyte`);
  if (!images || !labels) {
    throw new DataError(`${path.join(dir, `${prefix}-${!images ? 'images-idx3' : 'labels-idx1'}-ubyte.gz`)} not found. ${howToGet}`);
  }
  return loadIdx(images, labels, classes);
}

/** Fashion-MNIST from `dir` (default: Debian's location). */
export function loadFashionMnist(split: 'train' | 'test', dir = FASHION_MNIST_DIR): Dataset {
  return loadIdxFolder(
    dir,
    split,
    FASHION_MNIST_CLASSES,
    `Install Fashion-MNIST with \`apt-get install dataset-fashion-mnist\` (puts it in ${FASHION_MNIST_DIR}), ` +
      'or give --data <dir> holding train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz.',
  );
}

/** Options of {@link loadData}. */
export interface LoadDataOptions {
  /** For image folders: the size to decode to (default [32, 32]) and channels (default 3). */
  imageSize?: [number, number];
  channels?: 1 | 3;
  /**
   * Fraction of the training images held out as a stratified, seeded validation split. Default:
   * 0.1 for a folder of class sub-folders (which has no other validation or test set), none
   * otherwise (IDX, CIFAR and train/ folders evaluate on their val/ or test/ split). 0: no split.
   */
  val?: number;
  /** Seed of the validation split. */
  seed?: number;
  /** Notes: skipped images, classes missing from a split. */
  log?: (message: string) => void;
  /**
   * Image folders: decode only the images a quick run takes — `train` of the training images and
   * `eval` of each evaluated split (validation, test), a seeded mix of every class (`seed`) — instead
   * of the whole folder. The same images as `limitImages(d, n, { mix: true, seed })` of the decoded
   * folder's parts when every image decodes; an image that fails is replaced by the next of the mix.
   * The pair says `limited`; other data sets ignore it (limit them after loading).
   */
  limits?: { train?: number; eval?: number; seed?: number };
  /** Image folders: called as each folder's images are decoded (see `ImageFolderOptions.onProgress`). */
  onFolderProgress?: (progress: FolderProgress) => void;
  /**
   * Image folders with train/, val/, test/ splits: read only the split that is evaluated (test/, else
   * val/, else train/), labelled by its own class folders, which are then paired with a model's
   * outputs by name (`matchClasses`); the other splits are not read, so their classes constrain
   * nothing. The pair holds that split as `train` too (it is the data set's own statistics). What
   * `resnet eval` reads. A folder of IDX or CIFAR files that lacks the training files is read from
   * its test files alone (the pair's `split` says 'test'). Without it (training), a class folder of
   * the training images that holds no image (or none that decodes) is an error; with it, a note.
   */
  evaluatedSplitOnly?: boolean;
  /**
   * Image folders: decode each image as a classifier with this preprocessing does (`resnet predict`:
   * zoo's decoder, Pillow's resize, crop and pad; see `decodeForClassifier`), to uint8 pixels that
   * the same preprocessing's mean/std then normalise; `imageSize` and `channels` are not used. What
   * `resnet eval` reads folders with, so that it scores each image as predict classifies it.
   * Other data sets load as without it.
   */
  preprocessing?: ImagePreprocessing;
}

/**
 * Loads a data set by name or path: `fashion-mnist`, `mnist`, `cifar10`, `cifar100` (names look in
 * /usr/share/datasets), or a folder that holds IDX files (identified by content, see identify.ts),
 * CIFAR binary batches, or images (see {@link loadImageData}: class sub-folders, or train/, val/,
 * test/ splits of them). `val` holds out a stratified validation split of the training images.
 */
export async function loadData(spec: string, options: LoadDataOptions = {}): Promise<DataPair> {
  const pair = await loadNamedOrFolder(spec, options);
  // Image folders make their own validation split (see loadImageData).
  if (!options.val || pair.kind === 'folder') return pair;
  const { train, val } = stratifiedSplit(pair.train, options.val, options.seed ?? 0);
  return { ...pair, train, val };
}

async function loadNamedOrFolder(spec: string, options: LoadDataOptions): Promise<DataPair> {
  const source = identifyDataSource(spec);
  if (source.kind === 'folder') return loadFolder(spec, options);
  if (source.name === 'fashion-mnist') {
    return { kind: 'fashion-mnist', train: loadFashionMnist('train'), test: loadFashionMnist('test'), flip: true };
  }
  if (source.name === 'mnist') {
    const dir = '/usr/share/datasets/mnist';
    const how = `MNIST is not installed in ${dir}: give --data <dir> holding train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], t10k-images-idx3-ubyte[.gz] and t10k-labels-idx1-ubyte[.gz].`;
    return {
      kind: 'mnist',
      train: loadIdxFolder(dir, 'train', MNIST_CLASSES, how),
      test: loadIdxFolder(dir, 'test', MNIST_CLASSES, how),
      flip: false,
    };
  }
  const [dir, what] =
    source.name === 'cifar10'
      ? ['/usr/share/datasets/cifar-10-batches-bin', 'CIFAR-10 (cifar-10-binary.tar.gz)']
      : ['/usr/share/datasets/cifar-100-binary', 'CIFAR-100 (cifar-100-binary.tar.gz)'];
  if (!fs.existsSync(dir))
    throw new DataError(
      `${what.split(' ')[0]} is not in ${dir}: download the binary version ${what.split(' ')[1]}, unpack it and give --data <path to ${path.basename(dir)}>.`,
    );
  return cifarPair(dir, source.name);
}

/** A folder (see {@link identifyDataSource}): IDX files, CIFAR batches, or images. */
async function loadFolder(spec: string, options: LoadDataOptions): Promise<DataPair> {
  let files: string[];
  try {
    files = fs.readdirSync(spec);
  } catch (e) {
    throw fileError(e, spec, 'read');
  }
  const testOnly = options.evaluatedSplitOnly === true;
  if (files.some((f) => /^train-images[-.]idx3-ubyte(\.gz)?$/.test(f))) return idxPair(spec);
  if (files.some((f) => /^t10k-images[-.]idx3-ubyte(\.gz)?$/.test(f))) return idxTestOnly(spec, testOnly);
  if (files.includes('data_batch_1.bin') || files.includes('test_batch.bin')) {
    if (!testOnly && !files.includes('data_batch_1.bin'))
      throw new DataError(
        `${spec} holds the CIFAR-10 test batch (test_batch.bin) but no training batches: training needs data_batch_1.bin to data_batch_5.bin beside it.`,
      );
    return cifarPair(spec, 'cifar10', !files.includes('data_batch_1.bin'));
  }
  if (files.includes('test.bin') && !files.includes('train.bin') && !testOnly)
    throw new DataError(`${spec} holds the CIFAR-100 test file (test.bin) but no training file: training needs train.bin beside it.`);
  if (files.includes('test.bin')) return cifarPair(spec, 'cifar100', !files.includes('train.bin'));
  return loadImageData(spec, options);
}

/** CIFAR batches; with `testOnly` (`resnet eval` of a folder without the training batches) the test batch alone. */
function cifarPair(dir: string, kind: 'cifar10' | 'cifar100', testOnly = false): DataPair {
  const load = kind === 'cifar10' ? loadCifar10 : loadCifar100;
  const test = load(dir, 'test');
  return testOnly ? { kind, train: test, test, flip: true, split: 'test' } : { kind, train: load(dir, 'train'), test, flip: true };
}

/** Class names for IDX labels before the data is identified: every byte value as text. */
const ANY_IDX_LABEL = Array.from({ length: 256 }, (_, k) => String(k));

/**
 * A folder of IDX test files without the training ones: `resnet eval` reads the test files alone,
 * identified by their own labels; training is refused (it needs the training files).
 */
function idxTestOnly(dir: string, evaluate: boolean): DataPair {
  if (!evaluate)
    throw new DataError(
      `${dir} holds IDX test files (t10k-*) but no training files: training needs train-images-idx3-ubyte and train-labels-idx1-ubyte (.gz or not) beside them.`,
    );
  const raw = loadIdxFolder(dir, 'test', ANY_IDX_LABEL, 'Give --data <dir> holding t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte.');
  const id = identifyIdx(raw, 'test');
  const test = { ...raw, classes: id.classes };
  validateDataset(test, `${dir} (test)`, (m) => new DataError(m));
  return { kind: id.kind, train: test, test, flip: id.flip, split: 'test' };
}

/** IDX files of any folder, identified by content (never by the folder's name). */
function idxPair(dir: string): DataPair {
  const how = `Give --data <dir> holding the four IDX files.`;
  const train = loadIdxFolder(dir, 'train', ANY_IDX_LABEL, how);
  const id = identifyIdx(train);
  const test = loadIdxFolder(dir, 'test', id.classes.length < 256 ? ANY_IDX_LABEL : id.classes, how);
  const named = (d: Dataset, what: string): Dataset => {
    const out = { ...d, classes: id.classes };
    validateDataset(out, `${dir} (${what})`, (m) => new DataError(m));
    return out;
  };
  return { kind: id.kind, train: named(train, 'train'), test: named(test, 'test'), flip: id.flip };
}
