/**
 * A model bound to its preprocessing and labels: `classify(input)` runs decode -> preprocessing ->
 * forward (eval) -> softmax -> top-k. The decoder is the only part that differs between Node
 * (sharp) and the browser (canvas).
 */
import * as tf from '@tensorflow/tfjs-core';
import { ResNetError, ShapeError, SpecError, fmtValue } from '@resnet-ts/core';
import type { ResNet } from '@resnet-ts/core';
import type { ImagePreprocessing } from './preprocess.js';

/** One label of one image. */
export interface Classification {
  label: string;
  /** Output index of the classifier head. */
  index: number;
  /** Softmax probability in [0, 1]: always finite from {@link Classifier.classify}, which refuses non-finite outputs ({@link topK} passes NaN on). */
  probability: number;
}

/** Options of {@link Classifier.classify}. */
export interface ClassifyOptions {
  /**
   * How many labels per image, most probable first: a whole number from 1 to the model's classes
   * (another value is a `SpecError`, as `resnet predict --top` refuses it). Default 5, or all the
   * classes when there are fewer.
   */
  topk?: number;
}

/** Decodes one input to NHWC float32 model input with `p` (the environment-specific part). */
export type ImageDecoder<I> = (input: I, p: ImagePreprocessing) => Promise<tf.Tensor3D>;

/** Where a classifier's parts came from (for tools that report it, e.g. the CLI). */
export interface ClassifierOrigin {
  /** Naming convention of the weights (`resnet-ts` for our checkpoints, `torchvision`, `timm`, ...). */
  convention?: string;
  /** `options`: given by the caller; `weights`: stored with the weights; `default`: chosen by architecture. */
  preprocessing?: 'options' | 'weights' | 'default';
  /**
   * Where the fields the caller did not give came from (`weights` or `default`); for a preset
   * (`'imagenet-v1'`) none did, and this is absent.
   */
  preprocessingBase?: 'weights' | 'default';
  /**
   * `known`: the weights store their normalisation, the caller gave mean and std (or a preset), or
   * they are ImageNet weights (1000 classes, RGB, an ImageNet stem), which all use torchvision's
   * standard transforms; `assumed`: nothing says how their images were normalised, and `preprocessing`
   * holds the architecture's usual mean and std as a guess (what an export should not store as fact).
   */
  normalisation?: 'known' | 'assumed';
  /**
   * `named`: the labels were given (by the caller, the hub's config.json or the weights), even when they
   * are '0', '1', ...; `numbers`: nobody named the outputs, the labels are their numbers as text.
   */
  labels?: 'named' | 'numbers';
}

/** A classifier made by `fromPretrained`. Call {@link Classifier.dispose} to free the weights. */
export class Classifier<I = unknown> {
  constructor(
    /** The model, in eval mode. */
    readonly model: ResNet,
    /** How images are prepared for this model. */
    readonly preprocessing: ImagePreprocessing,
    /** Class names, one per output. */
    readonly labels: readonly string[],
    /** Where the weights came from (file, URL, zoo name, hf:owner/name). */
    readonly source: string,
    private readonly decoder: ImageDecoder<I>,
    /** Where the parts came from. */
    readonly origin: ClassifierOrigin = {},
  ) {}

  /**
   * The model input for one image or a batch: `[N, H, W, C]` float32. A tensor is taken as already
   * preprocessed (`[H, W, C]` or `[N, H, W, C]`); anything else goes through the decoder.
   */
  async preprocess(input: I | tf.Tensor | (I | tf.Tensor)[]): Promise<tf.Tensor4D> {
    const items = Array.isArray(input) ? input : [input];
    if (items.length === 0) throw new SpecError('classify: no images were given (an empty array): pass at least one image or tensor.');
    const parts: tf.Tensor4D[] = [];
    try {
      for (const item of items) {
        if (item instanceof tf.Tensor) {
          if (item.rank !== 3 && item.rank !== 4) throw new ShapeError(`classify: a tensor input must be [H, W, C] or [N, H, W, C]; got rank ${item.rank}.`);
          parts.push(item.rank === 3 ? tf.expandDims(item as tf.Tensor3D, 0) : tf.clone(item as tf.Tensor4D));
        } else {
          const t = await this.decoder(item as I, this.preprocessing);
          parts.push(tf.tidy(() => tf.expandDims(t, 0)));
          t.dispose();
        }
      }
    } catch (e) {
      tf.dispose(parts);
      throw e;
    }
    if (parts.length === 1) return parts[0];
    try {
      return tf.concat(parts, 0);
    } finally {
      tf.dispose(parts);
    }
  }

  /**
   * Top-k labels of one image; an array of inputs gives one list per image.
   *
   * Throws a `ResNetError` with code `NON_FINITE_OUTPUT` when any logit of an image is NaN or ±Inf
   * (weights that hold NaN/Inf, a diverged training run, or a tensor input that holds them): such
   * outputs rank nothing, so no list is returned for them (as `evaluate` counts them wrong).
   */
  classify(input: I | tf.Tensor, options?: ClassifyOptions): Promise<Classification[]>;
  classify(input: (I | tf.Tensor)[], options?: ClassifyOptions): Promise<Classification[][]>;
  async classify(input: I | tf.Tensor | (I | tf.Tensor)[], options: ClassifyOptions = {}): Promise<Classification[] | Classification[][]> {
    const classes = this.model.spec.numClasses;
    const { topk } = options;
    if (topk !== undefined) checkTopK(topk, classes, 'classify: topk');
    const x = await this.preprocess(input);
    let logits: Float32Array;
    let probs: Float32Array;
    let outputs: tf.Tensor[] = [];
    try {
      outputs = tf.tidy(() => {
        const y = this.model.forward(x, { training: false });
        return [y, tf.softmax(y)];
      });
      // Read asynchronously: tfjs-webgpu's synchronous read gives zeros on some adapters and loses the device.
      [logits, probs] = (await Promise.all(outputs.map((t) => t.data()))) as Float32Array[];
    } finally {
      x.dispose();
      tf.dispose(outputs);
    }
    const n = x.shape[0];
    const per = probs.length / n;
    checkFinite(logits, n, input);
    const k = topk ?? Math.min(5, per);
    const rows = Array.from({ length: n }, (_, i) => topK(probs.subarray(i * per, (i + 1) * per), k, this.labels));
    return Array.isArray(input) || (input instanceof tf.Tensor && input.rank === 4) ? rows : rows[0];
  }

  /** Frees the model's weights. */
  dispose(): void {
    this.model.dispose();
  }
}

/** Throws when a row of `logits` (one per image) holds NaN or ±Inf, naming the image (see {@link Classifier.classify}). */
function checkFinite(logits: Float32Array, n: number, input: unknown): void {
  const per = logits.length / n;
  for (let i = 0; i < n; i++) {
    const row = logits.subarray(i * per, (i + 1) * per);
    const bad = row.reduce((count, v) => (Number.isFinite(v) ? count : count + 1), 0);
    if (bad === 0) continue;
    const items = Array.isArray(input) ? input : [input];
    const item = items.length === n ? items[i] : undefined;
    const what = typeof item === 'string' ? `'${item}'` : n === 1 ? 'the image' : `image ${i + 1} of ${n}`;
    throw new ResNetError(
      `The model's outputs for ${what} are NaN or Inf (${bad} of ${per} logits): the weights hold non-finite values or the run that trained them diverged` +
        `${item instanceof tf.Tensor || item === undefined ? ', or the input tensor holds them' : ''}; use other weights (e.g. an earlier checkpoint).`,
      'NON_FINITE_OUTPUT',
    );
  }
}

/**
 * Throws a `SpecError` unless `k` is a whole number from 1 to `classes`: the one check of "how many
 * labels" that `classify`'s `topk` and {@link topK} share (0, a negative number, NaN or a fraction
 * would otherwise slice a wrong number of entries). `what` names the option in the message.
 */
export function checkTopK(k: unknown, classes: number, what = 'k'): asserts k is number {
  if (!(Number.isInteger(k) && (k as number) >= 1 && (k as number) <= classes))
    throw new SpecError(`${what} must be a whole number from 1 to the model's ${classes} classes; got ${fmtValue(k)}.`);
}

/**
 * The k most probable entries of one row (non-finite values sort last but are reported); `k` must be
 * a whole number from 1 to the row's length (see {@link checkTopK}).
 */
export function topK(row: Float32Array, k: number, labels: readonly string[]): Classification[] {
  checkTopK(k, row.length, 'topK: k');
  const key = (v: number) => (Number.isNaN(v) ? -Infinity : v);
  return Array.from(row, (p, index) => ({ p, index }))
    .sort((a, b) => key(b.p) - key(a.p) || a.index - b.index)
    .slice(0, k)
    .map(({ p, index }) => ({ label: labels[index] ?? String(index), index, probability: p }));
}
