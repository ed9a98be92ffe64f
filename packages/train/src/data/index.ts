import fs from 'node:fs';
import path from 'node:path';
import { DataError } from '../errors.js';
import { loadCifar10, loadCifar100 } from './cifar.js';
import { Dataset, FASHION_MNIST_CLASSES, MNIST_CLASSES, subset } from './dataset.js';
import { loadImageFolder } from './folder.js';
import { loadIdx } from './idx.js';
import { Rng } from '@resnet-ts/core';

export * from './dataset.js';
export * from './idx.js';
export * from './cifar.js';
export * from './folder.js';

/** Where Debian's `dataset-fashion-mnist` package installs Fashion-MNIST. */
export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

/** A train/test pair and what kind of data it is. */
export interface DataPair {
  /** 'fashion-mnist' | 'mnist' | 'cifar10' | 'cifar100' | 'folder'. */
  kind: string;
  train: Dataset;
  test?: Dataset;
  /** Whether horizontal flips are a valid augmentation (false for digits). */
  flip: boolean;
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
  /** For image folders: the size to resize to (default [32, 32]) and channels (default 3). */
  imageSize?: [number, number];
  channels?: 1 | 3;
  /** Seed of the hold-out split of an image folder without train/ and test/ sub-folders. */
  seed?: number;
}

/**
 * Loads a data set by name or path: `fashion-mnist`, `mnist`, `cifar10`, `cifar100` (names look in
 * /usr/share/datasets), or a folder that holds IDX files, CIFAR binary batches, or images in one
 * sub-folder per class (optionally under train/ and test/; otherwise 10% is held out, seeded).
 */
export async function loadData(spec: string, options: LoadDataOptions = {}): Promise<DataPair> {
  const lower = spec.toLowerCase();
  if (lower === 'fashion-mnist' || lower === 'fashion_mnist' || lower === 'fashionmnist') {
    return { kind: 'fashion-mnist', train: loadFashionMnist('train'), test: loadFashionMnist('test'), flip: true };
  }
  if (lower === 'mnist') {
    const dir = '/usr/share/datasets/mnist';
    const how = `MNIST is not installed in ${dir}: give --data <dir> holding train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], t10k-images-idx3-ubyte[.gz] and t10k-labels-idx1-ubyte[.gz].`;
    return {
      kind: 'mnist',
      train: loadIdxFolder(dir, 'train', MNIST_CLASSES, how),
      test: loadIdxFolder(dir, 'test', MNIST_CLASSES, how),
      flip: false,
    };
  }
  if (lower === 'cifar10' || lower === 'cifar-10') {
    const dir = '/usr/share/datasets/cifar-10-batches-bin';
    if (!fs.existsSync(dir))
      throw new DataError(
        `CIFAR-10 is not in ${dir}: download the binary version (cifar-10-binary.tar.gz), unpack it and give --data <path to cifar-10-batches-bin>.`,
      );
    return { kind: 'cifar10', train: loadCifar10(dir, 'train'), test: loadCifar10(dir, 'test'), flip: true };
  }
  if (lower === 'cifar100' || lower === 'cifar-100') {
    const dir = '/usr/share/datasets/cifar-100-binary';
    if (!fs.existsSync(dir))
      throw new DataError(
        `CIFAR-100 is not in ${dir}: download the binary version (cifar-100-binary.tar.gz), unpack it and give --data <path to cifar-100-binary>.`,
      );
    return { kind: 'cifar100', train: loadCifar100(dir, 'train'), test: loadCifar100(dir, 'test'), flip: true };
  }
  if (!fs.existsSync(spec)) {
    throw new DataError(
      `Unknown data set '${spec}': use fashion-mnist, mnist, cifar10, cifar100, or the path of a folder with IDX files, CIFAR batches or class sub-folders of images.`,
    );
  }
  const dir = spec;
  const files = fs.readdirSync(dir);
  if (files.some((f) => /^train-images[-.]idx3-ubyte(\.gz)?$/.test(f))) {
    const fashion = /fashion/i.test(path.resolve(dir));
    const classes = fashion ? FASHION_MNIST_CLASSES : MNIST_CLASSES;
    const how = `Give --data <dir> holding the four IDX files.`;
    return {
      kind: fashion ? 'fashion-mnist' : 'mnist',
      train: loadIdxFolder(dir, 'train', classes, how),
      test: loadIdxFolder(dir, 'test', classes, how),
      flip: fashion,
    };
  }
  if (files.includes('data_batch_1.bin') || files.includes('test_batch.bin')) {
    return { kind: 'cifar10', train: loadCifar10(dir, 'train'), test: loadCifar10(dir, 'test'), flip: true };
  }
  if (files.includes('train.bin') && files.includes('test.bin')) {
    return { kind: 'cifar100', train: loadCifar100(dir, 'train'), test: loadCifar100(dir, 'test'), flip: true };
  }
  const decode = { size: options.imageSize ?? ([32, 32] as [number, number]), channels: options.channels ?? 3 };
  const testDir = ['test', 'val'].map((d) => path.join(dir, d)).find((d) => fs.existsSync(d));
  if (files.includes('train') && testDir) {
    return {
      kind: 'folder',
      train: await loadImageFolder(path.join(dir, 'train'), decode),
      test: await loadImageFolder(testDir, decode),
      flip: true,
    };
  }
  const all = await loadImageFolder(dir, decode);
  const perm = new Rng(options.seed ?? 0).permutation(all.labels.length);
  const nTest = Math.max(1, Math.round(all.labels.length * 0.1));
  if (all.labels.length < 2) return { kind: 'folder', train: all, flip: true };
  return { kind: 'folder', train: subset(all, perm.subarray(nTest)), test: subset(all, perm.subarray(0, nTest)), flip: true };
}
