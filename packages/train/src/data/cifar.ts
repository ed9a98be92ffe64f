import fs from 'node:fs';
import path from 'node:path';
import { DataError } from '../errors.js';
import { CIFAR10_CLASSES, Dataset, validateDataset } from './dataset.js';

/** Options of {@link loadCifarFiles}. */
export interface CifarOptions {
  /** 10 (1 label byte per record) or 100 (2 label bytes: coarse, fine). */
  variant: 10 | 100;
  /** CIFAR-100: use the 20 coarse labels instead of the 100 fine ones. */
  coarse?: boolean;
  classes?: string[];
}

/**
 * Reads CIFAR binary batch files (records of label byte(s) + 3072 bytes: 1024 red, 1024 green,
 * 1024 blue, row-major 32x32) into one NHWC uint8 data set.
 */
export function loadCifarFiles(files: string[], options: CifarOptions): Dataset {
  const labelBytes = options.variant === 100 ? 2 : 1;
  const rec = labelBytes + 3072;
  const buffers = files.map((f) => {
    let b: Buffer;
    try {
      b = fs.readFileSync(f);
    } catch (e) {
      throw new DataError(
        `Cannot read CIFAR batch ${f}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}.`,
      );
    }
    if (b.length === 0 || b.length % rec !== 0) {
      throw new DataError(
        `${f} is truncated or not a CIFAR-${options.variant} batch: ${b.length} bytes is not a whole number of ${rec}-byte records.`,
      );
    }
    return b;
  });
  const n = buffers.reduce((s, b) => s + b.length / rec, 0);
  const images = new Uint8Array(n * 3072);
  const labels = new Uint8Array(n);
  const classes = options.classes ?? (options.variant === 10 ? CIFAR10_CLASSES : defaultNames(options.coarse ? 20 : 100));
  let k = 0;
  buffers.forEach((b, fi) => {
    const count = b.length / rec;
    for (let r = 0; r < count; r++, k++) {
      const o = r * rec;
      const label = options.variant === 100 ? b[o + (options.coarse ? 0 : 1)] : b[o];
      if (label >= classes.length) {
        throw new DataError(
          `${files[fi]}: record ${r} has label ${label}, out of range [0, ${classes.length - 1}] for CIFAR-${options.variant}.`,
        );
      }
      labels[k] = label;
      const px = o + labelBytes;
      const out = k * 3072;
      for (let i = 0; i < 1024; i++) {
        images[out + 3 * i] = b[px + i];
        images[out + 3 * i + 1] = b[px + 1024 + i];
        images[out + 3 * i + 2] = b[px + 2048 + i];
      }
    }
  });
  const d: Dataset = { images, labels, shape: [32, 32, 3], classes, source: files.join(', ') };
  validateDataset(d, files.join(', '), (m) => new DataError(m));
  return d;
}

function defaultNames(k: number): string[] {
  return Array.from({ length: k }, (_, i) => String(i));
}

function readNames(file: string): string[] | undefined {
  if (!fs.existsSync(file)) return undefined;
  const names = fs
    .readFileSync(file, 'utf8')
    .split(/\r?\n/)
    .map((s) => s.trim())
    .filter(Boolean);
  return names.length ? names : undefined;
}

/** The CIFAR-10 `cifar-10-batches-bin` folder: data_batch_1..5.bin (train) or test_batch.bin. */
export function loadCifar10(dir: string, split: 'train' | 'test'): Dataset {
  const files = split === 'train' ? [1, 2, 3, 4, 5].map((i) => path.join(dir, `data_batch_${i}.bin`)) : [path.join(dir, 'test_batch.bin')];
  return loadCifarFiles(files, { variant: 10, classes: readNames(path.join(dir, 'batches.meta.txt')) ?? CIFAR10_CLASSES });
}

/** The CIFAR-100 `cifar-100-binary` folder: train.bin or test.bin (fine labels unless `coarse`). */
export function loadCifar100(dir: string, split: 'train' | 'test', coarse = false): Dataset {
  const names = readNames(path.join(dir, coarse ? 'coarse_label_names.txt' : 'fine_label_names.txt'));
  return loadCifarFiles([path.join(dir, `${split}.bin`)], { variant: 100, coarse, classes: names });
}
