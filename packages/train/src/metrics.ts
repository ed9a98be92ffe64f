import * as tf from '@tensorflow/tfjs-core';
import { fmtValue, type Module } from '@resnet-ts/core';
import { Batcher, Preprocessing, channelStats } from './batches.js';
import { Dataset } from './data/dataset.js';
import { topK } from '@resnet-ts/zoo';
import type { ImagePreprocessing } from '@resnet-ts/zoo';
import { decodeImageNode } from '@resnet-ts/zoo/node';
import { DataError, TrainError } from './errors.js';
import { validateDataset, validateImages } from './data/dataset.js';
import { checkNumber } from './option-checks.js';
import { matchClasses } from './data/classes.js';

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
  /** confusion[true][predicted] counts over the data's classes (finite predictions only, see `nonFinite`). */
  confusion: number[][];
  /**
   * Only when the model has outputs that are none of the data's classes: per true class, how many
   * images were predicted as one of those (the confusion matrix's "other" column).
   */
  other?: number[];
  /** Number of model outputs (top-5 means something only above 5). */
  outputs?: number;
  classes: string[];
}

/** Options of {@link evaluate}. */
export interface EvalOptions {
  batchSize?: number;
  /** Default: statistics of the data set itself, no padding. Pass the training preprocessing. */
  preprocessing?: Preprocessing;
  /** Stop after this many images (quick checks): a whole number >= 1. */
  limit?: number;
  /**
   * The model output of each data class (distinct; e.g. `matchClasses(...).outputs`). Default: class
   * k is output k.
   */
  outputs?: ArrayLike<number>;
  /**
   * The model's output labels (e.g. a classifier's `labels`): the data's classes are then paired with
   * outputs by name, as `resnet eval` does ({@link matchClasses}; a folder lacking a class keeps each
   * other class on its own output). Ignored when `outputs` is given.
   */
  labels?: readonly string[];
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

/** Running counts of {@link evaluate} over K data classes whose outputs (of C) are `outputs`. */
class Tally {
  readonly confusion: number[][];
  readonly other: number[];
  readonly total: number[];
  readonly right: number[];
  lossSum = 0;
  top1 = 0;
  top5 = 0;
  nonFinite = 0;
  /** The data class of each model output, -1 for none. */
  private readonly classOf: Int32Array;

  constructor(
    private readonly outputs: ArrayLike<number>,
    C: number,
  ) {
    const K = outputs.length;
    this.confusion = Array.from({ length: K }, () => new Array<number>(K).fill(0));
    [this.other, this.total, this.right] = [0, 0, 0].map(() => new Array<number>(K).fill(0));
    this.classOf = new Int32Array(C).fill(-1);
    for (let k = K - 1; k >= 0; k--) this.classOf[outputs[k]] = k;
  }

  /** Counts one image of data class `y` with logits `row`. */
  add(row: Float32Array, y: number): void {
    const t = this.outputs[y];
    let max = -Infinity;
    let arg = 0;
    for (let k = 0; k < row.length; k++) {
      if (row[k] > max) {
        max = row[k];
        arg = k;
      }
    }
    let sum = 0;
    for (let k = 0; k < row.length; k++) sum += Math.exp(row[k] - max);
    this.lossSum += max + Math.log(sum) - row[t];
    this.total[y]++;
    // NaN compares false, so a NaN row would rank the true class first: never count it as right.
    if (!row.every(Number.isFinite)) {
      this.nonFinite++;
      return;
    }
    let above = 0;
    for (let k = 0; k < row.length; k++) if (row[k] > row[t] || (row[k] === row[t] && k < t)) above++;
    if (above === 0) {
      this.top1++;
      this.right[y]++;
    }
    if (above < 5) this.top5++;
    const p = this.classOf[arg];
    if (p >= 0) this.confusion[y][p]++;
    else this.other[y]++;
  }
}

/** Checks that every data class has an output below C (the data's labels index `outputs`). */
function checkOutputs(outputs: ArrayLike<number>, C: number, given: boolean): void {
  const K = outputs.length;
  if (!given && C < K) throw new TrainError(`The model outputs ${C} classes but the data set has ${K}.`, 'OPTIONS');
  for (let k = 0; k < K; k++)
    if (!(outputs[k] >= 0 && outputs[k] < C))
      throw new TrainError(`Data class ${k} is mapped to output ${outputs[k]}, but the model outputs ${C} classes.`, 'OPTIONS');
}

/**
 * Refuses what would give numbers that mean nothing: a data set whose sizes disagree or whose labels
 * are not its classes' indices, no images to score, a batch size or limit that is not a whole number
 * >= 1, and `outputs` that are not distinct whole numbers (two classes scored on one output).
 */
function checkEvaluation(data: Dataset, options: EvalOptions): void {
  validateDataset(data, `evaluate: the data set${data.source ? ` (${data.source})` : ''}`, (m) => new DataError(m));
  if (data.labels.length === 0)
    throw new DataError(`evaluate: the data set${data.source ? ` (${data.source})` : ''} has no images: give at least one.`);
  checkNumber('evaluate: batchSize', options.batchSize, { min: 1, integer: true }, 'give the images per batch, e.g. 256');
  checkNumber('evaluate: limit', options.limit, { min: 1, integer: true }, 'give how many images to score, or leave it out for all');
  if (options.outputs === undefined) return;
  const outputs = Array.from(options.outputs);
  const bad = outputs.findIndex((o) => !(Number.isInteger(o) && o >= 0));
  if (bad >= 0)
    throw new TrainError(
      `evaluate: outputs[${bad}] is ${fmtValue(outputs[bad])}; outputs must be whole-number model outputs (>= 0), one per data class: fix outputs.`,
      'OPTIONS',
    );
  const dup = outputs.findIndex((o, k) => outputs.indexOf(o) !== k);
  if (dup >= 0)
    throw new TrainError(
      `evaluate: outputs gives output ${outputs[dup]} to data classes ${outputs.indexOf(outputs[dup])} and ${dup}; each data class needs its own output: fix outputs (e.g. matchClasses(...).outputs).`,
      'OPTIONS',
    );
}

/**
 * Evaluates `model` in eval mode on `data`, batched: top-1, top-5, loss, per-class accuracy and
 * the confusion matrix over the data's classes (with `other`: predictions of outputs that are none
 * of them). `outputs` pairs data classes with model outputs (default: class k is output k).
 */
export function evaluate(model: Module, data: Dataset, options: EvalOptions = {}): EvalResult {
  checkEvaluation(data, options);
  const batchSize = options.batchSize ?? 256;
  const prep = options.preprocessing ?? { ...channelStats(data) };
  const batcher = new Batcher(data, batchSize, prep);
  const N = Math.min(data.labels.length, options.limit ?? Infinity);
  const K = data.classes.length;
  const outputs =
    options.outputs ??
    (options.labels ? matchClasses(data.classes, options.labels, { folders: true }).outputs : Int32Array.from({ length: K }, (_, k) => k));
  if (outputs.length !== K) throw new TrainError(`outputs names ${outputs.length} classes but the data set has ${K}.`, 'OPTIONS');
  let tally: Tally | undefined;
  let C = 0;
  const idx = new Int32Array(batchSize);
  for (let start = 0; start < N; start += batchSize) {
    const n = Math.min(batchSize, N - start);
    for (let i = 0; i < n; i++) idx[i] = start + i;
    const { x, labels } = batcher.fill(idx.subarray(0, n));
    const logits = logitsOf(model, x, [n, batcher.outH, batcher.outW, batcher.channels]);
    if (!tally) {
      C = logits.length / n;
      checkOutputs(outputs, C, options.outputs !== undefined || options.labels !== undefined);
      tally = new Tally(outputs, C);
    }
    for (let i = 0; i < n; i++) tally.add(logits.subarray(i * C, (i + 1) * C), labels[i]);
    options.onBatch?.(start + n, N);
  }
  const t = tally ?? new Tally(outputs, K);
  const perClass = t.total.map((total, k) => (total ? t.right[k] / total : NaN));
  const other = C > K ? { other: t.other } : {};
  return {
    n: N,
    loss: t.lossSum / N,
    top1: t.top1 / N,
    top5: t.top5 / N,
    nonFinite: t.nonFinite,
    perClass,
    confusion: t.confusion,
    ...other,
    outputs: C || K,
    classes: data.classes,
  };
}

/** Formats per-class accuracy and the confusion matrix as text (with an "other" column when the model has outputs beyond the data's classes). */
export function formatEvalReport(r: EvalResult): string {
  const lines: string[] = [];
  // Top-5 only means something with more than 5 outputs (otherwise it is always 100 %).
  const top5 = (r.outputs ?? r.classes.length) > 5 ? `   top-5: ${(100 * r.top5).toFixed(2)} %` : '';
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
  const rows = r.confusion.map((row, k) => (r.other ? [...row, r.other[k]] : row));
  const heads = [...r.classes.map((_, k) => String(k)), ...(r.other ? ['other'] : [])];
  lines.push(
    '',
    `confusion matrix (rows: true class, columns: predicted${r.other ? '; other: an output that is none of these classes' : ''}):`,
  );
  const cw = Math.max(r.other ? 6 : 5, ...rows.flat().map((v) => String(v).length + 1));
  lines.push(' '.repeat(w + 2) + heads.map((h) => h.padStart(cw)).join(''));
  rows.forEach((row, k) => lines.push(`  ${r.classes[k].padEnd(w)}` + row.map((v) => String(v).padStart(cw)).join('')));
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
  /** How many top classes per image: a whole number from 1 to the model's classes (default 5, or all when fewer). */
  k?: number;
}

/** Top-k of one row of probabilities (see the zoo's `topK`): `k` as given (at most the row's classes), else 5 or all if fewer. */
function topOf(source: string, row: Float32Array, k: number | undefined, classes?: string[]): Prediction {
  if (k !== undefined && k > row.length)
    throw new TrainError(
      `predict: k is ${k}, but the model outputs ${row.length} classes; k must be a whole number from 1 to ${row.length}: give a smaller k.`,
      'OPTIONS',
    );
  const labels = classes ?? Array.from(row, (_, j) => String(j));
  return { source, top: topK(row, k ?? Math.min(5, row.length), labels) };
}

/**
 * Top-k labels with probabilities. `images` are image file paths (decoded and preprocessed by the
 * zoo's one implementation, as `fromPretrained(...).classify` does: resized to `imageSize` when
 * given, padded to `preprocessing.padTo`, normalised) or an already loaded {@link Dataset}.
 * For a model with stored preprocessing and labels, `fromPretrained(file).classify(images)` of
 * `@resnet-ts/zoo/node` is the shorter path.
 */
export async function predict(model: Module, images: string[] | Dataset, options: PredictOptions): Promise<Prediction[]> {
  const { k } = options;
  checkNumber('predict: k', k, { min: 1, integer: true }, 'give how many of the top classes to list, e.g. 5');
  if (!Array.isArray(images))
    validateImages(images, `predict: the data set${images.source ? ` (${images.source})` : ''}`, (m) => new DataError(m));
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
