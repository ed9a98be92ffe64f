import * as tf from '@tensorflow/tfjs-core';
import type { Module } from '@resnet-ts/core';
import { Batcher, Preprocessing, channelStats } from './batches.js';
import { Dataset } from './data/dataset.js';
import { decodeImage } from './data/folder.js';
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
  }
  const perClass = perClassTotal.map((total, k) => (total ? perClassRight[k] / total : NaN));
  return { n: N, loss: lossSum / N, top1: top1 / N, top5: top5 / N, nonFinite, perClass, confusion, classes: data.classes };
}

/** Formats per-class accuracy and the confusion matrix as text. */
export function formatEvalReport(r: EvalResult): string {
  const lines: string[] = [];
  lines.push(`images: ${r.n}   loss: ${r.loss.toFixed(4)}   top-1: ${(100 * r.top1).toFixed(2)} %   top-5: ${(100 * r.top5).toFixed(2)} %`);
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
  /** [height, width] the images are resized to before padding. Default: the model input size. */
  imageSize?: [number, number];
  /** Channels the model takes (1 or 3). */
  channels: 1 | 3;
  classes?: string[];
  k?: number;
}

/**
 * Top-k labels with probabilities. `images` are JPEG/PNG file paths (decoded with sharp, converted
 * to the model's channels, resized, normalised) or an already loaded {@link Dataset}.
 */
export async function predict(model: Module, images: string[] | Dataset, options: PredictOptions): Promise<Prediction[]> {
  let data: Dataset;
  let sources: string[];
  const size = options.imageSize ?? options.preprocessing.padTo;
  if (Array.isArray(images)) {
    if (!size) throw new TrainError('predict needs imageSize (or preprocessing.padTo) to resize images to.', 'OPTIONS');
    const per = size[0] * size[1] * options.channels;
    const px = new Uint8Array(images.length * per);
    for (let i = 0; i < images.length; i++) px.set(await decodeImage(images[i], { size, channels: options.channels }), i * per);
    data = {
      images: px,
      labels: new Int32Array(images.length),
      shape: [size[0], size[1], options.channels],
      classes: options.classes ?? [],
    };
    sources = images;
  } else {
    data = images;
    sources = Array.from({ length: images.labels.length }, (_, i) => `#${i}`);
  }
  const k = options.k ?? 5;
  const batcher = new Batcher(data, 64, options.preprocessing);
  const out: Prediction[] = [];
  const idx = new Int32Array(64);
  for (let start = 0; start < sources.length; start += 64) {
    const n = Math.min(64, sources.length - start);
    for (let i = 0; i < n; i++) idx[i] = start + i;
    const { x } = batcher.fill(idx.subarray(0, n));
    const probs = tf.tidy(
      () =>
        tf
          .softmax(model.forward(tf.tensor4d(x, [n, batcher.outH, batcher.outW, batcher.channels]), { training: false }))
          .dataSync() as Float32Array,
    );
    const C = probs.length / n;
    for (let i = 0; i < n; i++) {
      const row = Array.from(probs.subarray(i * C, (i + 1) * C));
      const order = row
        .map((p, j) => [p, j] as const)
        .sort((a, b) => b[0] - a[0])
        .slice(0, Math.min(k, C));
      out.push({
        source: sources[start + i],
        top: order.map(([p, j]) => ({ index: j, label: options.classes?.[j] ?? String(j), probability: p })),
      });
    }
  }
  return out;
}
