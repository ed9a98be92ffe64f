import * as tf from '@tensorflow/tfjs-core';
import type { Module } from '@resnet-ts/core';
import { Batcher, Preprocessing, channelStats } from './batches.js';
import { Dataset } from './data/dataset.js';
import { topK } from '@resnet-ts/zoo';
import type { ImagePreprocessing } from '@resnet-ts/zoo';
import { decodeImageNode } from '@resnet-ts/zoo/node';
import { TrainError } from './errors.js';

/** What {@link evaluate} measures. */
export interface EvalResult {
  n: number;
  /** Mean softmax cross-entropy. */
  loss: number;
  /** Fractions in [0, 1]. A prediction with a non-finite logit counts as wrong. */
  top1: number;
  top5: number;
  /**
   * Images whose logits hold NaN or ±Inf (a diverged or corrupt model): counted wrong in top-1,
   * top-5 and per-class accuracy, left out of the confusion matrix, and making `loss` NaN or Inf.
   */
  nonFinite: number;
  /** Accuracy of each class (NaN for a class with no images). */
  perClass: number[];
  /** confusion[true][predicted] counts (finite predictions only, see `nonFinite`). */
  confusion: number[][];
  classes: string[];
}

/** Options of {@link evaluate}. */
export interface EvalOptions {
  batchSize?: number;
  /** Default: statistics of the data set itself, no padding. Pass the training preprocessing. */
  preprocessing?: Preprocessing;
  /** Stop after this many images (quick checks). */
  limit?: number;
  /** Called after each batch with the images done and the total (e.g. a progress bar). */
  onBatch?: (done: number, total: number) => void;
}

/** Logits of a prepared batch in eval mode (running BN statistics), copied to JS. */
function logitsOf(model: Module, x: Float32Array, shape: [number, number, number, number]): Float32Array {
  return tf.tidy(() => {
    const t = tf.tensor4d(x, shape);
    return model.forward(t, { training: false }).dataSync() as Float32Array;
  });
}

/**
 * Evaluates `model` in eval mode on `data`, batched: top-1, top-5, loss, per-class accuracy and
 * the confusion matrix.
 */
export function evaluate(model: Module, data: Dataset, options: EvalOptions = {}): EvalResult {
  const batchSize = options.batchSize ?? 256;
  const prep = options.preprocessing ?? { ...channelStats(data) };
  const batcher = new Batcher(data, batchSize, prep);
  const N = Math.min(data.labels.length, options.limit ?? Infinity);
  const K = data.classes.length;
  const confusion = Array.from({ length: K }, () => new Array<number>(K).fill(0));
  const perClassTotal = new Array<number>(K).fill(0);
  const perClassRight = new Array<number>(K).fill(0);
  let lossSum = 0;
  let top1 = 0;
  let top5 = 0;
  let nonFinite = 0;
  const idx = new Int32Array(batchSize);
  for (let start = 0; start < N; start += batchSize) {
    const n = Math.min(batchSize, N - start);
    for (let i = 0; i < n; i++) idx[i] = start + i;
    const { x, labels } = batcher.fill(idx.subarray(0, n));
    const logits = logitsOf(model, x, [n, batcher.outH, batcher.outW, batcher.channels]);
    const C = logits.length / n;
    if (C < K) throw new TrainError(`The model outputs ${C} classes but the data set has ${K}.`, 'OPTIONS');
    for (let i = 0; i < n; i++) {
      const row = logits.subarray(i * C, (i + 1) * C);
      const y = labels[i];
      let max = -Infinity;
      let arg = 0;
      for (let k = 0; k < C; k++) {
        if (row[k] > max) {
          max = row[k];
          arg = k;
        }
      }
      let sum = 0;
      for (let k = 0; k < C; k++) sum += Math.exp(row[k] - max);
      lossSum += max + Math.log(sum) - row[y];
      perClassTotal[y]++;
      // NaN compares false, so a NaN row would rank the true class first: never count it as right.
      if (!row.every(Number.isFinite)) {
        nonFinite++;
        continue;
      }
      let above = 0;
      for (let k = 0; k < C; k++) if (row[k] > row[y] || (row[k] === row[y] && k < y)) above++;
      if (above === 0) {
        top1++;
        perClassRight[y]++;
      }
      if (above < 5) top5++;
      if (arg < K) confusion[y][arg]++;
    }
    options.onBatch?.(start + n, N);
  }
  const perClass = perClassTotal.map((total, k) => (total ? perClassRight[k] / total : NaN));
  return { n: N, loss: lossSum / N, top1: top1 / N, top5: top5 / N, nonFinite, perClass, confusion, classes: data.classes };
}

/** Formats per-class accuracy and the confusion matrix as text. */
export function formatEvalReport(r: EvalResult): string {
  const lines: string[] = [];
  // Top-5 only means something with more than 5 classes (otherwise it is always 100 %).
  const top5 = r.classes.length > 5 ? `   top-5: ${(100 * r.top5).toFixed(2)} %` : '';
  lines.push(`images: ${r.n}   loss: ${r.loss.toFixed(4)}   top-1: ${(100 * r.top1).toFixed(2)} %${top5}`);
  lines.push(
    r.nonFinite > 0
      ? `non-finite predictions: ${r.nonFinite} of ${r.n} (NaN or Inf logits: the weights are broken; counted wrong, not in the confusion matrix)`
      : 'non-finite predictions: 0',
  );
  lines.push('', 'per-class accuracy:');
  const w = Math.max(...r.classes.map((c) => c.length));
  r.perClass.forEach((a, k) =>
    lines.push(`  ${r.classes[k].padEnd(w)}  ${Number.isNaN(a) ? '  n/a' : (100 * a).toFixed(2).padStart(6) + ' %'}`),
  );
  lines.push('', 'confusion matrix (rows: true class, columns: predicted):');
  const cw = Math.max(5, ...r.confusion.flat().map((v) => String(v).length + 1));
  lines.push(' '.repeat(w + 2) + r.classes.map((_, k) => String(k).padStart(cw)).join(''));
  r.confusion.forEach((row, k) => lines.push(`  ${r.classes[k].padEnd(w)}` + row.map((v) => String(v).padStart(cw)).join('')));
  return lines.join('\n');
}

/** One image's top-k predictions. */
export interface Prediction {
  source: string;
  top: { label: string; index: number; probability: number }[];
}

/** Options of {@link predict}. */
export interface PredictOptions {
  /** Normalisation (and padding) the model was trained with. */
  preprocessing: Preprocessing;
  /**
   * [height, width] image files are resized to (exactly) before padding. Default: they keep their
   * size (a 28x28 Fashion-MNIST image with `padTo: [32, 32]` is padded, not resized).
   */
  imageSize?: [number, number];
  /** Channels the model takes (1 or 3). */
  channels: 1 | 3;
  classes?: string[];
  k?: number;
}

/** Top-k of one row of probabilities (see the zoo's `topK`). */
function topOf(source: string, row: Float32Array, k: number, classes?: string[]): Prediction {
  const labels = classes ?? Array.from(row, (_, j) => String(j));
  return { source, top: topK(row, Math.min(k, row.length), labels) };
}

/**
 * Top-k labels with probabilities. `images` are image file paths (decoded and preprocessed by the
 * zoo's one implementation, as `fromPretrained(...).classify` does: resized to `imageSize` when
 * given, padded to `preprocessing.padTo`, normalised) or an already loaded {@link Dataset}.
 * For a model with stored preprocessing and labels, `fromPretrained(file).classify(images)` of
 * `@resnet-ts/zoo/node` is the shorter path.
 */
export async function predict(model: Module, images: string[] | Dataset, options: PredictOptions): Promise<Prediction[]> {
  const k = options.k ?? 5;
  const softmaxOf = (x: tf.Tensor4D) => tf.tidy(() => tf.softmax(model.forward(x, { training: false })).dataSync() as Float32Array);
  if (Array.isArray(images)) {
    const prep: ImagePreprocessing = {
      resize: options.imageSize,
      padTo: options.preprocessing.padTo,
      mean: options.preprocessing.mean,
      std: options.preprocessing.std,
      channels: options.channels,
    };
    const out: Prediction[] = [];
    for (const file of images) {
      const x = await decodeImageNode(file, prep);
      try {
        out.push(topOf(file, softmaxOf(tf.expandDims(x, 0) as tf.Tensor4D), k, options.classes));
      } finally {
        x.dispose();
      }
    }
    return out;
  }
  const batcher = new Batcher(images, 64, options.preprocessing);
  const out: Prediction[] = [];
  const idx = new Int32Array(64);
  const N = images.labels.length;
  for (let start = 0; start < N; start += 64) {
    const n = Math.min(64, N - start);
    for (let i = 0; i < n; i++) idx[i] = start + i;
    const { x } = batcher.fill(idx.subarray(0, n));
    const probs = tf.tidy(() => softmaxOf(tf.tensor4d(x, [n, batcher.outH, batcher.outW, batcher.channels])));
    const C = probs.length / n;
    for (let i = 0; i < n; i++) out.push(topOf(`#${start + i}`, probs.subarray(i * C, (i + 1) * C), k, options.classes));
  }
  return out;
}
