import { Rng } from '@resnet-ts/core';
import { deriveSeed, epochOrder } from '../batches.js';
import { DataError } from '../errors.js';
import { Dataset, subset, takeFirst } from './dataset.js';

/** A data set split in two by {@link stratifiedSplit}. */
export interface Split {
  train: Dataset;
  val: Dataset;
}

/**
 * A seeded, stratified hold-out: from each class, `round(fraction * count)` images (at least one
 * where the class has two or more) go to `val`, chosen by a permutation seeded by (seed, class);
 * the rest, in their original order, to `train`. The same seed and data give the same split.
 */
export function stratifiedSplit(d: Dataset, fraction: number, seed = 0): Split {
  if (!(fraction > 0 && fraction < 1)) throw new DataError(`The validation fraction must be above 0 and below 1; got ${fraction}.`);
  const byClass: number[][] = d.classes.map(() => []);
  for (let i = 0; i < d.labels.length; i++) byClass[d.labels[i]].push(i);
  const held = new Uint8Array(d.labels.length);
  byClass.forEach((idx, k) => {
    if (idx.length < 2) return;
    const take = Math.min(idx.length - 1, Math.max(1, Math.round(fraction * idx.length)));
    const perm = new Rng(deriveSeed(seed, k, 0x5b1)).permutation(idx.length);
    for (let j = 0; j < take; j++) held[idx[perm[j]]] = 1;
  });
  const pick = (v: number) => Int32Array.from(held.keys()).filter((i) => held[i] === v);
  return { train: subset(d, pick(0)), val: subset(d, pick(1)) };
}

/** Options of {@link limitImages}. */
export interface LimitOptions {
  /** A seeded mix of every class (image folders, whose images are sorted by class) instead of the first n. */
  mix: boolean;
  /** Seed of the mix (default 0). */
  seed?: number;
  /** How the error for too large an `n` names the limit and the images: default '--limit' and 'images'. */
  flag?: string;
  what?: string;
}

/**
 * `n` of the images of `d` for a quick run (`--limit`, `--test-limit`): the first `n`, or with `mix`
 * a seeded mix of every class (the first `n` of a permutation seeded by `seed`); the same seed and
 * data give the same images. `n` undefined: all of `d`; above its size: an error such as
 * "--limit 50 is more than the 40 test images of folder.".
 */
export function limitImages(d: Dataset, n: number | undefined, options: LimitOptions): Dataset {
  if (n === undefined) return d;
  if (n > d.labels.length)
    throw new DataError(`${options.flag ?? '--limit'} ${n} is more than the ${d.labels.length} ${options.what ?? 'images'}.`);
  return options.mix ? subset(d, epochOrder(d.labels.length, options.seed ?? 0, 0x11).subarray(0, n)) : takeFirst(d, n);
}
