import { Rng } from '@resnet-ts/core';
import type { Classifier } from '@resnet-ts/zoo';
import { Dataset } from './data/dataset.js';
import type { DataPair } from './data/index.js';
import { TrainError } from './errors.js';

/**
 * How raw pixels become network input: pixel/255 (uint8 data; float data is taken as already in
 * [0, 1]), centred padding with black pixels to `padTo` (28x28 -> 32x32 for the CIFAR stems),
 * then (x - mean[c]) / std[c] over the whole padded image, so the border holds -mean[c] / std[c],
 * not 0. Saved in checkpoints so eval/predict (and the browser example) prepare images the same way.
 */
export interface Preprocessing {
  mean: number[];
  std: number[];
  /** Output [height, width] (>= the image size; the border is black pixels, i.e. -mean/std after normalising). Default: the image size. */
  padTo?: [number, number];
}

/**
 * Training-time augmentation. The paper's (CIFAR): pad by `pad` black pixels, random crop back,
 * random horizontal flip. ImageNet-style (`resizedCrop`, torchvision's `RandomResizedCrop`): a random
 * box of `scale` (fraction of the area) and `ratio` (width/height) of the image, resized back to the
 * image size with bilinear interpolation, then the random flip; `pad` is then 0.
 */
export interface Augmentation {
  pad: number;
  flip: boolean;
  resizedCrop?: { scale: [number, number]; ratio: [number, number] };
}

/** Images from this size (the shorter side) up get random-resized-crop by default; smaller ones the paper's pad-and-crop. */
export const RESIZED_CROP_FROM = 64;

/**
 * The augmentation that fits an image size: random-resized-crop (scale 0.08-1, ratio 3/4-4/3, as
 * torchvision) + flip at ImageNet-like sizes (>= {@link RESIZED_CROP_FROM}), the paper's pad-4 random
 * crop + flip below. `flip: false` for data where mirroring changes the class (digits).
 */
export function defaultAugmentation(size: [number, number], flip: boolean): Augmentation {
  if (Math.min(size[0], size[1]) >= RESIZED_CROP_FROM) return { pad: 0, flip, resizedCrop: { scale: [0.08, 1], ratio: [3 / 4, 4 / 3] } };
  return { pad: 4, flip };
}

/** A box of the image: top, left, height, width (pixels, may be fractional-free integers). */
interface CropBox {
  top: number;
  left: number;
  height: number;
  width: number;
}

/** torchvision's `RandomResizedCrop.get_params`: 10 tries at a random box, else the centre box of the clamped ratio. */
function sampleCropBox(h: number, w: number, a: NonNullable<Augmentation['resizedCrop']>, rng: Rng): CropBox {
  const area = h * w;
  const [lr0, lr1] = [Math.log(a.ratio[0]), Math.log(a.ratio[1])];
  for (let i = 0; i < 10; i++) {
    const target = area * (a.scale[0] + (a.scale[1] - a.scale[0]) * rng.uniform());
    const ratio = Math.exp(lr0 + (lr1 - lr0) * rng.uniform());
    const cw = Math.round(Math.sqrt(target * ratio));
    const ch = Math.round(Math.sqrt(target / ratio));
    if (cw > 0 && ch > 0 && cw <= w && ch <= h) return { top: rng.int(h - ch + 1), left: rng.int(w - cw + 1), height: ch, width: cw };
  }
  const r = w / h;
  const [cw, ch] = r < a.ratio[0] ? [w, Math.round(w / a.ratio[0])] : r > a.ratio[1] ? [Math.round(h * a.ratio[1]), h] : [w, h];
  return { top: (h - ch) >> 1, left: (w - cw) >> 1, height: ch, width: cw };
}

/** Per-channel mean and (population) standard deviation of the images, on the [0, 1] scale. */
export function channelStats(d: Dataset): { mean: number[]; std: number[] } {
  const c = d.shape[2];
  const sum = new Float64Array(c);
  const sq = new Float64Array(c);
  const scale = d.images instanceof Uint8Array ? 1 / 255 : 1;
  const px = d.images;
  for (let i = 0; i < px.length; i += c) {
    for (let k = 0; k < c; k++) {
      const v = px[i + k] * scale;
      sum[k] += v;
      sq[k] += v * v;
    }
  }
  const n = px.length / c;
  const mean = [...sum].map((s) => s / n);
  const std = [...sq].map((s, k) => Math.sqrt(Math.max(s / n - mean[k] * mean[k], 1e-12)));
  return { mean, std };
}

/** Mixes a seed with small integers into a new 32-bit seed (so epoch orders are derivable). */
export function deriveSeed(seed: number, ...parts: number[]): number {
  let h = (seed ^ 0x5bd1e995) >>> 0;
  for (const p of parts) {
    h = Math.imul(h ^ (p >>> 0), 0x01000193) >>> 0;
    h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d) >>> 0;
    h = (h ^ (h >>> 13)) >>> 0;
  }
  return h;
}

/** The order in which an epoch visits the images: a permutation from (seed, epoch) alone. */
export function epochOrder(n: number, seed: number, epoch: number): Int32Array {
  return new Rng(deriveSeed(seed, epoch, 0x5eed)).permutation(n);
}

/** A fresh augmentation generator for an epoch (its state is saved in checkpoints). */
export function augmentRng(seed: number, epoch: number): Rng {
  return new Rng(deriveSeed(seed, epoch, 0xa06));
}

/**
 * Fills mini-batches of NHWC float32 input from a {@link Dataset} with plain typed-array loops into
 * one reusable buffer: padding, normalisation and augmentation in a single pass.
 */
export class Batcher {
  readonly outH: number;
  readonly outW: number;
  readonly channels: number;
  private readonly buffer: Float32Array;
  private labelBuffer: Int32Array;
  private readonly scale: Float32Array;
  private readonly shift: Float32Array;

  constructor(
    readonly data: Dataset,
    readonly batchSize: number,
    readonly prep: Preprocessing,
  ) {
    const [h, w, c] = data.shape;
    this.channels = c;
    [this.outH, this.outW] = prep.padTo ?? [h, w];
    if (this.outH < h || this.outW < w)
      throw new TrainError(`padTo ${this.outH}x${this.outW} is smaller than the images (${h}x${w}).`, 'OPTIONS');
    if (prep.mean.length !== c || prep.std.length !== c) {
      throw new TrainError(`Normalisation has ${prep.mean.length} means and ${prep.std.length} stds for ${c}-channel images.`, 'OPTIONS');
    }
    const raw = data.images instanceof Uint8Array ? 1 / 255 : 1;
    this.scale = Float32Array.from(prep.std, (s) => raw / s);
    this.shift = Float32Array.from(prep.mean, (m, k) => -m / prep.std[k]);
    this.buffer = new Float32Array(batchSize * this.outH * this.outW * c);
    this.labelBuffer = new Int32Array(batchSize);
  }

  /** Values per output image. */
  get imageSize(): number {
    return this.outH * this.outW * this.channels;
  }

  /**
   * Writes the images `indices` (at most batchSize) into the reusable buffer and returns views of
   * it: `x` is [n, outH, outW, C] flattened, `labels` has n entries. The views are overwritten by
   * the next call: make the tensor and dispose it before asking for the next batch.
   */
  fill(indices: ArrayLike<number>, augment?: Augmentation | false, rng?: Rng): { x: Float32Array; labels: Int32Array; n: number } {
    const n = indices.length;
    if (n > this.batchSize) throw new TrainError(`Batch of ${n} images exceeds the batch size ${this.batchSize}.`, 'OPTIONS');
    const [h, w, c] = this.data.shape;
    const H = this.outH;
    const W = this.outW;
    const oy0 = (H - h) >> 1;
    const ox0 = (W - w) >> 1;
    const src = this.data.images;
    const out = this.buffer;
    const scale = this.scale;
    const shift = this.shift;
    const per = h * w * c;
    const rowOut = W * c;
    for (let b = 0; b < n; b++) {
      const idx = indices[b];
      this.labelBuffer[b] = this.data.labels[idx];
      if (augment && augment.resizedCrop && rng) {
        const box = sampleCropBox(h, w, augment.resizedCrop, rng);
        this.fillResizedCrop(b, idx * per, box, augment.flip && rng.uniform() < 0.5);
        continue;
      }
      let dy = 0;
      let dx = 0;
      let flip = false;
      if (augment && rng) {
        const p = augment.pad;
        dy = rng.int(2 * p + 1) - p;
        dx = rng.int(2 * p + 1) - p;
        flip = augment.flip && rng.uniform() < 0.5;
      }
      // Output (y, x) reads image pixel (y + dy - oy0, xs + dx - ox0), xs = flipped x.
      const base = idx * per;
      const ob = b * H * rowOut;
      for (let y = 0; y < H; y++) {
        const sy = y + dy - oy0;
        const o = ob + y * rowOut;
        if (sy < 0 || sy >= h) {
          for (let x = 0; x < W; x++) for (let k = 0; k < c; k++) out[o + x * c + k] = shift[k];
          continue;
        }
        const srow = base + sy * w * c;
        for (let x = 0; x < W; x++) {
          const sx = (flip ? W - 1 - x : x) + dx - ox0;
          const oo = o + x * c;
          if (sx < 0 || sx >= w) {
            for (let k = 0; k < c; k++) out[oo + k] = shift[k];
          } else {
            const si = srow + sx * c;
            for (let k = 0; k < c; k++) out[oo + k] = src[si + k] * scale[k] + shift[k];
          }
        }
      }
    }
    return { x: out.subarray(0, n * this.imageSize), labels: this.labelBuffer.subarray(0, n), n };
  }

  /**
   * Output image `b` from the image at `base`: the `box` resized to the image size (bilinear,
   * half-pixel centres as torchvision), optionally mirrored, placed where padding would put the
   * image, normalised; the border (padTo) is black.
   */
  private fillResizedCrop(b: number, base: number, box: CropBox, flip: boolean): void {
    const [h, w, c] = this.data.shape;
    const [H, W] = [this.outH, this.outW];
    const [oy0, ox0] = [(H - h) >> 1, (W - w) >> 1];
    const { scale, shift, buffer: out } = this;
    const src = this.data.images;
    const o0 = b * H * W * c;
    for (let k = 0; k < H * W * c; k++) out[o0 + k] = shift[k % c];
    const sy = box.height / h;
    const sx = box.width / w;
    // Source columns and weights of each output column (the same for every row).
    const col0 = new Int32Array(w);
    const col1 = new Int32Array(w);
    const wxs = new Float32Array(w);
    for (let x = 0; x < w; x++) {
      const xs = flip ? w - 1 - x : x;
      const fx = Math.min(Math.max(box.left + (xs + 0.5) * sx - 0.5, 0), w - 1);
      const x0 = Math.floor(fx);
      col0[x] = x0 * c;
      col1[x] = Math.min(x0 + 1, w - 1) * c;
      wxs[x] = fx - x0;
    }
    for (let y = 0; y < h; y++) {
      const fy = Math.min(Math.max(box.top + (y + 0.5) * sy - 0.5, 0), h - 1);
      const y0 = Math.floor(fy);
      const wy = fy - y0;
      const r0 = base + y0 * w * c;
      const r1 = base + Math.min(y0 + 1, h - 1) * w * c;
      const oRow = o0 + ((y + oy0) * W + ox0) * c;
      for (let x = 0; x < w; x++) {
        const c0 = col0[x];
        const c1 = col1[x];
        const wx = wxs[x];
        const o = oRow + x * c;
        for (let k = 0; k < c; k++) {
          const top = src[r0 + c0 + k] * (1 - wx) + src[r0 + c1 + k] * wx;
          const bottom = src[r1 + c0 + k] * (1 - wx) + src[r1 + c1 + k] * wx;
          out[o + k] = (top * (1 - wy) + bottom * wy) * scale[k] + shift[k];
        }
      }
    }
  }
}

/**
 * The one rule for images smaller than a CIFAR stem expects: `stored` (the padding the weights were
 * trained with) when given; else, for a `'cifar'` stem, images under 32x32 (28x28 Fashion-MNIST) are
 * zero-padded, centred, to 32x32 — never resized; else none (ImageNet stems take any size).
 */
export function cifarPadTo(stem: string, imageShape: readonly number[], stored?: [number, number]): [number, number] | undefined {
  if (stored) return stored;
  const [h, w] = imageShape;
  return stem === 'cifar' && (h < 32 || w < 32) ? [32, 32] : undefined;
}

/**
 * How `evaluate` normalises and pads data a classifier is scored on (`resnet eval`, the lab's studies
 * of trained nets), with `test` the images scored and `pair` the data they came from:
 * - an image folder read with the classifier's preprocessing (`loadData`'s `preprocessing`) is already
 *   resized, cropped and padded: the classifier's mean and std;
 * - IDX/CIFAR data: padded by {@link cifarPadTo}, normalised by the classifier's mean and std, or by
 *   the training set's statistics when the weights store none and none were given.
 */
export function classifierEvaluation(
  clf: Pick<Classifier<unknown>, 'preprocessing' | 'origin' | 'model'>,
  pair: DataPair,
  test: Dataset,
  normalisationGiven = false,
): Preprocessing {
  const p = clf.preprocessing;
  if (pair.kind === 'folder') return { mean: p.mean, std: p.std };
  const own = clf.origin.preprocessingBase === 'default' && !normalisationGiven;
  const padTo = cifarPadTo(clf.model.spec.stem, test.shape, p.padTo);
  return { ...(own ? channelStats(pair.train) : { mean: p.mean, std: p.std }), ...(padTo ? { padTo } : {}) };
}
