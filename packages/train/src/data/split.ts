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
  const { train, val } = stratifiedSplitIndices(d.labels, d.classes.length, fraction, seed);
  return { train: subset(d, train), val: subset(d, val) };
}

/** The indices (in order) that {@link stratifiedSplit} puts in `train` and in `val`: the labels decide them. */
export function stratifiedSplitIndices(
  labels: ArrayLike<number>,
  numClasses: number,
  fraction: number,
  seed = 0,
): { train: Int32Array; val: Int32Array } {
  if (!(fraction > 0 && fraction < 1)) throw new DataError(`The validation fraction must be above 0 and below 1; got ${fraction}.`);
  const byClass: number[][] = Array.from({ length: numClasses }, () => []);
  for (let i = 0; i < labels.length; i++) byClass[labels[i]].push(i);
  const held = new Uint8Array(labels.length);
  byClass.forEach((idx, k) => {
    if (idx.length < 2) return;
    const take = Math.min(idx.length - 1, Math.max(1, Math.round(fraction * idx.length)));
    const perm = new Rng(deriveSeed(seed, k, 0x5b1)).permutation(idx.length);
    for (let j = 0; j < take; j++) held[idx[perm[j]]] = 1;
  });
  const pick = (v: number) => Int32Array.from(held.keys()).filter((i) => held[i] === v);
  return { train: pick(0), val: pick(1) };
}

/**
 * The order in which {@link limitImages} with `mix` takes the images of a set of `count`: its first
 * `n` are the mix of `n`. Image folders take it from their listing, to decode only those images.
 */
export function mixOrder(count: number, seed = 0): Int32Array {
  return epochOrder(count, seed, 0x11);
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
  requireImages(d, n, options);
  return options.mix ? subset(d, mixOrder(d.labels.length, options.seed ?? 0).subarray(0, n)) : takeFirst(d, n);
}

/**
 * Checks that `d` holds at least `n` images, for a limit already applied while loading (an image
 * folder's `limits`): the error {@link limitImages} gives for too large an `n`.
 */
export function requireImages(d: Dataset, n: number, options: Pick<LimitOptions, 'flag' | 'what'>): void {
  if (n > d.labels.length)
    throw new DataError(`${options.flag ?? '--limit'} ${n} is more than the ${d.labels.length} ${options.what ?? 'images'}.`);
}
