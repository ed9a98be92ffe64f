import { Rng } from '@resnet-ts/core';
import { deriveSeed } from '../batches.js';
import { DataError } from '../errors.js';
import { Dataset, subset } from './dataset.js';

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
